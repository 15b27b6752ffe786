import { hasBit } from './bits.ts';
import type { MigrationContext } from './context.ts';
import { finalize } from './finalize.ts';
import { settled, withNote } from './jobs.ts';
import type { JobRecord, JobStatus } from './model.ts';
import { dispatch, planOrFail, sendChunks } from './planner.ts';
import { PLANNER_TIMEOUT_SECONDS } from './settings.ts';

/**
 * Stall detection: a job whose messages were lost (a local runtime killed mid-migration: its SQS
 * lives in memory) or whose planner died before sending them would stay `planning` or `running`
 * for ever. The sweeper finds such jobs and does again what was lost; every step it repeats is
 * idempotent, so resuming a job that was only slow costs repeated work, never wrong counts.
 */

export interface ResumedJob {
  jobId: string;
  /** Its status when found stalled. */
  was: JobStatus;
  stalledMs: number;
  action: 'planned again' | 'chunks re-sent' | 'concluded';
  /** Chunks sent again. */
  resent: number;
  /** Its status afterwards. */
  status: JobStatus;
  /** Why resuming failed (the job stays stalled: the next sweep tries again). */
  error?: string;
}

const ENDED: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'rolled-back']);

/** A sweep's outcome: the stalled jobs it resumed (or failed to), and every job not ended yet. */
export interface StalledSweep {
  resumed: ResumedJob[];
  /** Planning or running, stalled or not, as the sweep found them. */
  inProgress: number;
}

export async function resumeStalled(
  ctx: MigrationContext,
  options: { now: Date; stalledAfterMs: number },
): Promise<StalledSweep> {
  const stalled: Array<{ job: JobRecord; stalledMs: number }> = [];
  let inProgress = 0;
  const idle = (since: string) => options.now.getTime() - Date.parse(since);
  // A planner records nothing while it scans: it is only known dead once past its timeout.
  const plannerTimeoutMs = Math.max(options.stalledAfterMs, PLANNER_TIMEOUT_SECONDS * 1000);
  for (const { id, since } of await ctx.jobs.tracked()) {
    const job = (await ctx.jobs.find(id))?.value;
    // Ended (a redrive tracks it again), or never created by a planner that tracked it and died.
    if (job ? ENDED.has(job.status) : idle(since) >= plannerTimeoutMs) await ctx.jobs.untrack(id);
    if (!job || ENDED.has(job.status)) continue;
    inProgress += 1;
    const stalledMs = idle(job.updatedAt);
    if (stalledMs >= (job.status === 'planning' ? plannerTimeoutMs : options.stalledAfterMs)) {
      stalled.push({ job, stalledMs });
    }
  }
  // Re-planning reads a whole export: the quick resumptions go first.
  stalled.sort((a, b) => Number(a.job.status === 'planning') - Number(b.job.status === 'planning'));
  const resumed: ResumedJob[] = [];
  for (const { job, stalledMs } of stalled) resumed.push(await resume(ctx, job, stalledMs));
  return { resumed, inProgress };
}

async function resume(ctx: MigrationContext, job: JobRecord, stalledMs: number): Promise<ResumedJob> {
  const action: ResumedJob['action'] =
    job.status === 'planning'
      ? 'planned again'
      : job.status === 'running' && !settled(job)
        ? 'chunks re-sent'
        : 'concluded';
  const base = { jobId: job.id, was: job.status, stalledMs, action };
  let resent: number;
  try {
    resent = await perform(ctx, job, action);
  } catch (err) {
    // Nothing is noted, so the job still looks stalled to the next sweep, which tries again.
    return { ...base, resent: 0, status: job.status, error: (err as Error).message };
  }
  const done = {
    'planned again': `planned again, ${resent} chunks sent`,
    'chunks re-sent': `${resent} chunks re-sent`,
    concluded: 'concluded',
  }[action];
  const message = `stalled ${duration(stalledMs)} without progress (${job.status}); ${done}`;
  const noted = await ctx.jobs.update(job.id, (j) => withNote(j, ctx.now(), message));
  return { ...base, resent, status: noted?.status ?? job.status };
}

/** Does again what was lost; answers how many chunk messages were sent. */
async function perform(ctx: MigrationContext, job: JobRecord, action: ResumedJob['action']): Promise<number> {
  if (action === 'planned again') {
    const planned = await planOrFail(ctx, job);
    return planned.status === 'failed' ? 0 : planned.chunks.total;
  }
  if (action === 'chunks re-sent') {
    // Counted, or failed for good (that waits for a redrive): the others may have been lost.
    const open = (await ctx.jobs.chunks(job.id)).filter(
      (c) => !hasBit(job.doneBits, c.index) && !hasBit(job.failedBits, c.index),
    );
    if (job.dispatched) await sendChunks(ctx, job.id, open);
    else await dispatch(ctx, job, open); // the planner died before sending: MigrationStarted too
    return open.length;
  }
  // Every chunk recorded but never concluded, or a conclusion interrupted (`finalizing`).
  await finalize(ctx, job.id);
  return 0;
}

function duration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes >= 1 ? `${minutes} min` : `${Math.round(ms / 1000)} s`;
}
