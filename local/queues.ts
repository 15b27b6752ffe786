import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { z } from 'zod';
import { type Manifest, type QueueDecl, queueConsumerProblem } from '../infra/manifest.ts';

/**
 * The manifest's queues on the local SQS emulator (fauxqs), and their consumers polled the way
 * a Lambda SQS event source mapping polls: long polls of up to 10 messages, batches gathered up
 * to `batchSize` within `maxBatchingWindowSeconds`, a real `SQSEvent`, `ReportBatchItemFailures`
 * semantics for the result, at most `maxConcurrency` batches in flight per queue. Redrive to the
 * dead-letter queue after `maxReceiveCount` receives is done by fauxqs itself on receive, exactly
 * as SQS does it (verified: the receive after the last allowed one moves the message).
 */

export type LocalQueues = Record<string, { url: string; dlqUrl: string; arn: string }>;
type Invoke = (fnName: string, event: unknown) => Promise<unknown>;

/**
 * Long-poll wait. Short on purpose: an aborted long poll still completes on the emulator, which
 * then hides the next message for a whole visibility timeout, so stop() lets polls finish
 * instead of aborting them; a 1 s wait bounds how long stop() takes and costs one request a
 * second per idle queue.
 */
const POLL_WAIT_SECONDS = 1;
const ERROR_BACKOFF_MS = 1000;
const SQS_MAX_MESSAGES = 10;
/** SQS queue names: 1-80 characters, alphanumerics, hyphens and underscores. */
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

function errorMessage(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`SQS returned no QueueArn for ${url}`);
  return arn;
}

/**
 * The queue's URL, created with `attributes`, or, when the emulator kept it from an earlier run
 * (its messages with it), given `attributes` again. CreateQueue is not used on a kept queue: the
 * emulator names a queue by the URL it was created under (with the port of the time), and would
 * replace it, messages and all.
 */
async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
    return QueueUrl!;
  } catch (err) {
    if (!(err instanceof QueueDoesNotExist)) throw err;
  }
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return created.QueueUrl!;
}

/**
 * Creates each manifest queue `<service>-<queue>` and its dead-letter queue `<service>-<queue>-dlq`
 * (visibility timeout and redrive policy from the manifest). Idempotent: on an emulator that
 * already has them, returns the same URLs.
 */
export async function createLocalQueues(sqs: SQSClient, manifest: Manifest): Promise<LocalQueues> {
  const queues: LocalQueues = {};
  for (const [name, decl] of Object.entries(manifest.queues)) {
    const queueName = `${manifest.service}-${name}`;
    const dlqName = `${queueName}-dlq`;
    if (!QUEUE_NAME.test(dlqName)) {
      throw new Error(
        `queue ${name}: "${dlqName}" is not a valid SQS queue name (A-Z a-z 0-9 - _, at most 80)`,
      );
    }
    const dlqUrl = await ensureQueue(sqs, dlqName, { MessageRetentionPeriod: String(14 * 24 * 3600) });
    const redrivePolicy = {
      deadLetterTargetArn: await queueArn(sqs, dlqUrl),
      maxReceiveCount: decl.maxReceiveCount,
    };
    const url = await ensureQueue(sqs, queueName, {
      VisibilityTimeout: String(decl.visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify(redrivePolicy),
    });
    queues[name] = { url, dlqUrl, arn: await queueArn(sqs, url) };
  }
  return queues;
}

/**
 * Lambda's reading of a `ReportBatchItemFailures` response: no response, no list or an empty
 * list is full success; anything malformed, or an identifier that is not a message of the batch,
 * fails the whole batch.
 */
const BatchResponseSchema = z
  .object({
    batchItemFailures: z.array(z.object({ itemIdentifier: z.string().min(1) })).nullish(),
  })
  .nullish();

type BatchOutcome = { kind: 'failed'; reason: string } | { kind: 'done'; failedIds: Set<string> };

function readBatchResponse(response: unknown, ids: Set<string>): BatchOutcome {
  const parsed = BatchResponseSchema.safeParse(response);
  if (!parsed.success) {
    return {
      kind: 'failed',
      reason: `invalid batch response (${parsed.error.issues[0]?.message ?? 'malformed'})`,
    };
  }
  const failedIds = new Set<string>();
  for (const { itemIdentifier } of parsed.data?.batchItemFailures ?? []) {
    if (!ids.has(itemIdentifier)) {
      return {
        kind: 'failed',
        reason: `batchItemFailures names ${itemIdentifier}, which is not in the batch`,
      };
    }
    failedIds.add(itemIdentifier);
  }
  return { kind: 'done', failedIds };
}

function toLambdaAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return {
    ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
    ...(value.BinaryValue !== undefined ? { binaryValue: base64(value.BinaryValue) } : {}),
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map(base64),
    dataType: value.DataType ?? 'String',
  };
}

function toRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const attrs = message.Attributes ?? {};
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? '1',
    SentTimestamp: attrs.SentTimestamp ?? '',
    SenderId: attrs.SenderId ?? '',
    ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? '',
  };
  for (const key of [
    'AWSTraceHeader',
    'SequenceNumber',
    'MessageGroupId',
    'MessageDeduplicationId',
  ] as const) {
    const value = attrs[key];
    if (value !== undefined) attributes[key] = value;
  }
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes,
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        toLambdaAttribute(value),
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
}

