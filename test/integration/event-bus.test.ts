import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeEventBusCommand,
  EventBridgeClient,
  ListRulesCommand,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import { afterEach, describe, expect, it } from 'vitest';
import type { Manifest } from '#infra/manifest.ts';
import { type BusEvent, LocalEventBus, startEventBridgeEndpoint } from '#local/event-bus.ts';
import { BUS_TEST_SOURCE, busManifest } from '../fixtures/bus/manifest.ts';

/**
 * The local EventBridge bus: routing by pattern, the envelope, per-entry validation, the durable
 * archive and replay, retries then the failed-delivery record, and the AWS JSON 1.1 endpoint
 * used through the unchanged @aws-sdk/client-eventbridge. `stop()` waits for every delivery
 * (retries included), so assertions after it do not depend on timing.
 */

const BUS = 'vector-platform-test';
const SRC = BUS_TEST_SOURCE;
const EVENT_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

type Delivery = { fn: string; event: BusEvent };

async function makeBus(
  opts: { dir?: string; manifest?: Manifest; handler?: (fn: string, event: BusEvent) => unknown } = {},
) {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'vp-bus-')));
  if (!opts.dir) dirs.push(dir);
  const deliveries: Delivery[] = [];
  const logs: string[] = [];
  const bus = new LocalEventBus({
    manifest: opts.manifest ?? busManifest,
    busName: BUS,
    archiveDir: dir,
    region: 'eu-west-3',
    log: (msg) => logs.push(msg),
    invoke: async (fn, event) => {
      deliveries.push({ fn, event: event as BusEvent });
      return opts.handler?.(fn, event as BusEvent);
    },
  });
  await bus.start();
  const to = (fn: string) => deliveries.filter((d) => d.fn === fn).map((d) => d.event);
  return { bus, dir, deliveries, logs, to };
}

async function readJsonLines(file: string): Promise<unknown[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

const completed = (detail: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  Source: SRC,
  DetailType: 'MigrationCompleted',
  Detail: JSON.stringify(detail),
  EventBusName: BUS,
  ...extra,
});

