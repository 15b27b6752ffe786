import { createObjectStore, createStateStore } from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { createEmbedder } from '../embeddings/index.ts';
import { getQdrantClient } from '../vectors/clients.ts';
import { PlanService } from './service.ts';

/**
 * Every adapter is built on first use, so a function needs the configuration (and access) of the
 * adapters it touches only: listing plans and reading progress, the state store alone.
 */

/** The plan service of a function that embeds (index, search). */
export function planService(config: Config): PlanService {
  return new PlanService({
    qdrant: () => getQdrantClient(config.qdrant),
    embedder: () => createEmbedder(config.embedder),
    state: () => createStateStore(config),
    objects: () => createObjectStore(config),
  });
}

/**
 * The plan service of a function that only reads or deletes (granted no `embedder` access): its
 * bundle leaves out the embedders.
 */
export function planServiceWithoutEmbedder(config: Config): PlanService {
  return new PlanService({
    qdrant: () => getQdrantClient(config.qdrant),
    embedder: () => {
      throw new Error('this function has no embedder: build its service with planService()');
    },
    state: () => createStateStore(config),
    objects: () => createObjectStore(config),
  });
}
