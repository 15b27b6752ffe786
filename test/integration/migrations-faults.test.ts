import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  GetQueueAttributesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest, type QueueDecl } from '#infra/manifest.ts';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { ORIGINAL_ID_KEY, toPointId } from '#shared/ids.ts';
import type { JobView } from '#shared/migrations/service.ts';
import { type ExportSpec, exportRecords, jsonlExport } from '../unit/migrations/exports.ts';
import { type FaultyQdrant, startFaultyQdrant, UNAVAILABLE, upsertedIds } from './faulty-qdrant.ts';
import { apiCaller, migrationFinished, s3ClientOf, tokenFor } from './support.ts';

/**
 * Faults on the local runtime, each ending with exactly the expected points, none duplicated,
 * none lost:
 * - the worker behind `test/unit/migrations/faulty-worker.ts` gets every message twice at once and
 *   fails the odd chunks on their first receive; SQS redelivers them;
 * - Qdrant (the embedded server behind a faulty proxy) answers 503 to upserts for a while: workers
 *   retry with backoff, then SQS redelivers;
 * - one chunk fails on every receive: it ends in the DLQ, the job fails without switching the alias,
 *   and a redrive once the fault is gone completes it.
 * Short visibility timeouts keep the test quick; nothing asserts on timing.
 */

const DIM = 384;
/** The queue's redrive policy (the service's is MIGRATION_QUEUE in shared/migrations/settings.ts). */
const MAX_RECEIVES = manifest.queues.migrations.maxReceiveCount;
/** Upsert attempts in one receive: the first, then one per DEFAULT_RETRY_DELAYS_MS (chunk-reader.ts). */
const ATTEMPTS_PER_RECEIVE = 4;
/**
 * A receive of a chunk under 503s waits 0.25 + 1 + 4 s, within the worker's timeout; its message
 * stays hidden longer than that plus an execution environment's start (not counted in a timeout).
 */
const SLOW_TIMEOUT_SECONDS = 8;
const SLOW_VISIBILITY_SECONDS = 12;

let runtime: LocalRuntime;
const call = apiCaller(
  () => runtime.apiUrl,
  tokenFor(() => runtime),
);

interface WorkerOptions {
  /** Another worker module. */
  entry?: string;
  /** The worker's timeout; default the visibility timeout (a shorter visibility is refused, as Lambda refuses it). */
  timeoutSeconds?: number;
}

/** The manifest with the migration queue's settings and the worker overridden. */
function manifestWith(
  migrations: Partial<QueueDecl> & { visibilityTimeoutSeconds: number },
  worker: WorkerOptions = {},
) {
  return {
    ...manifest,
    functions: {
      ...manifest.functions,
      migrationWorker: {
        ...manifest.functions.migrationWorker,
        timeoutSeconds: worker.timeoutSeconds ?? migrations.visibilityTimeoutSeconds,
        ...(worker.entry ? { entry: worker.entry } : {}),
      },
    },
    queues: {
      ...manifest.queues,
      migrations: { ...manifest.queues.migrations, maxBatchingWindowSeconds: 0, ...migrations },
    },
  };
}

async function upload(key: string, body: string): Promise<void> {
  const s3 = s3ClientOf(runtime);
  try {
    await s3.send(new PutObjectCommand({ Bucket: runtime.bucket, Key: key, Body: body }));
  } finally {
    s3.destroy();
  }
}

async function startMigration(key: string, collection: string): Promise<{ id: string; chunks: number }> {
  const started = await call('POST', '/api/v1/migrations', { key, collection, chunkBytes: 16_384 });
  expect(started.status).toBe(202);
  return { id: started.body.id, chunks: started.body.chunks.total };
}

