import type { QdrantClient } from '@qdrant/js-client-rest';
import type { Embedder } from '../embeddings/embedder.ts';
import type { DeadLetters, EventBus, ObjectStore, Queue, StateStore } from '../ports.ts';
import { MigrationJobs } from './jobs.ts';

/** What the migration stages run on. An adapter is only read when a stage uses it. */
export interface MigrationDeps {
  objects: ObjectStore;
  queue: Queue;
  bus: EventBus;
  state: StateStore;
  qdrant: QdrantClient;
  /** Built only when text must be embedded or a collection sized. */
  embedder: () => Embedder;
  eventSource: string;
  /** Receives of a message after which the queue dead-letters it. */
  maxReceiveCount: number;
  /** The queue's dead letters; only a redrive uses them (built lazily: only it may read them). */
  deadLetters?: () => DeadLetters;
  /** Waits before retrying a transient Qdrant failure inside a worker. */
  retryDelaysMs?: readonly number[];
  /** Points per upsert call. */
  upsertBatch?: number;
  now?: () => Date;
}

/** What every stage of a job (planner, worker, finalizer, rollback, redrive) is given. */
export interface MigrationContext {
  deps: MigrationDeps;
  jobs: MigrationJobs;
  /** The current instant, ISO 8601. */
  now(): string;
  publish(detailType: string, detail: Record<string, unknown>): Promise<void>;
}

export function createContext(deps: MigrationDeps): MigrationContext {
  const now = () => (deps.now?.() ?? new Date()).toISOString();
  return {
    deps,
    jobs: new MigrationJobs(() => deps.state, now),
    now,
    publish: async (detailType, detail) => {
      await deps.bus.publish([{ source: deps.eventSource, detailType, detail }]);
    },
  };
}
