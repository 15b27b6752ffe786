import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  type DeleteMessageBatchCommandInput,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { buildApp } from 'fauxqs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { QueueDecl } from '#infra/manifest.ts';
import { type ConsumerGate, createLocalQueues, LocalQueueConsumers } from '#local/queues.ts';
import { queueManifest } from '../fixtures/queues/manifest.ts';
import { messageCounts, waitFor } from './support.ts';

/**
 * The local SQS event source mapping against the fauxqs emulator (bound to loopback): batches,
 * the SQSEvent shape, partial batch failures, whole-batch retries, redrive to the dead-letter
 * queue, concurrency and stop. Each test has its own queues (its own service name); visibility
 * timeouts are 1 s, so a redelivery takes about a second.
 */

const REGION = 'eu-west-3';
let app: ReturnType<typeof buildApp>;
let endpoint: string;
let sqs: SQSClient;
const started: LocalQueueConsumers[] = [];

function newClient(): SQSClient {
  return new SQSClient({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

beforeAll(async () => {
  app = buildApp({ logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  endpoint = `http://127.0.0.1:${port}`;
  sqs = newClient();
});

afterAll(async () => {
  // A test that failed before its own stop() leaves its consumers running: stop them all.
  await Promise.all(started.map((c) => c.stop()));
  sqs?.destroy();
  await app?.close();
});

async function countMessages(url: string): Promise<number> {
  const { visible, hidden } = await messageCounts(sqs, url);
  return visible + hidden;
}

async function sendBodies(url: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: `m${i + j}`, MessageBody: body })),
      }),
    );
  }
}

type Handler = (event: SQSEvent) => Promise<SQSBatchResponse | undefined> | SQSBatchResponse | undefined;

type ConsumerOptions = ConstructorParameters<typeof LocalQueueConsumers>[0];

/**
 * Queues for `service`, consumers calling `handler`, and a record of every invocation. `options`
 * may give the consumers their own SQS client and observation hooks.
 */
async function setup(
  service: string,
  overrides: Partial<QueueDecl>,
  handler: Handler,
  options: Partial<Pick<ConsumerOptions, 'sqs' | 'onSlotsFull' | 'gate'>> = {},
) {
  const manifest = queueManifest(service, overrides);
  const queues = await createLocalQueues(sqs, manifest);
  const invocations: SQSRecord[][] = [];
  const logs: string[] = [];
  const consumers = new LocalQueueConsumers({
    manifest,
    sqs,
    queues,
    region: REGION,
    log: (msg) => logs.push(msg),
    invoke: async (fnName, event) => {
      if (fnName !== 'consumer') throw new Error(`unexpected function ${fnName}`);
      const sqsEvent = event as SQSEvent;
      invocations.push(sqsEvent.Records);
      return handler(sqsEvent);
    },
    ...options,
  });
  started.push(consumers);
  const queue = queues.work!;
  const seen = (body: string) => invocations.flat().filter((r) => r.body === body);
  return { manifest, queues, queue, consumers, invocations, logs, seen };
}

describe('createLocalQueues', () => {
  it('creates each queue with its dead-letter queue, idempotently', async ({ expect }) => {
    const manifest = queueManifest('q-create', { visibilityTimeoutSeconds: 7, maxReceiveCount: 4 });
    const first = await createLocalQueues(sqs, manifest);
    const again = await createLocalQueues(sqs, manifest);
    expect(again).toEqual(first);
    const work = first.work!;
    expect(work.url).toMatch(/\/q-create-work$/);
    expect(work.dlqUrl).toMatch(/\/q-create-work-dlq$/);
    expect(work.arn).toBe(`arn:aws:sqs:${REGION}:000000000000:q-create-work`);
    const attrs = (
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: work.url,
          AttributeNames: ['VisibilityTimeout', 'RedrivePolicy'],
        }),
      )
    ).Attributes!;
    expect(attrs.VisibilityTimeout).toBe('7');
    expect(JSON.parse(attrs.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: `arn:aws:sqs:${REGION}:000000000000:q-create-work-dlq`,
      maxReceiveCount: 4,
    });
  });
});

