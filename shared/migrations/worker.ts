import { ConflictError, NotFoundError } from '../errors.ts';
import type { StateItem } from '../ports.ts';
import { hasBit, withBit } from './bits.ts';
import { readChunk, writePoints } from './chunk-reader.ts';
import type { MigrationContext } from './context.ts';
import { finalize } from './finalize.ts';
import { settled } from './jobs.ts';
import {
  type ChunkMessage,
  type ChunkPoints,
  type ChunkRecord,
  chunkPointsKey,
  type JobRecord,
  MAX_REJECTS_PER_CHUNK,
} from './model.ts';

/** One record in this many is read back by verification (at least one per chunk). */
const SAMPLE_EVERY = 100;

/**
 * One chunk: fetch its range, parse, validate, embed text-only records, upsert, record the outcome
 * once. A chunk already recorded is not written again. On the message's last allowed receive a
 * failure marks the chunk failed before it is thrown (and the message dead-lettered). Answers the
 * records this delivery wrote and recorded: 0 when another delivery recorded the chunk.
 */
export async function processChunk(
  ctx: MigrationContext,
  message: ChunkMessage,
  receiveCount: number,
): Promise<number> {
  const job = await ctx.jobs.find(message.jobId);
  if (!job) throw new NotFoundError(`migration ${message.jobId} does not exist`);
  const chunk = await ctx.jobs.chunk(message.jobId, message.chunkIndex);
  if (!chunk) throw new NotFoundError(`migration ${message.jobId} has no chunk ${message.chunkIndex}`);
  if (chunk.value.start !== message.start || chunk.value.end !== message.end) {
    throw new ConflictError(`chunk ${message.chunkIndex}: the message's range differs from the plan`);
  }
  if (chunk.value.status === 'done') {
    // Recorded before: only make sure it was counted (a worker may have stopped in between).
    await count(ctx, job.value.id, chunk.value);
    return 0;
  }
  if (job.value.status !== 'running') return 0; // failed or finished meanwhile: nothing to add

  try {
    return await processOpenChunk(ctx, job.value, chunk);
  } catch (err) {
    // Whatever failed (S3, Qdrant, the state store), the last allowed receive settles the chunk
    // as failed before its message goes to the dead-letter queue: the job never hangs `running`.
    if (receiveCount >= ctx.deps.maxReceiveCount) await failChunk(ctx, job.value, chunk.value, err);
    throw err;
  }
}

async function processOpenChunk(
  ctx: MigrationContext,
  job: JobRecord,
  chunk: StateItem<ChunkRecord>,
): Promise<number> {
  const started = Date.now();
  // A newer upload under the same key is another job: this one must not read its bytes.
  const head = await ctx.deps.objects.head(job.key);
  if ((head?.etag ?? '').replaceAll('"', '') !== job.etag) {
    await failChunk(ctx, job, chunk.value, new Error('the export changed or vanished since it was planned'));
    return 0;
  }
  const result = await readChunk(ctx, job, chunk.value);
  const stillOpen = async () => (await ctx.jobs.chunk(job.id, chunk.value.index))?.value.status !== 'done';
  // Recorded by another delivery while this one waited to retry: that one stands.
  if (!(await writePoints(ctx, job, result.points, stillOpen))) return 0;
  const sample = result.points
    .filter((_, i) => i % SAMPLE_EVERY === 0)
    .map((p) => ({ id: p.id, offset: p.offset, vector: p.vector }));
  const pointsFile: ChunkPoints = { points: result.accepted, sample };
  await ctx.deps.objects.put(
    chunkPointsKey(job.id, chunk.value.index),
    JSON.stringify(pointsFile),
    'application/json',
  );
  const done: ChunkRecord = {
    ...chunk.value,
    status: 'done',
    counts: { records: result.records, written: result.accepted.length, rejected: result.rejects.length },
    rejects: result.rejects.slice(0, MAX_REJECTS_PER_CHUNK),
    ms: Date.now() - started,
  };
  delete done.error;
  try {
    await ctx.jobs.putChunk(job.id, done, chunk.version);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    // A duplicate delivery recorded it first: count it (idempotently), never twice.
    const now = await ctx.jobs.chunk(job.id, chunk.value.index);
    if (now?.value.status === 'done') await count(ctx, job.id, now.value);
    return 0;
  }
  await count(ctx, job.id, done);
  return result.accepted.length;
}

async function failChunk(ctx: MigrationContext, job: JobRecord, chunk: ChunkRecord, err: unknown) {
  const reason = err instanceof Error ? err.message : String(err);
  const current = await ctx.jobs.chunk(job.id, chunk.index);
  // Recorded meanwhile by a duplicate delivery that succeeded: that outcome stands.
  if (!current || current.value.status === 'done') return;
  try {
    await ctx.jobs.putChunk(job.id, { ...current.value, status: 'failed', error: reason }, current.version);
  } catch (conflict) {
    if (!(conflict instanceof ConflictError)) throw conflict;
    return;
  }
  const updated = await ctx.jobs.update(job.id, (j) =>
    hasBit(j.failedBits, chunk.index) || hasBit(j.doneBits, chunk.index)
      ? undefined
      : {
          ...j,
          failedBits: withBit(j.failedBits, chunk.index, true),
          chunks: { ...j.chunks, failed: j.chunks.failed + 1 },
        },
  );
  if (!updated) return;
  await ctx.publish('MigrationChunkFailed', { jobId: job.id, chunkIndex: chunk.index, reason });
  if (settled(updated)) await finalize(ctx, job.id);
}

/**
 * Adds a recorded chunk to the job's counts, once; the chunk that completes the job finalizes it.
 * A chunk that succeeds after it was failed (a duplicate or re-sent message) is no longer failed.
 */
async function count(ctx: MigrationContext, jobId: string, chunk: ChunkRecord): Promise<void> {
  const counts = chunk.counts!;
  const updated = await ctx.jobs.update(jobId, (j) => {
    if (hasBit(j.doneBits, chunk.index)) return undefined;
    const wasFailed = hasBit(j.failedBits, chunk.index);
    return {
      ...j,
      doneBits: withBit(j.doneBits, chunk.index, true),
      failedBits: withBit(j.failedBits, chunk.index, false),
      chunks: { ...j.chunks, done: j.chunks.done + 1, failed: j.chunks.failed - (wasFailed ? 1 : 0) },
      counts: {
        records: j.counts.records + counts.records,
        written: j.counts.written + counts.written,
        rejected: j.counts.rejected + counts.rejected,
      },
    };
  });
  if (updated) {
    await ctx.publish('MigrationChunkCompleted', {
      jobId,
      chunkIndex: chunk.index,
      ...counts,
      done: updated.chunks.done,
      total: updated.chunks.total,
    });
  }
  const job = updated ?? (await ctx.jobs.get(jobId)).value;
  if (settled(job) && (job.status === 'running' || job.status === 'finalizing')) await finalize(ctx, jobId);
}
