import { manifest } from '../../infra/manifest.ts';
import {
  createEventBus,
  createMigrationDeadLetters,
  createMigrationQueue,
  createObjectStore,
  createStateStore,
} from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { createEmbedder } from '../embeddings/index.ts';
import { getQdrantClient } from '../vectors/clients.ts';
import { MigrationService } from './service.ts';

/** The migration service of a configuration, on the platform's adapters. */
export function migrationService(config: Config): MigrationService {
  return new MigrationService({
    objects: createObjectStore(config),
    queue: createMigrationQueue(config),
    bus: createEventBus(config),
    state: createStateStore(config),
    qdrant: getQdrantClient(config.qdrant),
    embedder: () => createEmbedder(config.embedder),
    eventSource: manifest.eventSource,
    maxReceiveCount: manifest.queues.migrations.maxReceiveCount,
    // Only the redrive function is given the dead-letter queue (and the right to read it).
    ...(config.migrationDeadLetterQueueUrl ? { deadLetters: () => createMigrationDeadLetters(config) } : {}),
  });
}
