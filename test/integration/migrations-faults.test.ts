import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#infra/local/runtime.ts';
import { manifest } from '#infra/manifest.ts';
import type { JobView } from '#shared/migrations/service.ts';
import { jsonlExport } from '../unit/migrations/exports.ts';
import { apiCaller, s3ClientOf } from './support.ts';

/**
 * Faults on the local runtime: the worker behind `test/unit/migrations/faulty-worker.ts` gets every
 * message twice at once and fails the odd chunks on their first receive; SQS redelivers them (a
 * short visibility timeout keeps the test quick). The job must still complete with exact counts and
 * no duplicate point.
 */

let dataDir: string;
let runtime: LocalRuntime;

const faultyManifest = {
  ...manifest,
  functions: {
    ...manifest.functions,
    migrationWorker: {
      ...manifest.functions.migrationWorker,
      entry: 'test/unit/migrations/faulty-worker.ts',
    },
  },
  queues: {
    migrations: { ...manifest.queues.migrations, visibilityTimeoutSeconds: 1, maxBatchingWindowSeconds: 0 },
  },
};

const call = apiCaller(() => runtime.apiUrl);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-migration-faults-'));
  runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, manifest: faultyManifest });
});

afterAll(async () => {
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a migration under faults', () => {
  it('completes with exact counts when chunks fail once and every message is delivered twice', async () => {
    const s3 = s3ClientOf(runtime);
    await s3.send(
      new PutObjectCommand({
        Bucket: runtime.bucket,
        Key: 'uploads/faults.jsonl',
        Body: jsonlExport({ vectors: 40, texts: 2, duplicates: 3, dimensions: 384 }),
      }),
    );
    s3.destroy();
    const started = await call('POST', '/api/v1/migrations', {
      key: 'uploads/faults.jsonl',
      collection: 'faults',
      chunkBytes: 16_384,
    });
    expect(started.status).toBe(202);
    expect(started.body.chunks.total).toBeGreaterThan(3);

    let job: JobView;
    for (;;) {
      job = (await call('GET', `/api/v1/migrations/${started.body.id}`)).body;
      if (job.status === 'completed' || job.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(job.status).toBe('completed');
    expect(job.chunks).toEqual({
      total: started.body.chunks.total,
      done: started.body.chunks.total,
      failed: 0,
    });
    expect(job.counts).toEqual({ records: 45, written: 45, rejected: 0 });
    const info = await call('GET', '/api/v1/vectors/collections/faults');
    expect(info.body.pointsCount).toBe(42);
  }, 60_000);
});
