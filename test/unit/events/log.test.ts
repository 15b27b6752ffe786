import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { DeliveredEventSchema, EVENT_LOG_DAYS, EventLog, EventQuerySchema } from '#shared/events/log.ts';

let dir: string;
let now = new Date('2026-12-06T12:00:00Z');
let log: EventLog;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vp-event-log-'));
  const store = new FileStateStore({ dir });
  log = new EventLog(
    () => store,
    () => now,
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const event = (id: string, time: string, type = 'MigrationStarted', source = 'vector-platform') => ({
  id,
  time,
  source,
  'detail-type': type,
  detail: { schemaVersion: 1, n: id },
  account: '000000000000',
  region: 'us-east-1',
  resources: [],
  version: '0',
});

describe('the event log', () => {
  it('keeps delivered events across days and answers them newest first, by type, source and since', async () => {
    await log.record(event('a', '2026-12-04T23:59:59Z'));
    await log.record(event('b', '2026-12-05T08:00:00Z', 'MigrationCompleted'));
    await log.record(event('c', '2026-12-06T09:30:00Z', 'MigrationStarted', 'other'));
    await log.record(event('d', '2026-12-06T11:00:00Z'));
    // A second delivery of the same event (EventBridge delivers at least once) is not a second entry.
    await log.record(event('d', '2026-12-06T11:00:00Z'));

    const all = await log.list(EventQuerySchema.parse({}));
    expect(all.events.map((e) => e.id)).toEqual(['d', 'c', 'b', 'a']);
    expect(all.events[0]).toEqual({
      id: 'd',
      time: '2026-12-06T11:00:00.000Z',
      source: 'vector-platform',
      type: 'MigrationStarted',
      detail: { schemaVersion: 1, n: 'd' },
    });
    const ids = async (q: Record<string, string>) =>
      (await log.list(EventQuerySchema.parse(q))).events.map((e) => e.id);
    expect(await ids({ type: 'MigrationStarted' })).toEqual(['d', 'c', 'a']);
    expect(await ids({ source: 'other' })).toEqual(['c']);
    expect(await ids({ since: '2026-12-05T08:00:00Z' })).toEqual(['d', 'c', 'b']);
    expect(await ids({ limit: '2' })).toEqual(['d', 'c']);
    expect(await ids({ type: 'MigrationStarted', limit: '1', since: '2026-12-01T00:00:00+02:00' })).toEqual([
      'd',
    ]);
  });

  it(`forgets events older than ${EVENT_LOG_DAYS} days`, async () => {
    now = new Date(Date.parse('2026-12-05T08:00:00Z') + EVENT_LOG_DAYS * 86_400_000 - 1000);
    const ids = (await log.list(EventQuerySchema.parse({}))).events.map((e) => e.id);
    // `a` is past its 14 days by now: out of the query window (the store's TTL removes it later).
    expect(ids).toEqual(['d', 'c', 'b']);
    now = new Date('2026-12-06T12:00:00Z');
  });

  it('refuses bad queries naming the parameter', () => {
    for (const [query, field] of [
      [{ limit: '0' }, 'limit'],
      [{ limit: '1001' }, 'limit'],
      [{ since: 'yesterday' }, 'since'],
      [{ type: '' }, 'type'],
      [{ other: 'x' }, ''],
    ] as const) {
      const result = EventQuerySchema.safeParse(query);
      expect(result.success, JSON.stringify(query)).toBe(false);
      expect(result.error!.issues[0]!.path.join('.')).toBe(field);
    }
  });

  it('parses only well-formed deliveries (property: anything else is refused, never thrown past zod)', () => {
    fc.assert(
      fc.property(fc.anything(), (raw) => {
        const result = DeliveredEventSchema.safeParse(raw);
        if (result.success) expect(typeof result.data.id).toBe('string');
      }),
    );
    expect(DeliveredEventSchema.safeParse(event('x', '2026-12-06T00:00:00Z')).success).toBe(true);
    expect(DeliveredEventSchema.safeParse({ ...event('x', 'not a time') }).success).toBe(false);
  });
});
