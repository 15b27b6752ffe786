import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import type { JobRecord } from '#shared/migrations/model.ts';
import type { JobView, MigrationReport } from '#shared/migrations/service.ts';
import { exportRecords, jsonlExport, legacyExport, qdrantPointsExport } from '../unit/migrations/exports.ts';
import { eventually, migrationFinished } from './support.ts';
import { itWhere, testTarget, whereLocal } from './target.ts';

/**
 * Migrations end to end on the local runtime: an upload to `exports/` triggers the planner through
 * the bucket notification, chunks fan out over the local SQS to the worker, the last chunk verifies
 * and switches the alias, and the result is searched through the alias over the HTTP API.
 * Portable in part: on a deployed stage an upload's migration runs (where the credentials can
 * upload); starting, re-running and rolling back by the API need an administrator and stay local.
 * The exports' vectors have the platform's dimensions (`target.embedding`), so that the worker
 * embeds their text-only records into the same collection, whatever the embedder.
 */

let dataDir: string;
let runtime: LocalRuntime;

const target = testTarget(() => runtime);
/** The platform's embedding dimensions: 384 locally. */
const DIM = target.embedding.dimensions;
const { call } = target;
const uploads = await target.uploadsUnavailable();
const ADMIN_ONLY = whereLocal('POST /migrations and rollback are administrator routes');
/** The collection (and alias) an upload of `exports/<TASKS>.json` migrates into. */
const TASKS = target.name('task_vectors');
const TASKS_KEY = `exports/${TASKS}.json`;

const upload = (key: string, body: string) => target.upload(key, body);

/** The latest job of an uploaded key, once its notification has been delivered. */
async function jobOfUpload(key: string, not?: string): Promise<JobRecord> {
  return eventually(`a job of ${key}`, async () => {
    const { body } = await call('GET', '/api/v1/migrations');
    return (body.migrations as JobRecord[]).find((j) => j.key === key && j.id !== not);
  });
}

/** Polls the job until it has finished (completed or failed); the test's timeout bounds the wait. */
const finished = (id: string) => migrationFinished(call, id);

async function report(key: string): Promise<MigrationReport> {
  return JSON.parse(await target.download(key)) as MigrationReport;
}

beforeAll(async () => {
  if (!target.local) return;
  dataDir = await mkdtemp(join(tmpdir(), 'vp-migrations-'));
  runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true });
});

