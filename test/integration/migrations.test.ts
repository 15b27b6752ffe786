import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import type { JobRecord } from '#shared/migrations/model.ts';
import type { JobView, MigrationReport } from '#shared/migrations/service.ts';
import { exportRecords, jsonlExport, legacyExport, qdrantPointsExport } from '../unit/migrations/exports.ts';
import { apiCaller, migrationFinished, s3ClientOf, tokenFor } from './support.ts';

/**
 * Migrations end to end on the local runtime: an upload to `exports/` triggers the planner through
 * the bucket notification, chunks fan out over the local SQS to the worker, the last chunk verifies
 * and switches the alias, and the result is searched through the alias over the HTTP API.
 */

const DIM = 384;
let dataDir: string;
let runtime: LocalRuntime;
let s3: S3Client;

const call = apiCaller(
  () => runtime.apiUrl,
  tokenFor(() => runtime),
);

async function upload(key: string, body: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: runtime.bucket, Key: key, Body: body }));
}

/** The job of an uploaded key, once its notification has been delivered. */
async function jobOfUpload(key: string): Promise<JobRecord> {
  await runtime.notificationsSettled();
  const { body } = await call('GET', '/api/v1/migrations');
  const jobs = (body.migrations as JobRecord[]).filter((j) => j.key === key);
  expect(jobs.length).toBeGreaterThan(0);
  return jobs[0]!;
}

/** Polls the job until it has finished (completed or failed); the test's timeout bounds the wait. */
const finished = (id: string) => migrationFinished(call, id);

async function report(key: string): Promise<MigrationReport> {
  const out = await s3.send(new GetObjectCommand({ Bucket: runtime.bucket, Key: key }));
  return JSON.parse(await out.Body!.transformToString()) as MigrationReport;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-migrations-'));
  runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true });
  s3 = s3ClientOf(runtime);
});

afterAll(async () => {
  s3?.destroy();
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('migrations on the local runtime', () => {
  const legacy = { vectors: 30, texts: 4, duplicates: 2, bad: 1, dimensions: DIM };
  let first: JobView;

  it('an upload of a legacy export migrates it, and it is searchable through the alias', async () => {
    await upload('exports/task_vectors.json', legacyExport(legacy));
    const job = await jobOfUpload('exports/task_vectors.json');
    expect(job).toMatchObject({ target: 'task_vectors', format: 'legacy-tasks' });
    first = await finished(job.id);

    expect(first.status).toBe('completed');
    expect(first.counts).toEqual({ records: 37, written: 36, rejected: 1 });
    expect(first.chunkList.every((c) => c.status === 'done')).toBe(true);
    const r = await report(first.reportKey!);
    expect(r.counts.points).toBe(34);
    expect(r.duplicates.ids).toBe(2);
    expect(r.rejects.listed[0]).toMatchObject({ sourceId: 'bad_0' });
    expect(r.verification.passed).toBe(true);

    const info = await call('GET', '/api/v1/vectors/collections/task_vectors');
    expect(info.body).toMatchObject({ pointsCount: 34, vectorSize: DIM });

    // By vector: the record itself comes first, under its original id.
    const { records } = exportRecords(legacy);
    const byVector = await call('POST', '/api/v1/vectors/search', {
      collection: 'task_vectors',
      vector: records[5]!.vector,
      limit: 1,
    });
    expect(byVector.body.results[0]).toMatchObject({ id: 'dep_task_5' });
    expect(byVector.body.results[0].score).toBeGreaterThan(0.999);
    // By text: a text-only record was embedded by the worker with the platform's embedder.
    const byText = await call('POST', '/api/v1/vectors/search', {
      collection: 'task_vectors',
      text: 'Task 1: qdrant migration for the platform',
      limit: 1,
    });
    expect(byText.body.results[0]).toMatchObject({ id: 'text_1' });
  }, 60_000);

  it('the same upload again is the same job; a changed export re-runs without duplicates; rollback', async () => {
    const again = await call('POST', '/api/v1/migrations', {
      key: 'exports/task_vectors.json',
      collection: 'task_vectors',
    });
    expect(again).toMatchObject({ status: 200, body: { id: first.id, status: 'completed' } });

    await upload('exports/task_vectors.json', legacyExport({ ...legacy, vectors: 32 }));
    const job = await jobOfUpload('exports/task_vectors.json');
    expect(job.id).not.toBe(first.id);
    const second = await finished(job.id);
    expect(second).toMatchObject({ status: 'completed', previousCollection: first.collection });
    const info = await call('GET', '/api/v1/vectors/collections/task_vectors');
    expect(info.body.pointsCount).toBe(36);

    const rolled = await call('POST', `/api/v1/migrations/${second.id}/rollback`);
    expect(rolled).toMatchObject({ status: 200, body: { status: 'rolled-back' } });
    const back = await call('GET', '/api/v1/vectors/collections/task_vectors');
    expect(back.body.pointsCount).toBe(34);
    const refused = await call('POST', `/api/v1/migrations/${first.id}/rollback`);
    expect(refused.status).toBe(409);
  }, 60_000);

  it('migrates JSONL in several chunks and Qdrant points JSON, started by the API', async () => {
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
  }, 60_000);

  // A planner that fails an export writes its report (so it is granted `exports:write`).
  it('fails a truncated export clearly, with its report, whether uploaded or started by the API', async () => {
    const truncated = legacyExport({ vectors: 3, texts: 0, dimensions: DIM }).slice(0, -40);
    await upload('exports/cut_tasks.json', truncated);
    const uploaded = await migrationFinished(call, (await jobOfUpload('exports/cut_tasks.json')).id, 20_000);
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
  });

  it('answers clear errors', async () => {
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
