import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { FileStateStore } from '#shared/adapters/file-state.ts';
import type { ParsedDetail } from '#shared/events/catalogue.ts';
import type { SecretStore } from '#shared/notifications/ports.ts';
import { decodeSecret } from '#shared/notifications/secret-value.ts';
import { SubscriptionStore } from '#shared/notifications/subscriptions.ts';
import { AuditLog, bounded, entryOf } from '#shared/security/audit.ts';
import {
  AUDIT_KINDS,
  type AuditEntry,
  AuditQuerySchema,
  MAX_DETAIL_BYTES,
  type SecurityConfig,
  SecurityConfigSchema,
} from '#shared/security/model.ts';
import { SecurityService } from '#shared/security/service.ts';
import { parseWith } from '#shared/validation.ts';
import { RecordingBus, tempDir } from '../managers/support.ts';

/**
 * The security manager's logic on files: audit entries from events, the audit query (filters,
 * pages, retention, bad filters named), refusal bursts, webhook secret rotation.
 */

let dir: { path: string; cleanup(): Promise<void> };
let state: FileStateStore;
let bus: RecordingBus;
let now: Date;
let config: SecurityConfig;
let secrets: Map<string, string>;
let subscriptions: SubscriptionStore;
let service: SecurityService;

beforeEach(async () => {
  dir = await tempDir('vp-security-unit-');
  state = new FileStateStore({ dir: dir.path });
  bus = new RecordingBus();
  now = new Date('2026-12-07T12:00:00.000Z');
  config = SecurityConfigSchema.parse({ burstThreshold: 10, burstWindowMinutes: 5 });
  secrets = new Map();
  const store: SecretStore = {
    async put(name, value) {
      secrets.set(name, value);
    },
    async replace(name, value) {
      if (!secrets.has(name)) throw new Error(`no secret ${name}`);
      secrets.set(name, value);
    },
    async get(name) {
      const value = secrets.get(name);
      if (value === undefined) throw new Error(`no secret ${name}`);
      return value;
    },
    async delete(name) {
      secrets.delete(name);
    },
  };
  subscriptions = new SubscriptionStore({
    state: () => state,
    secrets: () => store,
    secretPrefix: 'p/',
    defaultEmailTo: async () => 'ops@example.com',
    policy: { allowLoopback: true },
  });
  service = new SecurityService({
    state: () => state,
    subscriptions: async () => subscriptions,
    publisher: () => bus.publisher(),
    config: async () => config,
    users: () => ({ list: async () => ({ users: [] }) }),
    now: () => now,
  });
});
afterEach(() => dir.cleanup());

const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000).toISOString();
const admin = { id: 'ada', role: 'admin' as const, sourceIp: '10.0.0.1' };

function envelope(id: string, type: string, detail: Record<string, unknown>, time = at(0)) {
  return {
    id,
    time,
    source: 'vector-platform',
    'detail-type': type,
    detail: { schemaVersion: 1, ...detail },
  };
}

function denied(over: Partial<ParsedDetail<'ApiAccessDenied'>> = {}) {
  return {
    ip: '203.0.113.9',
    status: 401,
    count: 4,
    firstAt: at(0),
    lastAt: at(0),
    routes: ['GET /api/v1/status'],
    sampleRequestIds: ['r-1'],
    userAgents: ['curl/8'],
    ...over,
  };
}

const entry = (id: string, minutes: number, over: Partial<AuditEntry> = {}): AuditEntry => ({
  id,
  time: at(minutes),
  kind: 'config-changed',
  actor: 'ada',
  outcome: 'succeeded',
  detail: {},
  ...over,
});

