import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { apiCaller, callersByRole, eventually, s3ClientOf } from './support.ts';

/**
 * The security manager end to end on the local runtime: admin actions taken through the API (a
 * manager stopped and started, a configuration changed, a collection deleted, a migration
 * started, webhook secrets rotated) reach its queue through the bus and show in
 * `GET /api/v1/security/audit` with who, their role, from where and the request's correlation id;
 * a burst of unauthenticated requests, through the access log's ApiAccessDenied, is an entry and
 * a SecurityAlert; only administrators read it; bad filters are 400s naming the field; pages
 * follow each other. `GET /api/v1/security/users` lists the people the local issuer gave tokens
 * to, with their roles, through the local Cognito endpoint and the function's `users:read` grant.
 */
const SLOW = 60_000;

interface Entry {
  id: string;
  kind: string;
  actor: string;
  role?: string;
  sourceIp?: string;
  correlationId?: string;
  outcome: string;
  detail: Record<string, unknown>;
}

describe('security on the local runtime', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  const base = () => `${rt.apiUrl}/api/v1`;
  const { admin, writer, reader } = callersByRole(() => rt);
  const as = (correlationId: string) => ({ 'x-correlation-id': correlationId });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-security-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true, allowLoopbackWebhooks: true });
    // Contract calls start worker threads on a busy machine: a generous bound, set as an operator would.
    const configured = await admin('PUT', '/managers/central-coordinator/config', {
      config: { checkTimeoutMs: 20_000 },
    });
    expect(configured.status).toBe(200);
    // A small burst, configured before the auditor first reads its configuration (a 30 s cache).
    const security = await admin('PUT', '/managers/security/config', {
      config: { burstThreshold: 5, burstWindowMinutes: 5 },
    });
    expect(security.status).toBe(200);
  }, SLOW);
  afterAll(async () => {
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'records each admin action with its actor, role, source address and correlation id',
    async () => {
      const ok = async (
        who: typeof admin,
        method: string,
        path: string,
        body: unknown,
        id: string,
        status = 200,
      ) => {
        const res = await who(method, path, body, as(id));
        expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(status);
        return res.body;
      };
      await ok(admin, 'POST', '/managers/dependencies/stop', undefined, 'audit-stop');
      await ok(admin, 'POST', '/managers/dependencies/start', undefined, 'audit-start');
      await ok(
        admin,
        'PUT',
        '/managers/roadmap/config',
        { config: { driftThresholdPoints: 7 } },
        'audit-config',
      );
      await ok(
        writer,
        'POST',
        '/vectors/collections',
        { name: 'doomed', vectorSize: 4 },
        'audit-create',
        201,
      );
      await ok(admin, 'DELETE', '/vectors/collections/doomed', undefined, 'audit-delete');
      await s3ClientOf(rt).send(
        new PutObjectCommand({
          Bucket: rt.bucket,
          Key: 'staging/audited.jsonl',
          Body: `${JSON.stringify({ id: 1, vector: [1, 2, 3, 4] })}\n`,
        }),
      );
      await ok(
        admin,
        'POST',
        '/migrations',
        { key: 'staging/audited.jsonl', collection: 'audited' },
        'audit-migration',
        202,
      );
      const { subscription } = await ok(
        admin,
        'POST',
        '/notifications/subscriptions',
        {
          name: 'receiver',
          pattern: { source: ['vector-platform'], 'detail-type': ['PlanIndexed'] },
          channel: { type: 'webhook', url: 'http://127.0.0.1:9/hook' },
        },
        'audit-subscribe',
        201,
      );
      const rotated = await ok(
        admin,
        'POST',
        '/managers/security/actions/rotate-webhook-secrets',
        { subscriptionId: subscription.id },
        'audit-rotate',
      );
      expect(rotated.result.rotated).toEqual([
        {
          subscriptionId: subscription.id,
          secret: expect.any(String),
          previousValidUntil: expect.any(String),
        },
      ]);

      const expected = {
        'manager-stopped': ['audit-stop', { managerId: 'dependencies' }],
        'manager-started': ['audit-start', { managerId: 'dependencies' }],
        'config-changed': ['audit-config', { managerId: 'roadmap', fields: ['driftThresholdPoints'] }],
        'collection-deleted': ['audit-delete', { collection: 'doomed' }],
        'migration-started': ['audit-migration', { key: 'staging/audited.jsonl' }],
        'webhook-secrets-rotated': [
          'audit-rotate',
          { trigger: 'action', subscriptionIds: [subscription.id] },
        ],
      } as const;
      const entries = await eventually(
        'every admin action in the audit log',
        async () => {
          const { body } = await admin('GET', '/security/audit?limit=100');
          const found = body.entries as Entry[];
          const all = Object.entries(expected).every(([kind, [id]]) =>
            found.some((e) => e.kind === kind && e.correlationId === id),
          );
          return all ? found : undefined;
        },
        SLOW,
      );
      for (const [kind, [correlationId, detail]] of Object.entries(expected)) {
        const entry = entries.find((e) => e.kind === kind && e.correlationId === correlationId);
        expect(entry, kind).toMatchObject({
          actor: 'local-admin',
          role: 'admin',
          sourceIp: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
          correlationId,
          outcome: 'succeeded',
          detail: expect.objectContaining(detail),
        });
      }
      // Newest first; the creation of a collection (a writer's, not an admin action) is not audited.
      const times = entries.map((e) => (e as unknown as { time: string }).time);
      expect([...times].sort().reverse()).toEqual(times);
      expect(entries.some((e) => e.correlationId === 'audit-create')).toBe(false);

      // Filters and pages.
      const stopped = await admin('GET', '/security/audit?kind=manager-stopped');
      expect(stopped.body.entries.map((e: Entry) => e.correlationId)).toEqual(['audit-stop']);
      expect((await admin('GET', '/security/audit?actor=nobody')).body).toEqual({ entries: [] });
      const first = await admin('GET', '/security/audit?limit=2');
      expect(first.body.entries).toHaveLength(2);
      const second = await admin('GET', `/security/audit?limit=100&cursor=${first.body.nextCursor}`);
      expect([...first.body.entries, ...second.body.entries].map((e: Entry) => e.id)).toEqual(
        entries.map((e) => e.id),
      );
      expect(second.body.nextCursor).toBeUndefined();
    },
    SLOW * 2,
  );

  it(
    'records a burst of refused requests from one client (the access log, ApiAccessDenied) and raises SecurityAlert',
    async () => {
      const anonymous = apiCaller(base);
      for (let i = 0; i < 6; i++) {
        expect((await anonymous('GET', '/plans', undefined, { 'user-agent': 'burst-probe' })).status).toBe(
          401,
        );
      }
      const [burst] = await eventually(
        'an access-denied-burst entry',
        async () => {
          const { body } = await admin('GET', '/security/audit?kind=access-denied-burst');
          return body.entries.length > 0 ? (body.entries as Entry[]) : undefined;
        },
        SLOW,
      );
      expect(burst).toMatchObject({
        actor: 'anonymous',
        sourceIp: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
        outcome: 'denied',
        detail: expect.objectContaining({
          status: 401,
          routes: ['GET /api/v1/plans'],
          userAgents: ['burst-probe'],
        }),
      });
      expect(burst!.detail.count).toBeGreaterThanOrEqual(5);
      const alerts = await eventually(
        'SecurityAlert in the event log',
        async () => {
          const { body } = await admin('GET', '/events?type=SecurityAlert');
          return body.events.length > 0 ? body.events : undefined;
        },
        SLOW,
      );
      expect(alerts[0].detail).toMatchObject({ kind: 'access-denied-burst', auditId: burst!.id });
    },
    SLOW * 2,
  );

  it(
    'answers administrators only, and names the field of a bad filter',
    async () => {
      expect((await reader('GET', '/security/audit')).status).toBe(403);
      expect((await writer('GET', '/security/audit')).status).toBe(403);
      expect((await apiCaller(base)('GET', '/security/audit')).status).toBe(401);
      for (const [query, field] of [
        ['kind=nope', 'query.kind'],
        ['since=yesterday', 'query.since'],
        ['since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z', 'query.until'],
        ['limit=0', 'query.limit'],
        ['cursor=bm90LWEtY3Vyc29y', 'query.cursor'],
        ['colour=red', 'query'],
      ] as const) {
        const { status, body } = await admin('GET', `/security/audit?${query}`);
        expect(status, query).toBe(400);
        expect(body.error.issues[0].field, query).toBe(field);
      }
      await admin('GET', '/notifications/subscriptions'); // stores the default (email) subscription
      const action = (name: string, input: unknown) =>
        admin('POST', `/managers/security/actions/${name}`, input);
      expect(
        (await action('rotate-webhook-secrets', { subscriptionId: 'default' })).body.error.issues,
      ).toEqual([{ field: 'subscriptionId', reason: expect.stringMatching(/not a webhook/) }]);
      expect((await action('webhook-secret', { subscriptionId: 'nope' })).status).toBe(404);
      expect((await action('rotate-webhook-secrets', { due: 'yes' })).body.error.issues[0].field).toBe(
        'input.due',
      );
      expect((await writer('POST', '/managers/security/actions/rotate-webhook-secrets', {})).status).toBe(
        403,
      );
    },
    SLOW,
  );

  it(
    'lists the people given tokens with the roles of their groups, page by page, to administrators only',
    async () => {
      await rt.issueToken({ groups: ['user'], sub: 'ada' });
      await rt.issueToken({ groups: ['readonly', 'user'], sub: 'bob' });
      // A machine client (scopes, no groups) is an app client, not a user.
      await rt.issueToken({ scopes: ['admin'], sub: 'ci-robot' });
      const { status, body } = await admin('GET', '/security/users');
      expect(status, JSON.stringify(body)).toBe(200);
      const byName = new Map(
        (body.users as Array<{ username: string }>).map((u) => [u.username, u] as const),
      );
      expect(byName.get('ada')).toEqual({
        username: 'ada',
        status: 'CONFIRMED',
        enabled: true,
        createdAt: expect.stringMatching(/^\d{4}-/),
        roles: ['writer'],
      });
      expect(byName.get('bob')).toMatchObject({ roles: ['reader', 'writer'] });
      expect(byName.get('local-admin')).toMatchObject({ roles: ['admin'] });
      expect(byName.has('ci-robot')).toBe(false);
      expect(body.cursor).toBeUndefined();

      // One a page, following the cursor: every user once, in the same order.
      const paged: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await admin(
          'GET',
          `/security/users?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(page.status).toBe(200);
        expect(page.body.users).toHaveLength(1);
        paged.push(page.body.users[0].username);
        cursor = page.body.cursor;
      } while (cursor);
      expect(paged).toEqual([...byName.keys()]);

      expect((await reader('GET', '/security/users')).status).toBe(403);
      expect((await writer('GET', '/security/users')).status).toBe(403);
      expect((await apiCaller(base)('GET', '/security/users')).status).toBe(401);
      for (const [query, field] of [
        ['limit=0', 'query.limit'],
        ['limit=61', 'query.limit'],
        ['limit=ten', 'query.limit'],
        ['cursor=not-a-cursor', 'query.cursor'],
        ['role=admin', 'query'],
      ] as const) {
        const res = await admin('GET', `/security/users?${query}`);
        expect(res.status, query).toBe(400);
        expect(res.body.error.issues[0].field, query).toBe(field);
      }
    },
    SLOW,
  );
});