/**
 * A queue's event source mapping as its poller sees it (`event-source-mappings.ts`): whether it
 * may receive, and what it has done about it.
 */
export interface ConsumerGate {
  isEnabled(queueName: string): boolean;
  /** Resolves at the queue's next switch. */
  changed(queueName: string): Promise<void>;
  /**
   * The poller acts on the switch: after `false` it receives no more (batches in flight finish,
   * messages stay in the queue), after `true` it receives again. Also an observation point for
   * tests: from `false` on, messages sent stay visible in the queue.
   */
  acknowledge(queueName: string, enabled: boolean): void;
}

interface Consumer {
  queueName: string;
  decl: QueueDecl;
  fn: string;
  url: string;
  arn: string;
}

export class LocalQueueConsumers {
  readonly #manifest: Manifest;
  readonly #sqs: SQSClient;
  readonly #queues: LocalQueues;
  readonly #invoke: Invoke;
  readonly #region: string;
  readonly #log: (msg: string) => void;
  readonly #onSlotsFull: ((queueName: string) => void) | undefined;
  readonly #gate: ConsumerGate | undefined;
  #loops: Promise<void>[] | undefined;
  #stopping = false;
  /** Wakes loops sleeping after an error or paused, so that stop() does not wait for them. */
  #wake = new AbortController();
  #woken: Promise<void> = Promise.resolve();

  constructor(opts: {
    manifest: Manifest;
    sqs: SQSClient;
    queues: LocalQueues;
    invoke: Invoke;
    region: string;
    log?: (msg: string) => void;
    /**
     * Observation point for tests: called each time a queue's poller pauses, without receiving,
     * because `maxConcurrency` batches are in flight. It lets a test know the poller has reached
     * the decision not to start another batch instead of waiting an arbitrary time.
     */
    onSlotsFull?: (queueName: string) => void;
    /** The queues' event source mappings; none: every poller always receives. */
    gate?: ConsumerGate;
  }) {
    this.#manifest = opts.manifest;
    this.#sqs = opts.sqs;
    this.#queues = opts.queues;
    this.#invoke = opts.invoke;
    this.#region = opts.region;
    this.#log = opts.log ?? ((msg) => process.stderr.write(`${msg}\n`));
    this.#onSlotsFull = opts.onSlotsFull;
    this.#gate = opts.gate;
  }