describe('audit entries from events', () => {
  it('takes who, role, address and correlation id from the actor; what from the event’s fields', async () => {
    const outcome = await service.consume(
      envelope('e-1', 'ManagerStopped', {
        managerId: 'roadmap',
        by: 'ada',
        at: at(0),
        correlationId: 'c-1',
        actor: admin,
      }),
    );
    expect(outcome).toBe('recorded');
    expect((await service.audit(parseWith(AuditQuerySchema, {}, 'query'))).entries).toEqual([
      {
        id: 'e-1',
        time: at(0),
        kind: 'manager-stopped',
        actor: 'ada',
        role: 'admin',
        sourceIp: '10.0.0.1',
        correlationId: 'c-1',
        outcome: 'succeeded',
        detail: { managerId: 'roadmap', by: 'ada', at: at(0) },
      },
    ]);
  });

  it('names `by` when no request made it, else `system`; a redelivered event is one entry', async () => {
    const started = envelope('e-2', 'MigrationStarted', {
      jobId: 'j',
      key: 'exports/a.jsonl',
      target: 't',
      collection: 'c',
      dryRun: false,
      chunks: 1,
      records: 1,
    });
    await service.consume(started);
    await service.consume(started);
    await service.consume(
      envelope('e-3', 'ConfigChanged', {
        managerId: 'roadmap',
        version: 2,
        by: 'bob',
        fields: [],
        at: at(0),
      }),
    );
    const { entries } = await service.audit(parseWith(AuditQuerySchema, {}, 'query'));
    expect(entries.map((e) => [e.id, e.actor])).toEqual([
      ['e-3', 'bob'],
      ['e-2', 'system'],
    ]);
  });

  it('ignores events it does not audit, and refuses one its catalogue schema refuses', async () => {
    expect(
      await service.consume(
        envelope('e-4', 'PlanIndexed', {
          planId: 'p',
          tasks: 0,
          added: 0,
          updated: 0,
          removed: 0,
          unchanged: 0,
        }),
      ),
    ).toBe('ignored');
    await expect(service.consume(envelope('e-5', 'CollectionDeleted', {}))).rejects.toMatchObject({
      issues: [{ field: 'detail.collection' }],
    });
  });

  it('keeps a large detail as its field names only', () => {
    const big = { text: 'x'.repeat(MAX_DETAIL_BYTES), other: 1 };
    expect(bounded(big)).toEqual({ truncated: true, bytes: expect.any(Number), fields: ['text', 'other'] });
    expect(bounded({ small: 1 })).toEqual({ small: 1 });
    expect(
      entryOf({
        id: 'e',
        time: at(0),
        type: 'CollectionDeleted',
        detail: { collection: 'c', schemaVersion: 1 },
      }),
    ).toMatchObject({ actor: 'system', detail: { collection: 'c' } });
  });
});

