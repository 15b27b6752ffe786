import { GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { UpstreamError, ValidationError } from '../errors.ts';
import type { Queue, QueueMessage } from '../ports.ts';
import { awsCall } from './aws-errors.ts';
import { groupForBatch } from './batching.ts';

/** SendMessageBatch limits: 10 entries and 256 KiB of bodies per call. */
const MAX_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;
const NON_CHARACTERS = /[\uFFFE\uFFFF]/g;

/**
 * The Queue port on SQS. Bodies are sent as JSON. A call that fails part-way may have sent the
 * earlier groups: consumers are idempotent (deterministic point ids), so the caller may resend all.
 */
export class SqsQueue implements Queue {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;

  constructor(options: { client: SQSClient; queueUrl: string }) {
    this.#sqs = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async send(messages: QueueMessage[]): Promise<void> {
    const entries = messages.map((message, index) => {
      const json = JSON.stringify(message.body);
      if (json === undefined)
        throw ValidationError.field(`messages.${index}.body`, 'must be JSON-serializable');
      // SQS refuses U+FFFE and U+FFFF in a body; as JSON escapes they carry the same value.
      const body = json.replace(NON_CHARACTERS, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
      return {
        Id: String(index),
        MessageBody: body,
        ...(message.delaySeconds !== undefined ? { DelaySeconds: message.delaySeconds } : {}),
      };
    });
    for (const group of groupForBatch(entries, MAX_ENTRIES, MAX_BATCH_BYTES, (e) =>
      Buffer.byteLength(e.MessageBody),
    )) {
      const out = await awsCall('SQS SendMessageBatch', () =>
        this.#sqs.send(new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: group })),
      );
      const failed = out.Failed ?? [];
      if (failed.length > 0) {
        const detail = failed.map((f) => `message ${f.Id}: ${f.Code ?? 'unknown'}`).join(', ');
        throw new UpstreamError(`SQS rejected ${failed.length} of ${group.length} messages (${detail})`, {
          // A sender fault (bad body, bad delay) fails the same way again.
          retryable: failed.every((f) => !f.SenderFault),
        });
      }
    }
  }

  async ping(): Promise<void> {
    await awsCall('SQS GetQueueAttributes', () =>
      this.#sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: this.#queueUrl, AttributeNames: ['QueueArn'] }),
      ),
    );
  }
}
