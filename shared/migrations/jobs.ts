import { ConflictError, NotFoundError, UpstreamError } from '../errors.ts';
import type { StateItem, StateStore } from '../ports.ts';
import {
  ACTIVE_PK,
  CHUNK_PREFIX,
  type ChunkRecord,
  chunkSk,
  INDEX_PK,
  indexSk,
  JOB_SK,
  type JobRecord,
  jobPk,
  MAX_HISTORY,
} from './model.ts';

const MAX_CAS_ATTEMPTS = 50;

/**
 * The job records in the state store: a job item and its chunk items under `migration#<id>`, and
 * an index item per job so that jobs can be listed newest first. Every write that may race another
 * worker is conditional on the version read.
 */
export class MigrationJobs {
  readonly #state: () => StateStore;
  readonly #now: () => string;

  /** `state` is called on each use: the store is built by the first operation that needs it. */
  constructor(state: () => StateStore, now: () => string) {
    this.#state = state;
    this.#now = now;
  }

  find(id: string): Promise<StateItem<JobRecord> | undefined> {
    return this.#state().get<JobRecord>(jobPk(id), JOB_SK);
  }

  async get(id: string): Promise<StateItem<JobRecord>> {
    const item = await this.find(id);
    if (!item) {
      throw new NotFoundError(`migration ${id} does not exist`, [
        { field: 'id', reason: 'no such migration' },
      ]);
    }
    return item;
  }

  /** Stores a new job; false when it exists already (another planner created it). */
  async create(job: JobRecord): Promise<boolean> {
    try {
      await this.#state().put(jobPk(job.id), JOB_SK, job, { expectedVersion: 0 });
      return true;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return false;
    }
  }

  /** Lists the job (the same item when written again). */
  async index(job: JobRecord): Promise<void> {
    await this.#state().put(INDEX_PK, indexSk(job.createdAt, job.id), { id: job.id });
  }

  /** Marks a job as possibly unfinished: the stall sweeper looks at it until it has ended. */
  async track(id: string): Promise<void> {
    await this.#state().put(ACTIVE_PK, id, { id });
  }

  async untrack(id: string): Promise<void> {
    await this.#state().delete(ACTIVE_PK, id);
  }

  /** The tracked jobs' ids, and since when each is tracked. */
  async tracked(): Promise<Array<{ id: string; since: string }>> {
    return (await this.#state().list<{ id: string }>(ACTIVE_PK)).map((i) => ({
      id: i.sk,
      since: i.updatedAt,
    }));
  }

  /** The latest jobs first. */
  async latest(limit: number): Promise<JobRecord[]> {
    const entries = await this.#state().list<{ id: string }>(INDEX_PK, { limit });
    const jobs = await Promise.all(entries.map((e) => this.find(e.value.id)));
    return jobs.flatMap((j) => (j ? [j.value] : []));
  }

  /**
   * Read-modify-write of the job item with optimistic concurrency (`updatedAt` set to now);
   * `undefined` from `change` means no write, and is answered.
   */
  async update(
    id: string,
    change: (job: JobRecord) => JobRecord | undefined,
  ): Promise<JobRecord | undefined> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.get(id);
      const next = change(current.value);
      if (!next) return undefined;
      next.updatedAt = this.#now();
      try {
        await this.#state().put(jobPk(id), JOB_SK, next, { expectedVersion: current.version });
        return next;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * (attempt + 1)));
      }
    }
    throw new UpstreamError(`migration ${id}: the job item stayed contended`, { retryable: true });
  }

  chunk(id: string, index: number): Promise<StateItem<ChunkRecord> | undefined> {
    return this.#state().get<ChunkRecord>(jobPk(id), chunkSk(index));
  }

  async chunks(id: string, limit?: number): Promise<ChunkRecord[]> {
    const items = await this.#state().list<ChunkRecord>(jobPk(id), {
      prefix: CHUNK_PREFIX,
      ...(limit ? { limit } : {}),
    });
    return items.map((i) => i.value);
  }

  /** Stores a chunk; with `expectedVersion` (0: absent) only over that version, else ConflictError. */
  async putChunk(id: string, chunk: ChunkRecord, expectedVersion?: number): Promise<void> {
    await this.#state().put(
      jobPk(id),
      chunkSk(chunk.index),
      chunk,
      expectedVersion === undefined ? {} : { expectedVersion },
    );
  }
}

/** Every chunk is either counted or failed for good. */
export function settled(job: JobRecord): boolean {
  return job.chunks.total > 0 && job.chunks.done + job.chunks.failed === job.chunks.total;
}

/** The job with `message` appended to its history (at most MAX_HISTORY entries, the latest). */
export function withNote(job: JobRecord, at: string, message: string): JobRecord {
  return { ...job, history: [...(job.history ?? []), { at, message }].slice(-MAX_HISTORY) };
}