describe('LocalEventBus', () => {
  it('delivers each event to the rules it matches, in the EventBridge envelope, and archives it', async () => {
    const { bus, dir, deliveries, to } = await makeBus();
    const result = await bus.putEvents([
      completed({ collection: 'tasks', points: 10 }),
      completed(
        { collection: 'tasks', points: 5000 },
        { Resources: ['arn:aws:s3:::exports/task_vectors.json'], Time: new Date('2025-03-14T09:26:53.789Z') },
      ),
      completed({ collection: 'sandbox-1', points: 5000 }),
      { Source: SRC, DetailType: 'CollectionCreated', Detail: '{"name":"tasks"}', EventBusName: BUS },
    ]);
    expect(result.FailedEntryCount).toBe(0);
    const ids = result.Entries.map((e) => e.EventId!);
    for (const id of ids) expect(id).toMatch(UUID);

    // Durable before putEvents returns: every accepted event, matched or not, is in the archive.
    const archived = (await readJsonLines(join(dir, 'archive.jsonl'))) as BusEvent[];
    expect(archived.map((e) => e.id)).toEqual(ids);

    await bus.stop();
    expect(
      to('notify')
        .map((e) => e.id)
        .sort(),
    ).toEqual([ids[0], ids[1], ids[2]].sort());
    expect(to('audit').map((e) => e.id)).toEqual([ids[1]]);
    expect(to('flaky')).toEqual([]);
    expect(deliveries).toHaveLength(4);

    const large = to('audit')[0]!;
    expect(large).toEqual({
      version: '0',
      id: ids[1],
      'detail-type': 'MigrationCompleted',
      source: SRC,
      account: '000000000000',
      time: '2025-03-14T09:26:53Z',
      region: 'eu-west-3',
      resources: ['arn:aws:s3:::exports/task_vectors.json'],
      detail: { collection: 'tasks', points: 5000 },
    });
    expect(archived[1]).toEqual(large);
    expect(archived[0]!.time).toMatch(EVENT_TIME);
    expect(archived[3]!.resources).toEqual([]);
  });

  it('validates each entry like EventBridge and reports failures per entry', async () => {
    const { bus, dir, logs, deliveries } = await makeBus();
    const result = await bus.putEvents([
      completed({ collection: 'tasks', points: 1 }),
      { DetailType: 'MigrationCompleted', Detail: '{}', EventBusName: BUS },
      { Source: SRC, Detail: '{}', EventBusName: BUS },
      { Source: SRC, DetailType: 'MigrationCompleted', EventBusName: BUS },
      { Source: SRC, DetailType: 'MigrationCompleted', Detail: '{not json', EventBusName: BUS },
      { Source: SRC, DetailType: 'MigrationCompleted', Detail: '[1,2]', EventBusName: BUS },
      completed({}, { EventBusName: 'someone-elses-bus' }),
      completed({ blob: 'x'.repeat(256 * 1024) }),
      completed({}, { Time: 'yesterday' }),
      completed({ collection: 'tasks', points: 2 }, { EventBusName: undefined }),
    ]);
    expect(result.Entries.map((e) => e.ErrorCode ?? 'ok')).toEqual([
      'ok',
      'InvalidArgument',
      'InvalidArgument',
      'InvalidArgument',
      'MalformedDetail',
      'MalformedDetail',
      'InvalidArgument',
      'InvalidArgument',
      'InvalidArgument',
      'ok',
    ]);
    expect(result.FailedEntryCount).toBe(8);
    expect(result.Entries[1]!.ErrorMessage).toMatch(/Source/);
    expect(result.Entries[6]!.ErrorMessage).toMatch(/someone-elses-bus does not exist/);
    expect(result.Entries[7]!.ErrorMessage).toMatch(/262144-byte limit/);

    const tooMany = await bus.putEvents(Array.from({ length: 11 }, (_, i) => completed({ i })));
    expect(tooMany.FailedEntryCount).toBe(11);
    expect(tooMany.Entries.every((e) => e.ErrorCode === 'InvalidArgument' && !e.EventId)).toBe(true);

    await bus.stop();
    // The entry without EventBusName went to the default bus: accepted, but no rule of ours sees it.
    const archived = (await readJsonLines(join(dir, 'archive.jsonl'))) as BusEvent[];
    expect(archived.map((e) => e.id)).toEqual([result.Entries[0]!.EventId]);
    expect(deliveries.map((d) => d.event.id)).toEqual([result.Entries[0]!.EventId]);
    expect(logs.some((l) => l.includes(result.Entries[9]!.EventId!) && l.includes('default bus'))).toBe(true);
  });

  it('replays archived events of a time window, optionally to one rule, across a restart', async () => {
    const first = await makeBus();
    const put = await first.bus.putEvents([
      completed({ collection: 'tasks', points: 5000 }, { Time: '2025-01-10T08:00:00Z' }),
      completed({ collection: 'tasks', points: 7000 }, { Time: '2025-02-10T08:00:00Z' }),
      {
        Source: SRC,
        DetailType: 'MigrationFailed',
        Detail: '{"reason":"x"}',
        EventBusName: BUS,
        Time: '2025-03-10T08:00:00Z',
      },
      {
        Source: SRC,
        DetailType: 'CollectionCreated',
        Detail: '{}',
        EventBusName: BUS,
        Time: '2025-02-11T08:00:00Z',
      },
    ]);
    const [jan, feb, mar] = put.Entries.map((e) => e.EventId!);
    await first.bus.stop();
    // A torn line, as a crash in the middle of an append could leave.
    await appendFile(join(first.dir, 'archive.jsonl'), '{"version":"0","id":');

    const second = await makeBus({ dir: first.dir });
    expect(
      await second.bus.replay({
        from: new Date('2025-02-10T08:00:00.750Z'),
        to: new Date('2025-03-31T00:00:00Z'),
      }),
    ).toBe(2);
    await second.bus.stop();
    expect(
      second
        .to('notify')
        .map((e) => e.id)
        .sort(),
    ).toEqual([feb, mar].sort());
    expect(second.to('audit').map((e) => e.id)).toEqual([feb]);
    expect(second.deliveries.every((d) => typeof d.event['replay-name'] === 'string')).toBe(true);
    expect(second.deliveries[0]!.event.detail).toEqual(
      second.deliveries[0]!.event.id === feb ? { collection: 'tasks', points: 7000 } : { reason: 'x' },
    );
    expect(second.logs.some((l) => l.includes('line 5'))).toBe(true);

    // After a restart the torn line stays on its own: new events are appended after it intact.
    const third = await makeBus({ dir: first.dir });
    const apr = (
      await third.bus.putEvents([
        completed({ collection: 'tasks', points: 9000 }, { Time: '2025-04-01T00:00:00Z' }),
      ])
    ).Entries[0]!.EventId!;
    expect(await third.bus.replay({ rule: 'largeMigrations' })).toBe(3);
    await expect(third.bus.replay({ rule: 'noSuchRule' })).rejects.toThrow(/noSuchRule/);
    await third.bus.stop();
    const replayed = third.deliveries.filter((d) => d.event['replay-name'] !== undefined);
    expect(replayed.map((d) => d.fn)).toEqual(['audit', 'audit', 'audit']);
    expect(replayed.map((d) => d.event.id).sort()).toEqual([jan, feb, apr].sort());

    // Replayed events are not archived again.
    const lines = (await readFile(join(first.dir, 'archive.jsonl'), 'utf8')).split('\n').filter(Boolean);
    expect(lines).toHaveLength(6);
    expect(JSON.parse(lines[5]!).id).toBe(apr);
  });

  it('retries a failing target with backoff, then records the event as failed', async () => {
    const attempts = new Map<string, number>();
    const { bus, dir, logs } = await makeBus({
      handler: (fn, event) => {
        const n = (attempts.get(event.id) ?? 0) + 1;
        attempts.set(event.id, n);
        if (fn === 'flaky' && (event.detail.mode === 'always' || n === 1))
          throw new Error(`index busy (${n})`);
      },
    });
    const put = await bus.putEvents([
      { Source: SRC, DetailType: 'ReindexRequested', Detail: '{"mode":"always"}', EventBusName: BUS },
      { Source: SRC, DetailType: 'ReindexRequested', Detail: '{"mode":"once"}', EventBusName: BUS },
    ]);
    const [always, once] = put.Entries.map((e) => e.EventId!);
    await bus.stop();

    expect(attempts.get(always!)).toBe(5);
    expect(attempts.get(once!)).toBe(2);
    const failed = (await readJsonLines(join(dir, 'failed.jsonl'))) as Array<Record<string, unknown>>;
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      rule: 'reindexRequests',
      function: 'flaky',
      attempts: 5,
      error: 'Error: index busy (5)',
      event: { id: always, 'detail-type': 'ReindexRequested', detail: { mode: 'always' } },
    });
    expect(failed[0]!.failedAt).toEqual(expect.any(String));
    expect(logs.some((l) => l.includes(always!) && l.includes('failed 5 times'))).toBe(true);
  });

  it('refuses to start with an invalid rule', async () => {
    const broken: Manifest = {
      ...busManifest,
      rules: {
        broken: {
          description: 'x',
          pattern: { detail: { points: [{ numeric: ['>', 'x'] }] } },
          function: 'audit',
        },
      },
    };
    const dir = await mkdtemp(join(tmpdir(), 'vp-bus-'));
    dirs.push(dir);
    const make = (manifest: Manifest) =>
      new LocalEventBus({
        manifest,
        busName: BUS,
        archiveDir: dir,
        invoke: async () => undefined,
        log: () => {},
      });
    await expect(make(broken).start()).rejects.toThrow(
      /rule broken: Invalid event pattern at detail\.points\[0\]\.numeric/,
    );
    const orphan: Manifest = {
      ...busManifest,
      rules: { orphan: { description: 'x', pattern: { source: [SRC] }, function: 'nobody' } },
    };
    await expect(make(orphan).start()).rejects.toThrow(/rule orphan: target function "nobody"/);
  });
});

