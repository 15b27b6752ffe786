import {
  createEventBus,
  createMigrationDeadLetters,
  createMigrationQueue,
  createObjectStore,
  createStateStore,
} from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { createEmbedder } from '../embeddings/index.ts';
import { withLazy } from '../lazy.ts';
import { getQdrantClient } from '../vectors/clients.ts';
import { MigrationService } from './service.ts';
import { EVENT_SOURCE, MIGRATION_QUEUE } from './settings.ts';

/**
 * The migration service of a configuration, on the platform's adapters. Each adapter is built when
 * first used: a function is granted only what its operations touch (the worker sends no message,
 * listing jobs reads no export), so building one it does not use would fail for want of its variable.
 */
export function migrationService(config: Config): MigrationService {
  return new MigrationService(
    withLazy(
      {
        embedder: () => createEmbedder(config.embedder),
        eventSource: EVENT_SOURCE,
        maxReceiveCount: MIGRATION_QUEUE.maxReceiveCount,
        // Only the redrive function is given the dead-letter queue (and the right to read it).
        ...(config.migrationDeadLetterQueueUrl
          ? { deadLetters: () => createMigrationDeadLetters(config) }
          : {}),
      },
      {
        objects: () => createObjectStore(config),
        queue: () => createMigrationQueue(config),
        bus: () => createEventBus(config),
        state: () => createStateStore(config),
        qdrant: () => getQdrantClient(config.qdrant),
      },
    ),
  );
}