describe.concurrent('LocalQueueConsumers', () => {
  it('refuses a queue that hides a message for less than its consumer may run, as Lambda does', async ({
    expect,
  }) => {
    const t = await setup('q-short-visibility', { visibilityTimeoutSeconds: 1 }, () => undefined);
    t.manifest.functions.consumer!.timeoutSeconds = 2;
    expect(() => t.consumers.start()).toThrow(
      "Queue work: visibilityTimeoutSeconds must be at least consumer's timeout (1 < 2)",
    );
  });

  it('honours the batch size and builds the SQSEvent Lambda sends', async ({ expect }) => {
    const t = await setup('q-shape', { batchSize: 3 }, () => undefined);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: t.queue.url,
        MessageBody: '{"chunk":0}',
        MessageAttributes: {
          jobId: { DataType: 'String', StringValue: 'job-42' },
          size: { DataType: 'Number', StringValue: '1024' },
          digest: { DataType: 'Binary', BinaryValue: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
        },
      }),
    );
    await sendBodies(
      t.queue.url,
      Array.from({ length: 6 }, (_, i) => `{"chunk":${i + 1}}`),
    );
    t.consumers.start();
    await waitFor(() => t.invocations.flat().length >= 7, '7 records');
    await t.consumers.stop();

    expect(Math.max(...t.invocations.map((records) => records.length))).toBeLessThanOrEqual(3);
    expect(new Set(t.invocations.flat().map((r) => r.body)).size).toBe(7);
    expect(await countMessages(t.queue.url)).toBe(0);

    const record = t.invocations.flat().find((r) => r.body === '{"chunk":0}')!;
    expect(Object.keys(record).sort()).toEqual(
      [
        'attributes',
        'awsRegion',
        'body',
        'eventSource',
        'eventSourceARN',
        'md5OfBody',
        'md5OfMessageAttributes',
        'messageAttributes',
        'messageId',
        'receiptHandle',
      ].sort(),
    );
    expect(record).toMatchObject({ eventSource: 'aws:sqs', eventSourceARN: t.queue.arn, awsRegion: REGION });
    expect(record.md5OfBody).toBe(createHash('md5').update(record.body).digest('hex'));
    expect(record.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(record.receiptHandle).not.toBe('');
    expect(record.attributes.ApproximateReceiveCount).toBe('1');
    for (const key of ['SentTimestamp', 'ApproximateFirstReceiveTimestamp'] as const) {
      expect(record.attributes[key]).toMatch(/^\d{13}$/);
    }
    expect(record.attributes.SenderId).not.toBe('');
    expect(record.messageAttributes).toEqual({
      jobId: { stringValue: 'job-42', stringListValues: [], binaryListValues: [], dataType: 'String' },
      size: { stringValue: '1024', stringListValues: [], binaryListValues: [], dataType: 'Number' },
      digest: { binaryValue: '3q2+7w==', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
    });
  });

  it('gathers batches larger than 10 from several receives, never more than batchSize', async ({
    expect,
  }) => {
    const t = await setup(
      'q-gather',
      { batchSize: 15, maxBatchingWindowSeconds: 1, visibilityTimeoutSeconds: 10 },
      () => undefined,
    );
    await sendBodies(
      t.queue.url,
      Array.from({ length: 25 }, (_, i) => `m${i}`),
    );
    t.consumers.start();
    await waitFor(() => t.invocations.flat().length >= 25, '25 records');
    await t.consumers.stop();

    const sizes = t.invocations.map((records) => records.length);
    expect(Math.max(...sizes)).toBe(15);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(25);
    expect(await countMessages(t.queue.url)).toBe(0);
  });

  it('redelivers only the messages a partial batch response names', async ({ expect }) => {
    const t = await setup('q-partial', {}, (event) => ({
      batchItemFailures: event.Records.filter(
        (r) => r.body === 'flaky' && r.attributes.ApproximateReceiveCount === '1',
      ).map((r) => ({ itemIdentifier: r.messageId })),
    }));
    await sendBodies(t.queue.url, ['a', 'flaky', 'b', 'c']);
    t.consumers.start();
    await waitFor(() => t.seen('flaky').length === 2, 'the flaky message twice');
    await waitFor(async () => (await countMessages(t.queue.url)) === 0, 'an empty queue');
    await t.consumers.stop();

    expect(t.seen('flaky').map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
    for (const body of ['a', 'b', 'c']) expect(t.seen(body)).toHaveLength(1);
    expect(await countMessages(t.queue.dlqUrl)).toBe(0);
  });

  it('retries the whole batch when the handler throws or answers an invalid response', async ({ expect }) => {
    // Keyed on the receive count, not on the call count, so that the outcome does not depend on
    // whether redelivered messages come back in one batch or several.
    const t = await setup('q-whole', { maxReceiveCount: 3 }, (event) => {
      const receive = event.Records[0]!.attributes.ApproximateReceiveCount;
      if (receive === '1') throw new Error('database unavailable');
      // An identifier that is not in the batch makes the whole response invalid, as on Lambda.
      if (receive === '2')
        return { batchItemFailures: [{ itemIdentifier: `not-${event.Records[0]!.messageId}` }] };
      return { batchItemFailures: [] };
    });
    await sendBodies(t.queue.url, ['x', 'y', 'z']);
    t.consumers.start();
    await waitFor(
      () => ['x', 'y', 'z'].every((b) => t.seen(b).length === 3),
      'three deliveries of each message',
    );
    await waitFor(async () => (await countMessages(t.queue.url)) === 0, 'an empty queue');
    await t.consumers.stop();

    expect(t.invocations[0]!.map((r) => r.body).sort()).toEqual(['x', 'y', 'z']);
    for (const body of ['x', 'y', 'z']) {
      expect(t.seen(body).map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['1', '2', '3']);
    }
    expect(t.logs.some((l) => l.includes('database unavailable'))).toBe(true);
    expect(t.logs.some((l) => l.includes('not in the batch'))).toBe(true);
  });

  it('moves a poison message to the dead-letter queue after maxReceiveCount; the others run once', async ({
    expect,
  }) => {
    const t = await setup('q-poison', { maxReceiveCount: 2 }, (event) => ({
      batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => ({
        itemIdentifier: r.messageId,
      })),
    }));
    await sendBodies(t.queue.url, ['ok-1', 'poison', 'ok-2']);
    t.consumers.start();
    await waitFor(async () => (await countMessages(t.queue.dlqUrl)) === 1, 'the poison message in the DLQ');
    await waitFor(async () => (await countMessages(t.queue.url)) === 0, 'an empty queue');
    await t.consumers.stop();

    expect(t.seen('poison')).toHaveLength(2);
    expect(t.seen('ok-1')).toHaveLength(1);
    expect(t.seen('ok-2')).toHaveLength(1);
    const dead = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: t.queue.dlqUrl, MaxNumberOfMessages: 10 }),
    );
    expect(dead.Messages?.map((m) => m.Body)).toEqual(['poison']);
  });

  it('keeps at most maxConcurrency batches in flight, and stop() waits for them and their deletes', async ({
    expect,
    onTestFinished,
  }) => {
    let active = 0;
    let maxActive = 0;
    /** Each gated batch's release, by its (single) message body. */
    const gates = new Map<string, () => void>();
    const bodies = new Map<string, string>(); // receipt handle → body
    /** In order: handlers returning, deletes answered by SQS, stop() resolving, releases. */
    const events: string[] = [];
    let slotsFull = 0;
    const client = newClient();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'DeleteMessageBatchCommand') {
          for (const entry of (args.input as DeleteMessageBatchCommandInput).Entries ?? [])
            events.push(`deleted ${bodies.get(entry.ReceiptHandle!)}`);
        }
        return out;
      },
      { step: 'initialize', name: 'recordDeletes' },
    );
    const t = await setup(
      'q-concurrency',
      { batchSize: 1, maxConcurrency: 2, visibilityTimeoutSeconds: 30 },
      async (event) => {
        const { body, receiptHandle } = event.Records[0]!;
        bodies.set(receiptHandle, body);
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise<void>((resolve) => gates.set(body, resolve));
        active--;
        events.push(`returned ${body}`);
        return undefined;
      },
      {
        sqs: client,
        onSlotsFull: () => {
          slotsFull++;
        },
      },
    );
    onTestFinished(async () => {
      // Passed or not: free the handlers so that the consumers stop, then drop their client.
      for (const open of gates.values()) open();
      await t.consumers.stop();
      client.destroy();
    });
    const release = (records: SQSRecord[] | undefined) => gates.get(records![0]!.body)!();
    await sendBodies(t.queue.url, ['1', '2', '3', '4']);
    t.consumers.start();
    // The poller has decided not to start a third batch while both slots are taken (not guessed
    // from elapsed time); the other messages wait visible in the queue, not received and hidden.
    await waitFor(() => slotsFull > 0, 'the poller to wait for a free slot');
    expect(t.invocations).toHaveLength(2);
    expect(active).toBe(2);
    expect(await messageCounts(sqs, t.queue.url)).toEqual({ visible: 2, hidden: 2 });

    release(t.invocations[0]);
    release(t.invocations[1]);
    await waitFor(() => active === 2 && t.invocations.length === 4, 'the last two batches');
    const [third, fourth] = t.invocations.slice(2).map((records) => records[0]!.body);
    // From here on: how stop() interleaves with the last two batches.
    events.length = 0;
    const stopping = t.consumers.stop().then(() => events.push('stopped'));
    release(t.invocations[2]);
    // waitFor resumes on a timer, after everything that the delete's answer set off: a stop() that
    // did not wait for the other batch in flight would have resolved by then.
    await waitFor(() => events.includes(`deleted ${third}`), `the delete of message ${third}`);
    events.push(`releasing ${fourth}`);
    release(t.invocations[3]);
    await stopping;

    expect(events).toEqual([
      `returned ${third}`,
      `deleted ${third}`,
      `releasing ${fourth}`,
      `returned ${fourth}`,
      `deleted ${fourth}`,
      'stopped',
    ]);
    expect(maxActive).toBe(2);
    expect(await countMessages(t.queue.url)).toBe(0);
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A switch standing for a queue's event source mapping, recording what the poller acknowledges. */
function testGate() {
  let enabled = true;
  let change = deferred();
  const acknowledged: boolean[] = [];
  const gate: ConsumerGate = {
    isEnabled: () => enabled,
    changed: () => change.promise,
    acknowledge: (_queue, state) => {
      acknowledged.push(state);
    },
  };
  const set = (state: boolean) => {
    enabled = state;
    const previous = change;
    change = deferred();
    previous.resolve();
  };
  return { gate, set, acknowledged, last: () => acknowledged.at(-1) };
}