/** Polls `check` until it answers a value; fails naming `what` and the last state seen. */
async function waitFor<T>(what: string, check: () => Promise<{ done: T } | { last: unknown }>, ms = 45_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const out = await check();
    if ('done' in out) return out.done;
    if (Date.now() > deadline)
      throw new Error(`gave up waiting for ${what}; last seen: ${JSON.stringify(out.last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const finished = (id: string) => migrationFinished(call, id);

/** Source ids of an export, each once (the last occurrence of a duplicated id is the point). */
function sourceIds(spec: ExportSpec): string[] {
  return [...new Set(exportRecords(spec).records.map((r) => r.id))];
}

/** The vector a record id ends with in an export (its last occurrence). */
function lastVector(spec: ExportSpec, id: string): number[] {
  return exportRecords(spec).records.findLast((r) => r.id === id)!.vector!;
}

describe('a migration under worker faults', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-migration-faults-'));
    runtime = await startLocalRuntime({
      dataDir,
      port: 0,
      quiet: true,
      manifest: manifestWith(
        { visibilityTimeoutSeconds: 2 },
        { entry: 'test/unit/migrations/faulty-worker.ts' },
      ),
    });
  });

  afterAll(async () => {
    await runtime?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('completes with exact counts when chunks fail once and every message is delivered twice', async () => {
    await upload(
      'uploads/faults.jsonl',
      jsonlExport({ vectors: 40, texts: 2, duplicates: 3, dimensions: DIM }),
    );
    const started = await startMigration('uploads/faults.jsonl', 'faults');
    expect(started.chunks).toBeGreaterThan(3);

    const job = await finished(started.id);
    expect(job.status).toBe('completed');
    expect(job.chunks).toEqual({ total: started.chunks, done: started.chunks, failed: 0 });
    expect(job.counts).toEqual({ records: 45, written: 45, rejected: 0 });
    const info = await call('GET', '/api/v1/vectors/collections/faults');
    expect(info.body.pointsCount).toBe(42);
  }, 60_000);
});

/**
 * A runtime whose Qdrant is the embedded server behind a faulty proxy; `qdrant` talks to the
 * server directly, so the test's own reads never meet a fault. `isolate`: the worker runs in
 * execution environments, so a receive that outlives its timeout is stopped, as Lambda stops it.
 */
function withFaultyQdrant(
  prefix: string,
  queue: Partial<QueueDecl> & { visibilityTimeoutSeconds: number },
  worker: WorkerOptions & { isolate?: boolean } = {},
) {
  const ctx = {} as { proxy: FaultyQdrant; qdrant: QdrantClient; sqs: SQSClient };
  let dataDir: string;
  let server: QdrantServer | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), prefix));
    server = await startQdrantServer({ dataDir: join(dataDir, 'qdrant'), port: 0 });
    ctx.proxy = await startFaultyQdrant(server.url);
    ctx.qdrant = new QdrantClient({ url: server.url, checkCompatibility: false });
    runtime = await startLocalRuntime({
      dataDir,
      port: 0,
      quiet: true,
      qdrantUrl: ctx.proxy.url,
      isolateConsumers: worker.isolate ?? false,
      manifest: manifestWith(queue, worker),
    });
    ctx.sqs = new SQSClient({
      region: runtime.region,
      endpoint: runtime.sqsEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });

  afterAll(async () => {
    ctx.sqs?.destroy();
    await runtime?.stop();
    await ctx.proxy?.close();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  return ctx;
}

/** Asserts that the collection behind `alias` holds exactly the points of `spec`, each once. */
async function expectExactly(qdrant: QdrantClient, alias: string, spec: ExportSpec): Promise<void> {
  const expected = sourceIds(spec);
  expect((await qdrant.count(alias, { exact: true })).count).toBe(expected.length);
  const info = await call('GET', `/api/v1/vectors/collections/${alias}`);
  expect(info.body.pointsCount).toBe(expected.length);
  const { points } = await qdrant.scroll(alias, { limit: expected.length + 10, with_payload: true });
  const ids = points.map((p) => p.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.toSorted()).toEqual(expected.map((id) => toPointId(id).id).toSorted());
  expect(points.map((p) => p.payload?.[ORIGINAL_ID_KEY]).toSorted()).toEqual(expected.toSorted());
}

/** Searches through `alias` by the vector `id` has in `spec`: that record must come first, as itself. */
async function expectFound(alias: string, spec: ExportSpec, id: string): Promise<void> {
  const found = await call('POST', '/api/v1/vectors/search', {
    collection: alias,
    vector: lastVector(spec, id),
    limit: 1,
  });
  expect(found.status).toBe(200);
  expect(found.body.results[0]).toMatchObject({ id });
  expect(found.body.results[0].score).toBeGreaterThan(0.999);
}

async function aliasTarget(qdrant: QdrantClient, alias: string): Promise<string | undefined> {
  const { aliases } = await qdrant.getAliases();
  return aliases.find((a) => a.alias_name === alias)?.collection_name;
}

describe('a migration while Qdrant answers 503 for a while', () => {
  // One chunk per batch: a worker takes a batch's chunks one after the other, and every chunk's
  // first receive must meet the fault at once.
  const ctx = withFaultyQdrant(
    'vp-migration-503-',
    { visibilityTimeoutSeconds: SLOW_VISIBILITY_SECONDS, batchSize: 1 },
    { timeoutSeconds: SLOW_TIMEOUT_SECONDS, isolate: true },
  );

  it('retries in the worker, is redelivered by SQS, and completes with exactly the expected points', async () => {
    const spec: ExportSpec = { vectors: 20, texts: 2, duplicates: 2, dimensions: DIM, seed: 3 };
    await upload('uploads/steady.jsonl', jsonlExport(spec));
    // Every upsert refused from the start; the window's length is set once the chunks are known.
    let window = Number.POSITIVE_INFINITY;
    ctx.proxy.fault = (req) =>
      upsertedIds(req) && ctx.proxy.faulted.length < window ? UNAVAILABLE : undefined;
    const started = await startMigration('uploads/steady.jsonl', 'steady');
    expect(started.chunks).toBeGreaterThan(3);
    // One refusal more than the chunks' first receives can absorb: some chunk must be redelivered.
    window = ATTEMPTS_PER_RECEIVE * started.chunks + 1;

    const job = await finished(started.id);
    expect(job.status, job.error).toBe('completed');
    expect(job.chunks).toEqual({ total: started.chunks, done: started.chunks, failed: 0 });
    expect(job.counts).toEqual({ records: 24, written: 24, rejected: 0 });
    expect(await aliasTarget(ctx.qdrant, 'steady')).toBe(job.collection);
    await expectExactly(ctx.qdrant, 'steady', spec);
    await expectFound('steady', spec, 'dep_task_1'); // a duplicated id: its last vector won
    await expectFound('steady', spec, 'dep_task_17');

    // The fault did happen, only to upserts, and outlasted one receive of some chunk.
    expect(ctx.proxy.faulted).toHaveLength(window);
    const refusalsPerChunk = new Map<string, number>();
    for (const req of ctx.proxy.faulted) {
      expect(req.status).toBe(503);
      const chunk = upsertedIds(req)!.join();
      refusalsPerChunk.set(chunk, (refusalsPerChunk.get(chunk) ?? 0) + 1);
    }
    expect(refusalsPerChunk.size).toBe(started.chunks);
    expect(Math.max(...refusalsPerChunk.values())).toBeGreaterThan(ATTEMPTS_PER_RECEIVE);
  }, 120_000);
});

describe('a poison chunk', () => {
  // Longer than any receive here (finalization included), so that only the poison is dead-lettered.
  const ctx = withFaultyQdrant('vp-migration-poison-', { visibilityTimeoutSeconds: 4 });

  async function queueDepth(url: string): Promise<number> {
    const { Attributes } = await ctx.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(Attributes?.ApproximateNumberOfMessages) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
    );
  }

  /** Waits until the queue holds exactly `n` messages (visible or in flight). */
  function depth(url: string, n: number): Promise<void> {
    return waitFor(`${n} message(s) in ${url}`, async () => {
      const now = await queueDepth(url);
      return now === n ? { done: undefined } : { last: now };
    });
  }

  it('ends in the DLQ, fails the job without switching the alias, and is redriven to completion', async () => {
    const { url, dlqUrl } = runtime.queueUrls.migrations!;
    // The live alias, from a first migration that goes well.
    const live: ExportSpec = { vectors: 10, texts: 0, dimensions: DIM, seed: 1 };
    await upload('uploads/ledger-v1.jsonl', jsonlExport(live));
    const first = await finished((await startMigration('uploads/ledger-v1.jsonl', 'ledger')).id);
    expect(first.status, first.error).toBe('completed');

    // Qdrant refuses every upsert holding one point, as it would a point it cannot take.
    const next: ExportSpec = { vectors: 24, texts: 2, duplicates: 2, dimensions: DIM, seed: 2 };
    const poison = toPointId('dep_task_13').id;
    let poisoned = true;
    ctx.proxy.fault = (req) =>
      poisoned && upsertedIds(req)?.includes(poison)
        ? { status: 400, error: `Wrong input: point ${poison} cannot be stored` }
        : undefined;
    await upload('uploads/ledger-v2.jsonl', jsonlExport(next));
    const started = await startMigration('uploads/ledger-v2.jsonl', 'ledger');
    expect(started.chunks).toBeGreaterThan(3);

    const failed = await finished(started.id);
    expect(failed.status).toBe('failed');
    const bad = failed.chunkList.filter((c) => c.status !== 'done');
    expect(bad).toHaveLength(1);
    const [chunk] = bad;
    expect(chunk).toMatchObject({ status: 'failed', error: expect.stringContaining('cannot be stored') });
    expect(failed.chunks).toEqual({ total: started.chunks, done: started.chunks - 1, failed: 1 });
    expect(failed.error).toMatch(new RegExp(`1 chunk\\(s\\) failed .*\\(${chunk!.index}\\)`));
    // Every receive was tried, each with one refused upsert (a 400 is not retried in the worker).
    expect(ctx.proxy.faulted).toHaveLength(MAX_RECEIVES);

    // The alias still serves the first migration.
    expect(await aliasTarget(ctx.qdrant, 'ledger')).toBe(first.collection);
    await expectExactly(ctx.qdrant, 'ledger', live);
    await expectFound('ledger', live, 'dep_task_3');

    // The message is dead-lettered by the receive after the last allowed one.
    await depth(dlqUrl, 1);
    await depth(url, 0);
    const { Messages: dead = [] } = await ctx.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    expect(dead.map((m) => JSON.parse(m.Body!))).toEqual([
      expect.objectContaining({ jobId: started.id, chunkIndex: chunk!.index }),
    ]);

    // Redrive once the fault is gone.
    poisoned = false;
    const redriven = await call('POST', `/api/v1/migrations/${started.id}/redrive`);
    expect(redriven).toMatchObject({
      status: 200,
      body: { resent: [chunk!.index], deadLettersRemoved: 1, job: { status: 'running' } },
    });
    // The redrive took the job's stale dead letter out (it would keep the DLQ alarm raised).
    expect(await queueDepth(dlqUrl)).toBe(0);
    const done = await finished(started.id);
    expect(done.status, done.error).toBe('completed');
    expect(done.chunks).toEqual({ total: started.chunks, done: started.chunks, failed: 0 });
    expect(done.counts).toEqual({ records: 28, written: 28, rejected: 0 });
    expect(done.previousCollection).toBe(first.collection);
    expect(await aliasTarget(ctx.qdrant, 'ledger')).toBe(done.collection);
    await expectExactly(ctx.qdrant, 'ledger', next);
    await expectFound('ledger', next, 'dep_task_13');
    await expectFound('ledger', next, 'dep_task_0');
    expect(ctx.proxy.faulted).toHaveLength(MAX_RECEIVES);

    // The old message replayed anyway (say, by an operator's SQS DLQ redrive before the API's)
    // finds its chunk recorded and changes nothing.
    await depth(url, 0);
    await ctx.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: dead[0]!.Body! }));
    await depth(url, 0);
    expect(await queueDepth(dlqUrl)).toBe(0);
    const after = (await call('GET', `/api/v1/migrations/${started.id}`)).body as JobView;
    expect(after).toMatchObject({ status: 'completed', counts: done.counts, chunks: done.chunks });
    await expectExactly(ctx.qdrant, 'ledger', next);
  }, 120_000);
});

describe("a restart after the queue's messages were lost", () => {
  let dataDir: string;
  const spec: ExportSpec = { vectors: 30, texts: 2, dimensions: DIM, seed: 5 };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-migration-restart-'));
  });

  afterAll(async () => {
    await runtime?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** The sweeper's scheduled run, as if it came `minutes` from now. */
  const tick = async (minutes: number) =>
    (await runtime.invoke('resumeStalledMigrations', {
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: new Date(Date.now() + minutes * 60_000).toISOString(),
      detail: {},
    })) as { resumed: Array<Record<string, unknown>> };

  it('the stalled job has its chunks sent again by the sweeper and completes exactly', async () => {
    // First run: no consumer, so every chunk message is still queued; then they are lost (purged:
    // the local queues are kept across restarts, as SQS keeps them, so losing them takes this).
    const { consumer: _, ...unconsumed } = manifest.queues.migrations;
    runtime = await startLocalRuntime({
      dataDir,
      port: 0,
      quiet: true,
      manifest: { ...manifest, queues: { ...manifest.queues, migrations: unconsumed } },
    });
    await upload('uploads/restart.jsonl', jsonlExport(spec));
    const started = await startMigration('uploads/restart.jsonl', 'restart');
    expect(started.chunks).toBeGreaterThan(3);
    const sqs = new SQSClient({
      region: runtime.region,
      endpoint: runtime.sqsEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await sqs.send(new PurgeQueueCommand({ QueueUrl: runtime.queueUrls.migrations!.url }));
    sqs.destroy();
    await runtime.stop();

    runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true });
    const stuck = (await call('GET', `/api/v1/migrations/${started.id}`)).body as JobView;
    expect(stuck).toMatchObject({ status: 'running', chunks: { done: 0, failed: 0 } });

    expect((await tick(1)).resumed).toEqual([]); // not stalled yet
    expect((await tick(10)).resumed).toMatchObject([
      { jobId: started.id, was: 'running', action: 'chunks re-sent', resent: started.chunks },
    ]);
    const done = await finished(started.id);
    expect(done.status, done.error).toBe('completed');
    expect(done.counts).toEqual({ records: 32, written: 32, rejected: 0 });
    expect(done.history?.map((h) => h.message)).toContainEqual(
      expect.stringMatching(
        new RegExp(`^stalled 10 min without progress \\(running\\); ${started.chunks} chunks re-sent$`),
      ),
    );
    const qdrant = new QdrantClient({ url: runtime.qdrantUrl, checkCompatibility: false });
    await expectExactly(qdrant, 'restart', spec);
  }, 60_000);
});
