import { ConflictError, NotFoundError } from '../errors.ts';
import { DETECT_HEAD_BYTES, detectFormat } from '../exports/detect.ts';
import type { ExportFormat } from '../exports/formats.ts';
import { parseChunk, type RecordReject } from '../exports/records.ts';
import { type ChunkPlan, planChunks } from '../exports/scanner.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';
import { forEachLimit } from './bits.ts';
import { conclude } from './conclusion.ts';
import type { MigrationContext } from './context.ts';
import {
  type ChunkMessage,
  type ChunkRecord,
  type CreateMigrationBody,
  type JobRecord,
  jobIdOf,
} from './model.ts';

/**
 * The planner: finds or creates the job of an export, splits the export into byte ranges of whole
 * records, creates the fresh collection and sends one message per chunk.
 */

/** Chunks read while looking for the first vector (beyond, an export is taken as text only). */
const SIZE_PROBE_CHUNKS = 8;
const STATE_CONCURRENCY = 16;

/** A planning failure that retrying cannot fix: the job is recorded as failed with this reason. */
class PlanError extends Error {}

/**
 * Creates (or finds) the job for an export and plans it: the same object version and settings
 * always give the same job, so this is safe to call again for a re-notified upload. A job left in
 * `planning` by an interrupted planner is planned again; every planning step tolerates a repeat.
 */
export async function start(
  ctx: MigrationContext,
  input: CreateMigrationBody,
): Promise<{ job: JobRecord; created: boolean }> {
  const head = await ctx.deps.objects.head(input.key);
  if (!head) {
    throw new NotFoundError(`export "${input.key}" does not exist`, [
      { field: 'key', reason: 'no such object in the exports bucket' },
    ]);
  }
  const etag = (head.etag ?? '').replaceAll('"', '');
  const id = jobIdOf({ key: input.key, etag, target: input.collection, dryRun: input.dryRun });
  const existing = await ctx.jobs.find(id);
  if (existing?.value.status === 'running' && !existing.value.dispatched) {
    const open = (await ctx.jobs.chunks(id)).filter((c) => c.status !== 'done');
    return { job: await dispatch(ctx, existing.value, open), created: false };
  }
  if (existing && existing.value.status !== 'planning') return { job: existing.value, created: false };

  const now = ctx.now();
  const job: JobRecord = existing?.value ?? {
    id,
    key: input.key,
    etag,
    size: head.size,
    ...(input.format ? { format: input.format } : {}),
    target: input.collection,
    collection: `${input.collection}__${id}`,
    dryRun: input.dryRun,
    rejectThreshold: input.rejectThreshold,
    chunkBytes: input.chunkBytes,
    status: 'planning',
    plannedRecords: 0,
    chunks: { total: 0, done: 0, failed: 0 },
    doneBits: '',
    failedBits: '',
    counts: { records: 0, written: 0, rejected: 0 },
    planRejects: [],
    createdAt: now,
    updatedAt: now,
  };
  // Tracked before it exists: a planner that dies right after creating it leaves it where the
  // stall sweeper looks (which forgets an id whose job never came to be).
  await ctx.jobs.track(id);
  // Another planner created it a moment ago: that one plans.
  if (!existing && !(await ctx.jobs.create(job)))
    return { job: (await ctx.jobs.get(id)).value, created: false };
  // Rewritten by a resumed planner too (same item): a job is listed even if the first attempt died here.
  await ctx.jobs.index(job);
  return { job: await planOrFail(ctx, job), created: !existing };
}

/**
 * Plans a job in `planning`. One the export rules out ends failed, with the reason and its report;
 * a transient failure is thrown and leaves the job in `planning` for a retry.
 */
export async function planOrFail(ctx: MigrationContext, job: JobRecord): Promise<JobRecord> {
  try {
    return await plan(ctx, job);
  } catch (err) {
    if (!(err instanceof PlanError)) throw err;
    return conclude(ctx, job, { reason: err.message, rejects: [] });
  }
}

