import type { Readable } from 'node:stream';
import type { QdrantClient } from '@qdrant/js-client-rest';
import type { EventDetail, EventType } from '../events/catalogue.ts';
import { EventPublisher } from '../events/publisher.ts';
import type { MigrationService } from '../migrations/service.ts';
import type { EventBus, ObjectStore, Queue, StateStore } from '../ports.ts';

/** The exports bucket as backups use it: objects, plus uploads streamed in parts. */
export interface BackupObjects extends ObjectStore {
  /** Streams `body` into `key` (a multipart upload: memory is a few parts, whatever the size). */
  upload(key: string, body: Readable, contentType: string): Promise<void>;
}

/** What backups and restores run on. An adapter is only read when a step uses it. */
export interface BackupDeps {
  objects: BackupObjects;
  /** The backups queue: one message per backup or restore to run. */
  queue: Queue;
  bus: EventBus;
  state: StateStore;
  qdrant: QdrantClient;
  /** The migration service a restore hands its JSONL to (and reads its job from). */
  migrations: () => MigrationService;
  eventSource: string;
  /** Points per scroll request. */
  pageSize?: number;
  now?: () => Date;
}

export interface BackupContext {
  deps: BackupDeps;
  now(): Date;
  publish<T extends EventType>(type: T, detail: EventDetail<T>): Promise<void>;
}

export function createContext(deps: BackupDeps): BackupContext {
  let publisher: EventPublisher | undefined;
  return {
    deps,
    now: () => deps.now?.() ?? new Date(),
    publish: (type, detail) => {
      publisher ??= new EventPublisher(deps.bus, deps.eventSource);
      return publisher.publish(type, detail);
    },
  };
}
