import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
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
/** How long a peeked dead letter stays hidden if the sweep dies before making it visible again. */
const PEEK_VISIBILITY_SECONDS = 10;

/**
 * One sweep of a queue: receives batch after batch until a receive brings nothing new (or
 * MAX_SWEEP_RECEIVES). `handle` gets each batch's messages not seen before and answers those to
 * make visible again at once (it deleted the others); they are released even if the sweep fails.
 * SQS gives no way to address a message by content, so a message another consumer holds at the
 * time is not seen by the sweep.
 */
async function sweep(
  sqs: SQSClient,
  receive: Omit<ReceiveMessageCommandInput, 'MaxNumberOfMessages' | 'WaitTimeSeconds'>,
  handle: (fresh: Message[]) => Promise<Message[]>,
): Promise<void> {
  const seen = new Set<string>();
  const release: Array<{ Id: string; ReceiptHandle: string; VisibilityTimeout: number }> = [];
  try {
    for (let round = 0; round < MAX_SWEEP_RECEIVES; round++) {
      const out = await awsCall('SQS ReceiveMessage', () =>
        sqs.send(
          new ReceiveMessageCommand({
            ...receive,
            MaxNumberOfMessages: MAX_ENTRIES,
            // Long polling asks every SQS server, so a sweep does not miss a sampled-out message.
            WaitTimeSeconds: 1,
          }),
        ),
      );
      const fresh = (out.Messages ?? []).filter((m) => m.MessageId && !seen.has(m.MessageId));
      if (fresh.length === 0) break;
      for (const m of fresh) seen.add(m.MessageId!);
      for (const m of await handle(fresh)) {
        release.push({ Id: String(release.length), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 });
      }
    }
  } finally {
    // Back at once, not after the sweep's visibility timeout.
    for (let i = 0; i < release.length; i += MAX_ENTRIES) {
      const entries = release.slice(i, i + MAX_ENTRIES);
      await awsCall('SQS ChangeMessageVisibilityBatch', () =>
        sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: receive.QueueUrl, Entries: entries })),
      );
    }
  }
}

/**
 * A dead-letter queue on SQS, for redrives: one sweep receives what the queue holds, deletes the
 * matching messages and makes the others visible again at once.
 */
export class SqsDeadLetters implements DeadLetters {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;

  constructor(options: { client: SQSClient; queueUrl: string }) {
    this.#sqs = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async remove(matches: (body: unknown) => boolean): Promise<number> {
    let removed = 0;
    const receive = { QueueUrl: this.#queueUrl, VisibilityTimeout: SWEEP_VISIBILITY_SECONDS };
    await sweep(this.#sqs, receive, async (fresh) => {
      const doomed = fresh.filter((m) => matches(parseBody(m.Body)));
      if (doomed.length > 0) {
        const entries = doomed.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! }));
        const deleted = await awsCall('SQS DeleteMessageBatch', () =>
          this.#sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: entries })),
        );
        removed += deleted.Successful?.length ?? 0;
      }
      return fresh.filter((m) => !doomed.includes(m));
    });
    return removed;
  }
}

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
    const letters: PeekedLetter[] = [];
    const receive = {
      QueueUrl: this.#queueUrl,
      VisibilityTimeout: PEEK_VISIBILITY_SECONDS,
      MessageAttributeNames: [CORRELATION_ATTRIBUTE],
      MessageSystemAttributeNames: ['SentTimestamp' as const],
    };
    await sweep(this.#sqs, receive, async (fresh) => {
      for (const m of fresh) {
        const sent = Number(m.Attributes?.SentTimestamp);
        const correlation = m.MessageAttributes?.[CORRELATION_ATTRIBUTE]?.StringValue;
        letters.push({
          messageId: m.MessageId!,
          body: m.Body ?? '',
          ...(correlation ? { correlationId: correlation } : {}),
          ...(Number.isFinite(sent) ? { sentAt: new Date(sent).toISOString() } : {}),
        });
      }
      return fresh;
    });
    return letters;
  }
}

function parseBody(body: string | undefined): unknown {
  try {
    return body === undefined ? undefined : JSON.parse(body);
  } catch {
    return undefined;
  }
}