/** Plans a job in `planning`; throws PlanError when the export cannot be migrated. */
async function plan(ctx: MigrationContext, job: JobRecord): Promise<JobRecord> {
  const { objects } = ctx.deps;
  if (job.size === 0) throw new PlanError('the export is empty');
  let format = job.format;
  if (!format) {
    const head = await objects.get(job.key, { start: 0, end: Math.min(job.size, DETECT_HEAD_BYTES) - 1 });
    const detected = detectFormat(head);
    if ('error' in detected) throw new PlanError(`the export's format is not recognised: ${detected.error}`);
    format = detected.format;
  }

  const scan = planChunks(await objects.stream(job.key), { format, targetChunkBytes: job.chunkBytes });
  const chunks: ChunkPlan[] = [];
  let step = await scan.next();
  while (!step.done) {
    chunks.push(step.value);
    step = await scan.next();
  }
  const summary = step.value;
  if (summary.error) {
    throw new PlanError(
      `the export is malformed at byte ${summary.error.offset}: ${summary.error.message} (${summary.records} records before it)`,
    );
  }
  if (summary.bytes !== job.size) {
    throw new PlanError(
      `read ${summary.bytes} bytes but the object has ${job.size}: it changed while being planned`,
    );
  }
  if (chunks.length === 0) throw new PlanError('the export holds no records');
  const planRejects: RecordReject[] = summary.oversized.samples.map((s) => ({
    offset: s.offset,
    reason: `the record is ${s.bytes} bytes, more than a worker takes`,
  }));

  const vectorSize = await measureVectors(ctx, job, format, chunks, summary.metadata);
  if (!job.dryRun) await createCollection(ctx, job, vectorSize);

  await forEachLimit(chunks, STATE_CONCURRENCY, async (chunk) => {
    const item: ChunkRecord = {
      index: chunk.index,
      start: chunk.start,
      end: chunk.end,
      plannedRecords: chunk.records,
      status: 'pending',
    };
    try {
      await ctx.jobs.putChunk(job.id, item, 0);
    } catch (err) {
      // Written by an earlier attempt, and maybe already done by a worker: left as it is.
      if (!(err instanceof ConflictError)) throw err;
    }
  });

  const startedAt = ctx.now();
  const running = await ctx.jobs.update(job.id, (j) =>
    j.status !== 'planning'
      ? undefined
      : {
          ...j,
          format,
          vectorSize,
          status: 'running',
          plannedRecords: summary.records + summary.oversized.count,
          chunks: { total: chunks.length, done: 0, failed: 0 },
          counts: { records: summary.oversized.count, written: 0, rejected: summary.oversized.count },
          planRejects,
          startedAt,
        },
  );
  if (!running) return (await ctx.jobs.get(job.id)).value;
  return dispatch(ctx, running, chunks);
}

/**
 * Sends one message per chunk, then marks the job dispatched. A planner that died between its
 * `running` write and this is resumed by the next `start` of the same job, which sends again
 * the chunks not yet recorded (workers take a repeated message in their stride).
 */
export async function dispatch(
  ctx: MigrationContext,
  job: JobRecord,
  chunks: ReadonlyArray<Pick<ChunkPlan, 'index' | 'start' | 'end'>>,
): Promise<JobRecord> {
  await sendChunks(ctx, job.id, chunks);
  const dispatched = await ctx.jobs.update(job.id, (j) =>
    j.dispatched ? undefined : { ...j, dispatched: true },
  );
  if (!dispatched) return (await ctx.jobs.get(job.id)).value;
  await ctx.publish('MigrationStarted', {
    jobId: job.id,
    key: job.key,
    target: job.target,
    collection: job.collection,
    format: job.format,
    chunks: job.chunks.total,
    records: job.plannedRecords,
    dryRun: job.dryRun,
  });
  return dispatched;
}

/** One message per chunk: a pointer to its byte range, never its records. */
export async function sendChunks(
  ctx: MigrationContext,
  jobId: string,
  chunks: ReadonlyArray<Pick<ChunkPlan, 'index' | 'start' | 'end'>>,
): Promise<void> {
  await ctx.deps.queue.send(
    chunks.map((c) => ({
      body: { jobId, chunkIndex: c.index, start: c.start, end: c.end } satisfies ChunkMessage,
    })),
  );
}

/** The metadata's `vectorDimension`, else the first vector found, else the embedder's size. */
async function measureVectors(
  ctx: MigrationContext,
  job: JobRecord,
  format: ExportFormat,
  chunks: ChunkPlan[],
  metadata: Record<string, unknown> | undefined,
): Promise<number> {
  const declared = metadata?.vectorDimension ?? metadata?.vector_dimension;
  if (typeof declared === 'number' && Number.isSafeInteger(declared) && declared > 0) return declared;
  for (const chunk of chunks.slice(0, SIZE_PROBE_CHUNKS)) {
    const bytes = await ctx.deps.objects.get(job.key, { start: chunk.start, end: chunk.end - 1 });
    const { records } = parseChunk(bytes, { format, startOffset: chunk.start });
    const withVector = records.find((r) => r.vector !== undefined);
    if (withVector) return withVector.vector!.length;
  }
  return ctx.deps.embedder().dimensions;
}

async function createCollection(ctx: MigrationContext, job: JobRecord, size: number): Promise<void> {
  const { qdrant } = ctx.deps;
  // Found now rather than after every chunk is written: the alias switch could never happen.
  const { collections } = await qdrantCall({}, () => qdrant.getCollections());
  if (collections.some((c) => c.name === job.target)) {
    throw new PlanError(
      `a collection is named "${job.target}", so no alias can take that name: migrate into another target, or rename or delete that collection`,
    );
  }
  const embedder = ctx.deps.embedder();
  // Recorded like the vector API records it, so text can be searched through the alias later.
  const embedding =
    size === embedder.dimensions ? { model: embedder.model, dimensions: embedder.dimensions } : undefined;
  try {
    await qdrantCall({ field: 'collection' }, () =>
      qdrant.createCollection(job.collection, {
        vectors: { size, distance: 'Cosine' },
        metadata: { ...(embedding ? { embedding } : {}), migration: { jobId: job.id, key: job.key } },
      }),
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    // Created by an earlier attempt of this planner: it must be the collection this job needs.
    const info = await qdrantCall({ collection: job.collection }, () => qdrant.getCollection(job.collection));
    const existing = (info.config.params.vectors as { size?: unknown } | undefined)?.size;
    if (existing !== size) {
      throw new PlanError(`collection "${job.collection}" exists with vectors of ${String(existing)}`);
    }
  }
}