describe('LocalEventBus rules that target a queue', () => {
  const parkedManifest: Manifest = {
    ...busManifest,
    queues: {
      parked: {
        description: 'Events waiting for their consumer',
        batchSize: 10,
        maxBatchingWindowSeconds: 0,
        visibilityTimeoutSeconds: 30,
        maxReceiveCount: 3,
        maxConcurrency: 2,
      },
    },
    rules: {
      ...busManifest.rules,
      park: {
        description: 'Finished migrations, parked in a queue',
        pattern: { source: [SRC], 'detail-type': ['MigrationCompleted'] },
        queue: 'parked',
      },
    },
  };

  async function parkingBus(send: (queue: string, body: string) => Promise<void>) {
    const dir = await mkdtemp(join(tmpdir(), 'vp-bus-'));
    dirs.push(dir);
    const invoked: Delivery[] = [];
    const logs: string[] = [];
    const bus = new LocalEventBus({
      manifest: parkedManifest,
      busName: BUS,
      archiveDir: dir,
      region: 'eu-west-3',
      log: (msg) => logs.push(msg),
      invoke: async (fn, event) => {
        invoked.push({ fn, event: event as BusEvent });
      },
      sendToQueue: send,
    });
    await bus.start();
    return { bus, dir, invoked, logs };
  }

  it('sends the whole event, as a function target receives it, as the message body', async () => {
    const sent: Array<{ queue: string; body: string }> = [];
    const { bus, invoked } = await parkingBus(async (queue, body) => {
      sent.push({ queue, body });
    });
    const put = await bus.putEvents([completed({ collection: 'tasks', points: 3 })]);
    await bus.stop();

    expect(sent.map((m) => m.queue)).toEqual(['parked']);
    const notified = invoked.find((d) => d.fn === 'notify')!.event;
    expect(JSON.parse(sent[0]!.body)).toEqual(notified);
    expect(notified.id).toBe(put.Entries[0]!.EventId);
    // The queue target is not a function: nothing else is invoked for it.
    expect(invoked.map((d) => d.fn)).toEqual(['notify']);
  });

  it('retries a failing send, then records the event as failed for its queue', async () => {
    let attempts = 0;
    const { bus, dir, logs } = await parkingBus(async () => {
      attempts++;
      throw new Error('queue unavailable');
    });
    const put = await bus.putEvents([completed({ collection: 'tasks', points: 3 })]);
    await bus.stop();

    expect(attempts).toBe(5);
    const failed = (await readJsonLines(join(dir, 'failed.jsonl'))) as Array<Record<string, unknown>>;
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      rule: 'park',
      queue: 'parked',
      attempts: 5,
      error: 'Error: queue unavailable',
      event: { id: put.Entries[0]!.EventId },
    });
    expect(failed[0]).not.toHaveProperty('function');
    expect(logs.some((l) => l.includes('rule park → queue parked failed 5 times'))).toBe(true);
  });

  it('refuses to start when the queue is not declared or nothing can send to it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vp-bus-'));
    dirs.push(dir);
    const make = (manifest: Manifest, sendToQueue?: (q: string, b: string) => Promise<void>) =>
      new LocalEventBus({
        manifest,
        busName: BUS,
        archiveDir: dir,
        invoke: async () => undefined,
        ...(sendToQueue ? { sendToQueue } : {}),
        log: () => {},
      });
    const orphan: Manifest = {
      ...parkedManifest,
      rules: { orphan: { description: 'x', pattern: { source: [SRC] }, queue: 'nowhere' } },
    };
    await expect(make(orphan, async () => {}).start()).rejects.toThrow(/rule orphan: target queue "nowhere"/);
    await expect(make(parkedManifest).start()).rejects.toThrow(/rule park: targets queue "parked"/);
  });
});

