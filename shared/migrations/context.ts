import type { QdrantClient } from '@qdrant/js-client-rest';
import type { Embedder } from '../embeddings/embedder.ts';
import type { EventDetail, EventType } from '../events/catalogue.ts';
import { EventPublisher } from '../events/publisher.ts';
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
  /** Through the one typed publisher: a catalogue type and a detail its schema accepts. */
  publish<T extends EventType>(type: T, detail: EventDetail<T>): Promise<void>;
}

export function createContext(deps: MigrationDeps): MigrationContext {
  const now = () => (deps.now?.() ?? new Date()).toISOString();
  let publisher: EventPublisher | undefined;
  return {
    deps,
    jobs: new MigrationJobs(() => deps.state, now),
    now,
    // The bus adapter is built at the first event only (a stage that publishes nothing needs no grant).
    publish: (type, detail) => {
      publisher ??= new EventPublisher(deps.bus, deps.eventSource);
      return publisher.publish(type, detail);
    },
  };
}