afterAll(async () => {
  if (!target.local) {
    await target.removeObjects([TASKS_KEY]);
    await target.removeCollections([TASKS]);
    return;
  }
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe(`migrations on ${target.label}`, () => {
  const legacy = { vectors: 30, texts: 4, duplicates: 2, bad: 1, dimensions: DIM };
  let first: JobView;

  itWhere(
    uploads,
    'an upload of a legacy export migrates it, and it is searchable through the alias',
    async () => {
      await upload(TASKS_KEY, legacyExport(legacy));
      const job = await jobOfUpload(TASKS_KEY);
      expect(job).toMatchObject({ target: TASKS });
      first = await finished(job.id);

      // The format once planned (on a stage the job may be listed before its planner has run).
      expect(first).toMatchObject({ status: 'completed', format: 'legacy-tasks' });
      expect(first.counts).toEqual({ records: 37, written: 36, rejected: 1 });
      expect(first.chunkList.every((c) => c.status === 'done')).toBe(true);
      const r = await report(first.reportKey!);
      expect(r.counts.points).toBe(34);
      expect(r.duplicates.ids).toBe(2);
      expect(r.rejects.listed[0]).toMatchObject({ sourceId: 'bad_0' });
      expect(r.verification.passed).toBe(true);

      const info = await call('GET', `/api/v1/vectors/collections/${TASKS}`);
      expect(info.body).toMatchObject({ pointsCount: 34, vectorSize: DIM });
      // Of the platform's size: it records the embedder its text-only records were embedded with.
      expect(info.body.embedding).toMatchObject(target.embedding);

      // By vector: the record itself comes first, under its original id.
      const { records } = exportRecords(legacy);
      const byVector = await call('POST', '/api/v1/vectors/search', {
        collection: TASKS,
        vector: records[5]!.vector,
        limit: 1,
      });
      expect(byVector.body.results[0]).toMatchObject({ id: 'dep_task_5' });
      expect(byVector.body.results[0].score).toBeGreaterThan(0.999);
      // By text: a text-only record was embedded by the worker with the platform's embedder, the
      // one the search embeds with: its own text finds it first, whatever that embedder is.
      const byText = await call('POST', '/api/v1/vectors/search', {
        collection: TASKS,
        text: records.find((r) => r.id === 'text_1')!.text,
        limit: 1,
      });
      expect(byText.status).toBe(200);
      expect(byText.body.results[0]).toMatchObject({ id: 'text_1' });
    },
    60_000,
  );

  itWhere(
    ADMIN_ONLY,
    'the same upload again is the same job; a changed export re-runs without duplicates; rollback',
    async () => {
      const again = await call('POST', '/api/v1/migrations', {
        key: TASKS_KEY,
        collection: TASKS,
      });
      expect(again).toMatchObject({ status: 200, body: { id: first.id, status: 'completed' } });

      await upload(TASKS_KEY, legacyExport({ ...legacy, vectors: 32 }));
      const job = await jobOfUpload(TASKS_KEY, first.id);
      expect(job.id).not.toBe(first.id);
      const second = await finished(job.id);
      expect(second).toMatchObject({ status: 'completed', previousCollection: first.collection });
      const info = await call('GET', `/api/v1/vectors/collections/${TASKS}`);
      expect(info.body.pointsCount).toBe(36);

      const rolled = await call('POST', `/api/v1/migrations/${second.id}/rollback`);
      expect(rolled).toMatchObject({ status: 200, body: { status: 'rolled-back' } });
      const back = await call('GET', `/api/v1/vectors/collections/${TASKS}`);
      expect(back.body.pointsCount).toBe(34);
      const refused = await call('POST', `/api/v1/migrations/${first.id}/rollback`);
      expect(refused.status).toBe(409);
    },
    60_000,
  );

  itWhere(
    ADMIN_ONLY,
    'migrates JSONL in several chunks and Qdrant points JSON, started by the API',
    async () => {
      await upload('uploads/notes.jsonl', jsonlExport({ vectors: 40, texts: 3, bad: 1, dimensions: DIM }));
      const started = await call('POST', '/api/v1/migrations', {
        key: 'uploads/notes.jsonl',
        collection: 'notes',
        chunkBytes: 32_768,
        rejectThreshold: 0.1,
      });
      expect(started.status).toBe(202);
      expect(started.body.chunks.total).toBeGreaterThan(2);
      const notes = await finished(started.body.id);
      expect(notes).toMatchObject({ status: 'completed', counts: { records: 44, written: 43, rejected: 1 } });

      await upload('uploads/points.json', qdrantPointsExport({ vectors: 12, texts: 0, dimensions: DIM }));
      const points = await call('POST', '/api/v1/migrations', {
        key: 'uploads/points.json',
        collection: 'pts',
      });
      const done = await finished(points.body.id);
      expect(done).toMatchObject({ status: 'completed', format: 'qdrant-points', counts: { written: 12 } });
      const found = await call('GET', '/api/v1/vectors/dep_task_3?collection=pts');
      expect(found.body).toMatchObject({ id: 'dep_task_3', payload: { source: 'qdrant' } });
    },
    60_000,
  );

  // A planner that fails an export writes its report (so it is granted `exports:write`).
  itWhere(
    ADMIN_ONLY,
    'fails a truncated export clearly, with its report, whether uploaded or started by the API',
    async () => {
      const truncated = legacyExport({ vectors: 3, texts: 0, dimensions: DIM }).slice(0, -40);
      await upload('exports/cut_tasks.json', truncated);
      const uploaded = await migrationFinished(
        call,
        (await jobOfUpload('exports/cut_tasks.json')).id,
        20_000,
      );
      await upload('uploads/cut.json', truncated);
      const started = await call('POST', '/api/v1/migrations', {
        key: 'uploads/cut.json',
        collection: 'cut',
      });
      expect(started.status).toBe(202);
      for (const job of [uploaded, started.body as JobView]) {
        expect(job).toMatchObject({ status: 'failed', error: expect.stringMatching(/malformed at byte/) });
        expect(await report(job.reportKey!)).toMatchObject({ status: 'failed', reason: job.error });
      }
    },
  );

  itWhere(ADMIN_ONLY, 'answers clear errors', async () => {
    const missing = await call('POST', '/api/v1/migrations', { key: 'exports/none.json', collection: 'x' });
    expect(missing.status).toBe(404);
    const bad = await call('POST', '/api/v1/migrations', { key: 'exports/none.json', collection: 'a b' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].field).toBe('collection');
    // Keys the S3 layer would refuse (once answered 502): refused here, naming the field.
    for (const key of ['../../etc/passwd', 'exports/\ud800.json', 'exports/a\u0000.json']) {
      const refused = await call('POST', '/api/v1/migrations', { key, collection: 'x' });
      expect(refused.status, key).toBe(400);
      expect(refused.body.error.issues[0].field).toBe('key');
    }
    expect((await call('GET', '/api/v1/migrations/0123456789abcdef')).status).toBe(404);
    expect((await call('GET', '/api/v1/migrations/nope')).status).toBe(400);
  });
});
