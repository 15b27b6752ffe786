import { createEventBus, createStateStore } from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { EventPublisher } from '../events/publisher.ts';
import { ConfigStore, cachedConfig } from '../managers/config-store.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { getQdrantClient, vectorService } from '../vectors/clients.ts';
import { TextCollection } from '../vectors/text-collection.ts';
import { DependencyService } from './service.ts';

/** The collection of the indexed packages' embeddings. */
export const DEPENDENCY_COLLECTION = 'platform-dependencies';

/** The dependency service as a function's configuration builds it (edges built on first use). */
export function dependencyService(config: Config): DependencyService {
  const state = () => createStateStore(config);
  return new DependencyService({
    state,
    publisher: () => new EventPublisher(createEventBus(config), EVENT_SOURCE),
    packages: () =>
      new TextCollection({
        name: DEPENDENCY_COLLECTION,
        vectors: () => vectorService(config),
        qdrant: () => getQdrantClient(config.qdrant),
      }),
    options: () => cachedConfig('dependencies', () => new ConfigStore(state)),
  });
}