describe('the audit query', () => {
  beforeEach(async () => {
    const log = new AuditLog(
      () => state,
      () => now,
    );
    // Three days, newest last; one entry older than the retention.
    await log.record(entry('a', -3 * 1440, { kind: 'manager-started' }), 90);
    await log.record(entry('b', -1440, { actor: 'bob' }), 90);
    await log.record(entry('c', -60), 90);
    await log.record(entry('d', -30, { kind: 'collection-deleted' }), 90);
    await log.record(entry('e', -1), 90);
    await log.record(entry('old', -100 * 1440), 200);
  });
  const list = (query: Record<string, string>) => service.audit(parseWith(AuditQuerySchema, query, 'query'));

  it('answers newest first across days, within the retention', async () => {
    expect((await list({})).entries.map((e) => e.id)).toEqual(['e', 'd', 'c', 'b', 'a']);
  });

  it('filters by kind, actor, since (inclusive) and until (exclusive)', async () => {
    expect((await list({ kind: 'collection-deleted' })).entries.map((e) => e.id)).toEqual(['d']);
    expect((await list({ actor: 'bob' })).entries.map((e) => e.id)).toEqual(['b']);
    expect((await list({ since: at(-60), until: at(-1) })).entries.map((e) => e.id)).toEqual(['d', 'c']);
  });

  it('pages with the cursor, every entry once, in order', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list({ limit: '2', ...(cursor ? { cursor } : {}) });
      expect(page.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.entries.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['e', 'd', 'c', 'b', 'a']);
    const filtered = await list({ limit: '1', actor: 'ada' });
    expect(filtered.entries.map((e) => e.id)).toEqual(['e']);
    expect(
      (await list({ limit: '5', actor: 'ada', cursor: filtered.nextCursor! })).entries.map((e) => e.id),
    ).toEqual(['d', 'c', 'a']);
  });

  it('names the field of a bad filter', () => {
    const field = (query: Record<string, unknown>) => {
      try {
        parseWith(AuditQuerySchema, query, 'query');
        return undefined;
      } catch (err) {
        return (err as { issues: Array<{ field: string }> }).issues[0]?.field;
      }
    };
    expect(field({ kind: 'everything' })).toBe('query.kind');
    expect(field({ since: 'monday' })).toBe('query.since');
    expect(field({ since: at(0), until: at(0) })).toBe('query.until');
    expect(field({ limit: '501' })).toBe('query.limit');
    expect(field({ cursor: 'garbage' })).toBe('query.cursor');
    expect(field({ actor: '' })).toBe('query.actor');
  });

  it('answers any query string with a page or a field-named 400, never a crash', async () => {
    const value = fc.oneof(
      fc.string(),
      fc.constantFrom(...AUDIT_KINDS),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          { kind: value, actor: value, since: value, until: value, limit: value, cursor: value },
          { requiredKeys: [] },
        ),
        async (query) => {
          let parsed: ReturnType<typeof AuditQuerySchema.parse>;
          try {
            parsed = parseWith(AuditQuerySchema, query, 'query');
          } catch (err) {
            expect((err as { statusCode: number }).statusCode).toBe(400);
            expect((err as { issues: Array<{ field: string }> }).issues[0]?.field).toMatch(/^query/);
            return;
          }
          const page = await service.audit(parsed);
          expect(page.entries.length).toBeLessThanOrEqual(parsed.limit);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('refusal bursts', () => {
  it('makes one burst entry and SecurityAlert when a client reaches the threshold within the window', async () => {
    expect(
      await service.consume(envelope('d-1', 'ApiAccessDenied', denied({ count: 4, lastAt: at(0) }))),
    ).toBe('counted');
    expect(
      await service.consume(envelope('d-2', 'ApiAccessDenied', denied({ count: 4, lastAt: at(2) }))),
    ).toBe('counted');
    // The same event again counts nothing.
    expect(
      await service.consume(envelope('d-2', 'ApiAccessDenied', denied({ count: 4, lastAt: at(2) }))),
    ).toBe('counted');
    expect(
      await service.consume(envelope('d-3', 'ApiAccessDenied', denied({ count: 2, lastAt: at(3) }))),
    ).toBe('burst');
    // Within the window that made it: no second one.
    expect(
      await service.consume(envelope('d-4', 'ApiAccessDenied', denied({ count: 20, lastAt: at(4) }))),
    ).toBe('counted');
    const { entries } = await service.audit(
      parseWith(AuditQuerySchema, { kind: 'access-denied-burst' }, 'query'),
    );
    expect(entries).toEqual([
      expect.objectContaining({
        id: 'burst-d-3',
        actor: 'anonymous',
        sourceIp: '203.0.113.9',
        outcome: 'denied',
        detail: expect.objectContaining({
          count: 10,
          windowMinutes: 5,
          status: 401,
          routes: ['GET /api/v1/status'],
        }),
      }),
    ]);
    expect(bus.ofType('SecurityAlert')).toEqual([
      expect.objectContaining({
        kind: 'access-denied-burst',
        ip: '203.0.113.9',
        count: 10,
        auditId: 'burst-d-3',
      }),
    ]);
  });

  it('forgets refusals older than the window, and counts each client apart', async () => {
    await service.consume(envelope('d-1', 'ApiAccessDenied', denied({ count: 9, lastAt: at(0) })));
    expect(
      await service.consume(envelope('d-2', 'ApiAccessDenied', denied({ count: 9, lastAt: at(6) }))),
    ).toBe('counted');
    expect(
      await service.consume(
        envelope('d-3', 'ApiAccessDenied', denied({ ip: '198.51.100.1', count: 9, lastAt: at(6) })),
      ),
    ).toBe('counted');
    expect(
      await service.consume(
        envelope('d-4', 'ApiAccessDenied', denied({ count: 1, lastAt: at(7), sub: 'eve' })),
      ),
    ).toBe('burst');
    const [burst] = (await service.audit(parseWith(AuditQuerySchema, {}, 'query'))).entries;
    expect(burst).toMatchObject({ actor: 'eve', detail: { count: 10 } });
  });

  it('counts concurrent refusals of one client without losing any', async () => {
    config = { ...config, burstThreshold: 8 };
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        service.consume(envelope(`c-${i}`, 'ApiAccessDenied', denied({ count: 1, lastAt: at(0) }))),
      ),
    );
    expect(outcomes.filter((o) => o === 'burst')).toHaveLength(1);
  });
});

describe('webhook secret rotation', () => {
  const webhook = (name: string) =>
    subscriptions.create({
      name,
      pattern: { source: ['vector-platform'] },
      channel: { type: 'webhook', url: 'http://127.0.0.1:9/hook' },
      enabled: true,
    });

  it('rotates every webhook, keeps each previous secret for the grace, answers the new ones to an action', async () => {
    const one = await webhook('one');
    const two = await webhook('two');
    const { rotated } = await service.rotate({ due: false }, 'action');
    expect(rotated.map((r) => r.subscriptionId).sort()).toEqual(
      [one.subscription.id, two.subscription.id].sort(),
    );
    const stored = decodeSecret(secrets.get(`p/${one.subscription.id}`)!);
    expect(stored).toMatchObject({
      previous: one.secret,
      previousValidUntil: new Date(now.getTime() + 24 * 3_600_000).toISOString(),
    });
    expect(rotated.find((r) => r.subscriptionId === one.subscription.id)?.secret).toBe(stored.current);
    expect(bus.ofType('WebhookSecretsRotated')).toEqual([
      expect.objectContaining({
        trigger: 'action',
        subscriptionIds: expect.arrayContaining([one.subscription.id]),
      }),
    ]);
    expect(await service.webhookSecret(one.subscription.id)).toEqual({
      subscriptionId: one.subscription.id,
      secret: stored.current,
      rotatedAt: now.toISOString(),
      previousValidUntil: stored.previousValidUntil,
    });
  });

  it('on the schedule, rotates only the secrets due, and answers no secret', async () => {
    config = { ...config, rotateEveryDays: 30 };
    const fresh = await webhook('fresh');
    expect((await service.rotate({ due: true }, 'schedule')).rotated).toEqual([]);
    now = new Date(now.getTime() + 31 * 86_400_000);
    const { rotated } = await service.rotate({ due: true }, 'schedule');
    expect(rotated).toEqual([
      { subscriptionId: fresh.subscription.id, previousValidUntil: expect.any(String) },
    ]);
    // Just rotated: not due again.
    expect((await service.rotate({ due: true }, 'schedule')).rotated).toEqual([]);
    config = { ...config, rotateEveryDays: 0 };
    now = new Date(now.getTime() + 400 * 86_400_000);
    expect((await service.rotate({ due: true }, 'schedule')).rotated).toEqual([]);
    expect(bus.ofType('WebhookSecretsRotated')).toHaveLength(1);
  });

  it('refuses what has no secret, by name', async () => {
    await expect(service.rotate({ subscriptionId: 'nope', due: false }, 'action')).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(service.webhookSecret('nope')).rejects.toMatchObject({
      statusCode: 404,
      issues: [{ field: 'subscriptionId' }],
    });
  });
});
