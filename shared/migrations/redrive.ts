import { ConflictError } from '../errors.ts';
import { hasBit, withBit } from './bits.ts';
import type { MigrationContext } from './context.ts';
import { finalize } from './finalize.ts';
import { ChunkMessageSchema, type ChunkRecord, type JobRecord } from './model.ts';
import { sendChunks } from './planner.ts';

/**
 * Sends again the chunks of a job that are not counted (failed ones are reset to pending), then
 * deletes the job's dead letters: they are stale once their chunks are sent again, and would
 * keep the dead-letter alarm raised.
 */
export async function redrive(
  ctx: MigrationContext,
  jobId: string,
): Promise<{ job: JobRecord; resent: number[]; deadLettersRemoved: number }> {
  const job = (await ctx.jobs.get(jobId)).value;
  // Every chunk recorded but the conclusion never written (its message dead-lettered): conclude now.
  if (job.status === 'finalizing') {
    return {
      job: await finalize(ctx, jobId),
      resent: [],
      deadLettersRemoved: await removeDeadLetters(ctx, jobId),
    };
  }
  if (job.status !== 'running' && !(job.status === 'failed' && job.chunks.failed > 0)) {
    throw new ConflictError(`migration ${jobId} is ${job.status}: it has no chunks to redrive`);
  }
  const chunks = await ctx.jobs.chunks(jobId);
  // Not counted into the job: failed, never delivered, or recorded but not counted (a worker
  // stopped in between; its message, delivered again, only counts it).
  const open = chunks.filter((c) => !hasBit(job.doneBits, c.index));
  for (const c of open.filter((c) => c.status === 'failed')) {
    const reset: ChunkRecord = { ...c, status: 'pending' };
    delete reset.error;
    await ctx.jobs.putChunk(jobId, reset);
  }
  await ctx.jobs.track(jobId); // a failed job was forgotten by the stall sweeper: it runs again
  const updated = await ctx.jobs.update(jobId, (j) => {
    let failedBits = j.failedBits;
    for (const c of open) failedBits = withBit(failedBits, c.index, false);
    const next: JobRecord = {
      ...j,
      status: j.status === 'failed' ? 'running' : j.status,
      failedBits,
      chunks: { ...j.chunks, failed: 0 },
    };
    delete next.error;
    return next;
  });
  await sendChunks(ctx, jobId, open);
  return {
    job: updated ?? job,
    resent: open.map((c) => c.index),
    deadLettersRemoved: await removeDeadLetters(ctx, jobId),
  };
}

async function removeDeadLetters(ctx: MigrationContext, jobId: string): Promise<number> {
  const deadLetters = ctx.deps.deadLetters?.();
  if (!deadLetters) return 0;
  return deadLetters.remove((body) => ChunkMessageSchema.safeParse(body).data?.jobId === jobId);
}
