import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { CORRELATION_ATTRIBUTE, correlationId } from '../correlation.ts';
import { UpstreamError, ValidationError } from '../errors.ts';
import type { DeadLetterReader, DeadLetters, PeekedLetter, Queue, QueueMessage } from '../ports.ts';
import { awsCall } from './aws-errors.ts';
import { groupForBatch } from './batching.ts';

/** SendMessageBatch limits: 10 entries and 256 KiB of messages (bodies and attributes) per call. */
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
    // The consumer's wrapper reads it back: the messages continue the sender's chain.
    const id = correlationId();
    const attributes =
      id === undefined
        ? {}
        : { MessageAttributes: { [CORRELATION_ATTRIBUTE]: { DataType: 'String', StringValue: id } } };
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
        ...attributes,
      };
    });
    // SQS counts attributes (name, type and value) in a message's size.
    const attributeBytes = id === undefined ? 0 : Buffer.byteLength(`${CORRELATION_ATTRIBUTE}String${id}`);
    for (const group of groupForBatch(
      entries,
      MAX_ENTRIES,
      MAX_BATCH_BYTES,
      (e) => Buffer.byteLength(e.MessageBody) + attributeBytes,
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

/** Receives of one sweep of a dead-letter queue at most (10 messages each). */
const MAX_SWEEP_RECEIVES = 100;
/** How long a received dead letter stays hidden while the sweep decides about it. */
const SWEEP_VISIBILITY_SECONDS = 30;

/**
 * A dead-letter queue on SQS, for redrives: one sweep receives what the queue holds, deletes the
 * matching messages and makes the others visible again at once. SQS gives no way to address a
 * message by content, so a sweep reads until it receives nothing new (or an upper bound of
 * receives): a message another consumer holds at the time is not seen by that sweep.
 */
export class SqsDeadLetters implements DeadLetters {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;

  constructor(options: { client: SQSClient; queueUrl: string }) {
    this.#sqs = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async remove(matches: (body: unknown) => boolean): Promise<number> {
    const seen = new Set<string>();
    const kept: Array<{ Id: string; ReceiptHandle: string; VisibilityTimeout: number }> = [];
    let removed = 0;
    try {
      for (let round = 0; round < MAX_SWEEP_RECEIVES; round++) {
        const out = await awsCall('SQS ReceiveMessage', () =>
          this.#sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: this.#queueUrl,
              MaxNumberOfMessages: MAX_ENTRIES,
              VisibilityTimeout: SWEEP_VISIBILITY_SECONDS,
              // Long polling asks every SQS server, so a sweep does not miss a sampled-out message.
              WaitTimeSeconds: 1,
            }),
          ),
        );
        const fresh = (out.Messages ?? []).filter((m) => m.MessageId && !seen.has(m.MessageId));
        if (fresh.length === 0) break;
        const doomed: Array<{ Id: string; ReceiptHandle: string }> = [];
        for (const message of fresh) {
          seen.add(message.MessageId!);
          const entry = { Id: String(seen.size), ReceiptHandle: message.ReceiptHandle! };
          if (matches(parseBody(message.Body))) doomed.push(entry);
          else kept.push({ ...entry, VisibilityTimeout: 0 });
        }
        if (doomed.length > 0) {
          const deleted = await awsCall('SQS DeleteMessageBatch', () =>
            this.#sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: doomed })),
          );
          removed += deleted.Successful?.length ?? 0;
        }
      }
    } finally {
      // The others go back at once, not after the sweep's visibility timeout.
      for (let i = 0; i < kept.length; i += MAX_ENTRIES) {
        const entries = kept.slice(i, i + MAX_ENTRIES);
        await awsCall('SQS ChangeMessageVisibilityBatch', () =>
          this.#sqs.send(
            new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.#queueUrl, Entries: entries }),
          ),
        );
      }
    }
    return removed;
  }
}

/** How long a peeked dead letter stays hidden if the sweep dies before making it visible again. */
const PEEK_VISIBILITY_SECONDS = 10;

/**
 * A dead-letter queue read without taking anything from it: one sweep receives what the queue
 * holds (hidden briefly, so a receive returns the next ones) and makes every message visible
 * again at once. It needs ReceiveMessage and ChangeMessageVisibility, never DeleteMessage.
 */
export class SqsDeadLetterReader implements DeadLetterReader {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;

  constructor(options: { client: SQSClient; queueUrl: string }) {
    this.#sqs = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async peek(): Promise<PeekedLetter[]> {
    const letters = new Map<string, PeekedLetter>();
    const held: Array<{ Id: string; ReceiptHandle: string; VisibilityTimeout: number }> = [];
    try {
      for (let round = 0; round < MAX_SWEEP_RECEIVES; round++) {
        const out = await awsCall('SQS ReceiveMessage', () =>
          this.#sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: this.#queueUrl,
              MaxNumberOfMessages: MAX_ENTRIES,
              VisibilityTimeout: PEEK_VISIBILITY_SECONDS,
              WaitTimeSeconds: 1,
              MessageAttributeNames: [CORRELATION_ATTRIBUTE],
              MessageSystemAttributeNames: ['SentTimestamp'],
            }),
          ),
        );
        const fresh = (out.Messages ?? []).filter((m) => m.MessageId && !letters.has(m.MessageId));
        if (fresh.length === 0) break;
        for (const m of fresh) {
          const sent = Number(m.Attributes?.SentTimestamp);
          const correlation = m.MessageAttributes?.[CORRELATION_ATTRIBUTE]?.StringValue;
          letters.set(m.MessageId!, {
            messageId: m.MessageId!,
            body: m.Body ?? '',
            ...(correlation ? { correlationId: correlation } : {}),
            ...(Number.isFinite(sent) ? { sentAt: new Date(sent).toISOString() } : {}),
          });
          held.push({ Id: String(held.length), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 });
        }
      }
    } finally {
      for (let i = 0; i < held.length; i += MAX_ENTRIES) {
        const entries = held.slice(i, i + MAX_ENTRIES);
        await awsCall('SQS ChangeMessageVisibilityBatch', () =>
          this.#sqs.send(
            new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.#queueUrl, Entries: entries }),
          ),
        );
      }
    }
    return [...letters.values()];
  }
}

function parseBody(body: string | undefined): unknown {
  try {
    return body === undefined ? undefined : JSON.parse(body);
  } catch {
    return undefined;
  }
}
