import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import type { LoggedEvent } from '#shared/events/log.ts';
import type { JobView } from '#shared/migrations/service.ts';
import { legacyExport } from '../unit/migrations/exports.ts';
import { eventually, migrationFinished } from './support.ts';
import { itWhere, testTarget, whereLocal } from './target.ts';

/**
 * The correlation id on the local runtime: from a request's header to its answer and its events,
 * and from an upload through the planner and the workers' queue to every event of its migration.
 * Portable: on a deployed stage, the header check and the upload's chain (where the credentials
 * can upload) run against it; the configuration change needs an administrator and stays local.
 */

let dataDir: string;
let runtime: LocalRuntime;

const target = testTarget(() => runtime);
const { call } = target;
const uploads = await target.uploadsUnavailable();
const CORRELATED = target.name('correlated');

beforeAll(async () => {
  if (!target.local) return;
  dataDir = await mkdtemp(join(tmpdir(), 'vp-correlation-'));
  runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false });
});

/** The logged events of `types`, once there are at least `count` matching `where`. */
async function eventsOf(types: string[], where: (e: LoggedEvent) => boolean, count: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found: LoggedEvent[] = [];
    for (const type of types) {
      const { body } = await call('GET', `/api/v1/events?type=${type}`);
      found.push(...(body as { events: LoggedEvent[] }).events.filter(where));
    }
    if (found.length >= count || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  if (!target.local) {
    await target.removeObjects([`exports/${CORRELATED}.json`]);
    await target.removeCollections([CORRELATED]);
    return;
  }
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('correlation ids', () => {
  itWhere(
    whereLocal("changes a manager's configuration, an administrator's route"),
    "answers a request's x-correlation-id, and the event it causes carries it",
    async () => {
      const put = await call(
        'PUT',
        '/api/v1/managers/roadmap/config',
        { config: { driftThresholdPoints: 10 } },
        { 'x-correlation-id': 'abc-123', origin: 'http://localhost:5173' },
      );
      expect(put.status).toBe(200);
      expect(put.headers.get('x-correlation-id')).toBe('abc-123');
      // A page on an allowed origin may read it.
      expect(put.headers.get('access-control-expose-headers')?.split(',')).toContain('x-correlation-id');

      const [event] = await eventsOf(['ConfigChanged'], (e) => e.detail.version === put.body.version, 1);
      expect(event?.detail).toMatchObject({ managerId: 'roadmap', correlationId: 'abc-123' });
    },
  );

  it("without a header (or with one that is not an id), the id is API Gateway's request id", async () => {
    for (const headers of [{}, { 'x-correlation-id': 'not an id' }] as Array<Record<string, string>>) {
      const res = await call('GET', '/api/v1/managers/roadmap/config', undefined, headers);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-correlation-id')).toBe(res.headers.get('apigw-requestid'));
    }
  });

  itWhere(
    uploads,
    "an upload's migration is one chain: every event of its job, planner's and workers', has one id",
    async () => {
      {
        const key = `exports/${CORRELATED}.json`;
        await target.upload(
          key,
          legacyExport({ vectors: 3, texts: 1, dimensions: target.embedding.dimensions }),
        );
        // Locally the upload's notification has been delivered; on a stage, S3 delivers it soon.
        const job = await eventually(`the job of ${key}`, async () => {
          const { body } = await call('GET', '/api/v1/migrations');
          return (body.migrations as JobView[]).find((j) => j.key === key);
        });
        expect(job).toBeDefined();
        expect((await migrationFinished(call, job!.id)).status).toBe('completed');

        const events = await eventsOf(
          ['MigrationStarted', 'MigrationChunkCompleted', 'MigrationCompleted'],
          (e) => e.detail.jobId === job!.id,
          3,
        );
        expect(new Set(events.map((e) => e.type))).toEqual(
          new Set(['MigrationStarted', 'MigrationChunkCompleted', 'MigrationCompleted']),
        );
        const ids = new Set(events.map((e) => e.detail.correlationId));
        expect(ids.size).toBe(1);
        expect([...ids][0]).toMatch(/^[A-Za-z0-9._:=+/-]{1,128}$/);
      }
    },
  );
});