describe.concurrent('LocalQueueConsumers with an event source mapping', () => {
  it('stops receiving once disabled (messages stay visible in the queue), resumes once enabled', async ({
    expect,
  }) => {
    const g = testGate();
    const t = await setup('q-gate', {}, () => undefined, { gate: g.gate });
    t.consumers.start();
    expect(g.acknowledged).toEqual([true]);

    g.set(false);
    // The poller has finished its receive in progress and acknowledged: it receives no more.
    await waitFor(() => g.last() === false, 'the poller to acknowledge the disabled mapping');
    await sendBodies(t.queue.url, ['1', '2', '3']);
    expect(await messageCounts(sqs, t.queue.url)).toEqual({ visible: 3, hidden: 0 });
    expect(t.invocations).toHaveLength(0);

    g.set(true);
    await waitFor(() => t.invocations.flat().length === 3, 'the three messages');
    await waitFor(async () => (await countMessages(t.queue.url)) === 0, 'an empty queue');
    await t.consumers.stop();
    expect(g.acknowledged).toEqual([true, false, true]);
  });

  it('lets the batches in flight finish when disabled, and stop() does not wait for the switch', async ({
    expect,
  }) => {
    const g = testGate();
    const release = deferred();
    const t = await setup(
      'q-gate-flight',
      { visibilityTimeoutSeconds: 30 },
      async () => {
        await release.promise;
        return undefined;
      },
      { gate: g.gate },
    );
    await sendBodies(t.queue.url, ['in-flight']);
    t.consumers.start();
    await waitFor(() => t.invocations.length === 1, 'the batch to start');

    g.set(false);
    await waitFor(() => g.last() === false, 'the poller to acknowledge while the batch runs');
    release.resolve();
    await waitFor(async () => (await countMessages(t.queue.url)) === 0, 'the batch to be deleted');
    // A paused poller stops at once: it is not waiting on a receive.
    await t.consumers.stop();
    expect(t.invocations).toHaveLength(1);
  });
});