  /** Starts one poller per queue that has a consumer. */
  start(): void {
    if (this.#loops) throw new Error('queue consumers are already started');
    const consumers: Consumer[] = [];
    for (const [queueName, decl] of Object.entries(this.#manifest.queues)) {
      if (!decl.consumer) continue;
      if (!Object.hasOwn(this.#manifest.functions, decl.consumer)) {
        throw new Error(`queue ${queueName}: consumer "${decl.consumer}" is not declared in the manifest`);
      }
      const queue = this.#queues[queueName];
      if (!queue) throw new Error(`queue ${queueName} has not been created (see createLocalQueues)`);
      // As CDK does (Lambda refuses such an event source): refused here too.
      const problem = queueConsumerProblem(this.#manifest, queueName);
      if (problem) throw new Error(problem);
      if (!Number.isInteger(decl.batchSize) || decl.batchSize < 1) {
        throw new Error(`queue ${queueName}: batchSize must be a positive integer`);
      }
      if (decl.maxBatchingWindowSeconds >= decl.visibilityTimeoutSeconds) {
        // The first messages of a batch would turn visible again (and be received twice) while it fills.
        this.#log(
          `queue ${queueName}: maxBatchingWindowSeconds (${decl.maxBatchingWindowSeconds}) should be shorter than ` +
            `visibilityTimeoutSeconds (${decl.visibilityTimeoutSeconds})`,
        );
      }
      consumers.push({ queueName, decl, fn: decl.consumer, url: queue.url, arn: queue.arn });
    }
    this.#stopping = false;
    this.#wake = new AbortController();
    const signal = this.#wake.signal;
    this.#woken = new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.#loops = consumers.map((c) => this.#poll(c));
  }

  /** Stops polling and waits for the batches in flight to finish (and their deletes). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake.abort();
    await Promise.all(this.#loops ?? []);
    this.#loops = undefined;
  }

  async #poll(consumer: Consumer): Promise<void> {
    const { queueName } = consumer;
    const limit = Math.max(1, consumer.decl.maxConcurrency);
    const inFlight = new Set<Promise<void>>();
    const gate = this.#gate;
    let acknowledged: boolean | undefined;
    while (!this.#stopping) {
      const enabled = gate?.isEnabled(queueName) ?? true;
      if (enabled !== acknowledged) {
        acknowledged = enabled;
        gate?.acknowledge(queueName, enabled);
      }
      // Disabled: no receive until it is enabled again (or the consumers stop).
      if (!enabled) {
        await Promise.race([gate!.changed(queueName), this.#woken]);
        continue;
      }
      // Receive only when a batch can start: messages never wait, invisible, for a free slot.
      if (inFlight.size >= limit) {
        this.#onSlotsFull?.(queueName);
        await Promise.race([...inFlight, ...(gate ? [gate.changed(queueName)] : []), this.#woken]);
        continue;
      }
      let messages: Message[];
      try {
        messages = await this.#gather(consumer);
      } catch (err) {
        this.#log(`queue ${queueName}: receive failed: ${errorMessage(err)}`);
        await this.#sleep(ERROR_BACKOFF_MS);
        continue;
      }
      if (messages.length === 0) continue;
      // Stopped or disabled during the receive: the batch has not started, its messages go back.
      if (this.#stopping || !(gate?.isEnabled(queueName) ?? true)) {
        await this.#release(consumer, messages);
        continue;
      }
      const batch = this.#process(consumer, messages)
        .catch((err: unknown) => this.#log(`queue ${queueName}: batch failed: ${errorMessage(err)}`))
        .finally(() => inFlight.delete(batch));
      inFlight.add(batch);
    }
    await Promise.all(inFlight);
  }

  async #receive(consumer: Consumer, max: number, waitSeconds: number): Promise<Message[]> {
    const out = await this.#sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: consumer.url,
        MaxNumberOfMessages: Math.min(max, SQS_MAX_MESSAGES),
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: consumer.decl.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    return out.Messages ?? [];
  }

  /**
   * One batch: the first long poll, then, like Lambda's batching window, more receives until the
   * batch is full or the window (counted from the first message) has passed.
   */
  async #gather(consumer: Consumer): Promise<Message[]> {
    const { batchSize, maxBatchingWindowSeconds } = consumer.decl;
    const messages = await this.#receive(consumer, batchSize, POLL_WAIT_SECONDS);
    if (messages.length === 0) return messages;
    const deadline = Date.now() + maxBatchingWindowSeconds * 1000;
    try {
      while (messages.length < batchSize && !this.#stopping) {
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) break;
        const wait = Math.min(POLL_WAIT_SECONDS, Math.floor(remainingMs / 1000));
        // Under a second left: wait it out, then take what has arrived with one short poll.
        if (wait === 0) await this.#sleep(remainingMs);
        messages.push(...(await this.#receive(consumer, batchSize - messages.length, wait)));
        if (wait === 0) break;
      }
    } catch (err) {
      // The messages already received are still ours: hand them back rather than hide them.
      await this.#release(consumer, messages);
      throw err;
    }
    return messages;
  }

  async #process(consumer: Consumer, messages: Message[]): Promise<void> {
    const event: SQSEvent = { Records: messages.map((m) => toRecord(m, consumer.arn, this.#region)) };
    let response: unknown;
    try {
      response = await this.#invoke(consumer.fn, event);
    } catch (err) {
      // Whole batch retried after the visibility timeout (and redriven past maxReceiveCount).
      this.#log(
        `queue ${consumer.queueName}: ${consumer.fn} failed on ${messages.length} messages: ${errorMessage(err)}`,
      );
      return;
    }
    const outcome = readBatchResponse(response, new Set(messages.map((m) => m.MessageId!)));
    if (outcome.kind === 'failed') {
      this.#log(
        `queue ${consumer.queueName}: ${consumer.fn}: ${outcome.reason}; the whole batch will be retried`,
      );
      return;
    }
    const done = messages.filter((m) => !outcome.failedIds.has(m.MessageId!));
    if (outcome.failedIds.size > 0) {
      this.#log(
        `queue ${consumer.queueName}: ${consumer.fn} reported ${outcome.failedIds.size} failed messages`,
      );
    }
    await this.#deleteAll(consumer, done);
  }

  async #deleteAll(consumer: Consumer, messages: Message[]): Promise<void> {
    const chunks: Message[][] = [];
    for (let i = 0; i < messages.length; i += SQS_MAX_MESSAGES)
      chunks.push(messages.slice(i, i + SQS_MAX_MESSAGES));
    await Promise.all(
      chunks.map(async (chunk) => {
        try {
          const out = await this.#sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: consumer.url,
              Entries: chunk.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          );
          for (const failure of out.Failed ?? []) {
            this.#log(
              `queue ${consumer.queueName}: delete failed (${failure.Code}): ${failure.Message ?? ''}`,
            );
          }
        } catch (err) {
          // The messages reappear after the visibility timeout: at least once, never lost.
          this.#log(`queue ${consumer.queueName}: delete failed: ${errorMessage(err)}`);
        }
      }),
    );
  }

  /** Makes received but unprocessed messages visible again at once. */
  async #release(consumer: Consumer, messages: Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += SQS_MAX_MESSAGES) {
      const chunk = messages.slice(i, i + SQS_MAX_MESSAGES);
      try {
        await this.#sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: consumer.url,
            Entries: chunk.map((m, j) => ({
              Id: String(j),
              ReceiptHandle: m.ReceiptHandle!,
              VisibilityTimeout: 0,
            })),
          }),
        );
      } catch (err) {
        this.#log(`queue ${consumer.queueName}: could not release messages: ${errorMessage(err)}`);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#wake.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