describe('EventBridge endpoint', () => {
  it('serves PutEvents, DescribeEventBus and ListRules to @aws-sdk/client-eventbridge', async () => {
    const { bus, to } = await makeBus();
    const endpoint = await startEventBridgeEndpoint(bus, { port: 0 });
    const client = new EventBridgeClient({
      endpoint: endpoint.url,
      region: 'eu-west-3',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    try {
      const put = await client.send(
        new PutEventsCommand({
          Entries: [
            { ...completed({ collection: 'tasks', points: 1500 }), Time: new Date('2025-03-14T09:26:53Z') },
            { Source: SRC, DetailType: 'MigrationCompleted', Detail: 'nope', EventBusName: BUS },
          ],
        }),
      );
      expect(put.FailedEntryCount).toBe(1);
      expect(put.Entries?.[0]?.EventId).toMatch(UUID);
      expect(put.Entries?.[1]).toMatchObject({ ErrorCode: 'MalformedDetail' });

      const described = await client.send(new DescribeEventBusCommand({ Name: BUS }));
      expect(described).toMatchObject({ Name: BUS, Arn: bus.arn });
      expect(bus.arn).toBe(`arn:aws:events:eu-west-3:000000000000:event-bus/${BUS}`);
      expect((await client.send(new DescribeEventBusCommand({ Name: bus.arn }))).Name).toBe(BUS);
      await expect(client.send(new DescribeEventBusCommand({ Name: 'nope' }))).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });

      const page1 = await client.send(new ListRulesCommand({ EventBusName: BUS, Limit: 2 }));
      expect(page1.Rules?.map((r) => r.Name)).toEqual(['largeMigrations', 'migrationFinished']);
      expect(JSON.parse(page1.Rules![0]!.EventPattern!)).toEqual(busManifest.rules.largeMigrations!.pattern);
      const page2 = await client.send(
        new ListRulesCommand({ EventBusName: BUS, NextToken: page1.NextToken }),
      );
      expect(page2.Rules?.map((r) => r.Name)).toEqual(['reindexRequests']);
      expect(page2.NextToken).toBeUndefined();

      await expect(
        client.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => completed({})) })),
      ).rejects.toMatchObject({ name: 'ValidationException' });

      const unknown = await fetch(endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.CreateEventBus' },
        body: '{}',
      });
      expect(unknown.status).toBe(400);
      expect(await unknown.json()).toMatchObject({ __type: 'UnknownOperationException' });
    } finally {
      client.destroy();
      await endpoint.close();
      await bus.stop();
    }
    expect(to('notify').map((e) => e.time)).toEqual(['2025-03-14T09:26:53Z']);
    expect(to('audit')).toHaveLength(1);
  });
});
