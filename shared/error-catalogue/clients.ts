import { createEventBus, createStateStore } from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { EventPublisher } from '../events/publisher.ts';
import { ConfigStore, cachedConfig } from '../managers/config-store.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { getQdrantClient, vectorService, vectorServiceWithoutEmbedder } from '../vectors/clients.ts';
import type { VectorService } from '../vectors/service.ts';
import { TextCollection } from '../vectors/text-collection.ts';
import { ERRORS_COLLECTION, ErrorCatalogue } from './service.ts';

function build(config: Config, vectors: () => VectorService): ErrorCatalogue {
  const state = () => createStateStore(config);
  return new ErrorCatalogue({
    state,
    publisher: () => new EventPublisher(createEventBus(config), EVENT_SOURCE),
    options: () => cachedConfig('errors', () => new ConfigStore(state)),
    texts: () =>
      new TextCollection({ name: ERRORS_COLLECTION, vectors, qdrant: () => getQdrantClient(config.qdrant) }),
  });
}

/** The catalogue of the function that records failures (it embeds each new one's text). */
export function errorCatalogue(config: Config): ErrorCatalogue {
  return build(config, () => vectorService(config));
}

/**
 * The catalogue of functions that read and resolve (granted no `embedder` access): similar errors
 * are found from the stored vectors, so their bundles leave the embedders out.
 */
export function errorCatalogueReader(config: Config): ErrorCatalogue {
  return build(config, () => vectorServiceWithoutEmbedder(config));
}
