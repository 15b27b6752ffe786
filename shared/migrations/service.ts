import { createContext, type MigrationContext, type MigrationDeps } from './context.ts';
import type { ChunkMessage, ChunkRecord, CreateMigrationBody, JobRecord } from './model.ts';
import { start } from './planner.ts';
import { redrive } from './redrive.ts';
import { resumeStalled, type StalledSweep } from './resume.ts';
import { rollback } from './rollback.ts';
import { processChunk } from './worker.ts';

export type { MigrationDeps } from './context.ts';
export type { MigrationReport } from './report.ts';
export type { ResumedJob, StalledSweep } from './resume.ts';

/**
 * The migration of an export into Qdrant, as a job: the planner splits the export into byte
 * ranges and fans them out; workers write their range into a fresh collection and record their
 * outcome; the worker that records the last chunk verifies the whole and switches the target alias.
 * Every step is idempotent (deterministic ids, conditional state writes), so any message may be
 * delivered twice and any step retried. Each stage is a module of its own; this is their entry.
 */

/** Chunks listed in a job view. */
const MAX_LISTED_CHUNKS = 1000;

/** A job as the API shows it: without the bookkeeping bitmaps. */
export type PublicJob = Omit<JobRecord, 'doneBits' | 'failedBits'>;

export function publicJob(job: JobRecord): PublicJob {
  const { doneBits: _done, failedBits: _failed, ...rest } = job;
  return rest;
}

export interface JobView extends PublicJob {
  chunkList: Array<Pick<ChunkRecord, 'index' | 'status' | 'plannedRecords' | 'counts' | 'error'>>;
}

export class MigrationService {
  readonly #ctx: MigrationContext;

  constructor(deps: MigrationDeps) {
    this.#ctx = createContext(deps);
  }

  /** Creates (or finds) the job of an export and plans it (see `planner.ts`). */
  start(input: CreateMigrationBody): Promise<{ job: JobRecord; created: boolean }> {
    return start(this.#ctx, input);
  }

  /** One chunk's message (see `worker.ts`). */
  /** The records this delivery wrote (0 when the chunk was recorded before). */
  processChunk(message: ChunkMessage, receiveCount: number): Promise<number> {
    return processChunk(this.#ctx, message, receiveCount);
  }

  rollback(jobId: string): Promise<JobRecord> {
    return rollback(this.#ctx, jobId);
  }

  redrive(jobId: string): Promise<{ job: JobRecord; resent: number[]; deadLettersRemoved: number }> {
    return redrive(this.#ctx, jobId);
  }

  /** Resumes the jobs stalled `stalledAfterMs` or more at `now` (see `resume.ts`). */
  resumeStalled(options: { now: Date; stalledAfterMs: number }): Promise<StalledSweep> {
    return resumeStalled(this.#ctx, options);
  }

  async get(jobId: string): Promise<JobView> {
    const job = (await this.#ctx.jobs.get(jobId)).value;
    const chunks = await this.#ctx.jobs.chunks(jobId, MAX_LISTED_CHUNKS);
    return {
      ...publicJob(job),
      chunkList: chunks.map((c) => ({
        index: c.index,
        status: c.status,
        plannedRecords: c.plannedRecords,
        ...(c.counts ? { counts: c.counts } : {}),
        ...(c.error ? { error: c.error } : {}),
      })),
    };
  }

  /** The latest jobs first. */
  async list(limit: number): Promise<PublicJob[]> {
    return (await this.#ctx.jobs.latest(limit)).map(publicJob);
  }
}
