import { createEventBus, createFunctionInvoker, createStateStore } from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { EventPublisher } from '../events/publisher.ts';
import { once } from '../lazy.ts';
import { ConfigStore, cachedConfig } from '../managers/config-store.ts';
import { Coordinator } from '../managers/coordinator.ts';
import type { ManagerDeclaration } from '../managers/declaration.ts';
import { MANAGER_ENV } from '../managers/environment.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { parseWith } from '../validation.ts';
import { getQdrantClient, vectorService } from '../vectors/clients.ts';
import { TextCollection } from '../vectors/text-collection.ts';
import { IndexedPlanSchema } from './model.ts';
import { type PlanIndexer, TEMPLATES_COLLECTION, TemplateService } from './service.ts';

/**
 * How long the roadmap's `index` may take: the templates function's own 29 s less its other
 * calls (the coordinator's `checkTimeoutMs` is for health checks, not for indexing a plan).
 */
const INDEX_TIMEOUT_MS = 25_000;

/**
 * The roadmap manager's `index` action, called as the coordinator calls actions: refused (503)
 * while the roadmap is stopped, its typed errors (a 400 naming the plan's problem) answered as is.
 * The function knows the roadmap's contract function only (`manager:roadmap:invoke`).
 */
function roadmapIndexer(config: Config, roadmap: ManagerDeclaration): PlanIndexer {
  const coordinator = new Coordinator({
    declarations: [roadmap],
    functionNames: JSON.parse(process.env[MANAGER_ENV.functions] ?? '{}') as Record<string, string>,
    invoker: createFunctionInvoker,
    state: () => createStateStore(config),
    checkTimeoutMs: INDEX_TIMEOUT_MS,
  });
  return {
    async index(input, by) {
      const result = await coordinator.action(roadmap.id, 'index', input, by);
      return parseWith(IndexedPlanSchema, result, 'roadmap');
    },
  };
}

/**
 * The template service as a function's configuration builds it (edges built on first use). With
 * the roadmap's declaration it can instantiate plans; without (the contract function), it cannot.
 */
export function templateService(config: Config, roadmap?: ManagerDeclaration): TemplateService {
  const state = () => createStateStore(config);
  return new TemplateService({
    state,
    collection: once(
      () =>
        new TextCollection({
          name: TEMPLATES_COLLECTION,
          vectors: once(() => vectorService(config)),
          qdrant: () => getQdrantClient(config.qdrant),
        }),
    ),
    publisher: () => new EventPublisher(createEventBus(config), EVENT_SOURCE),
    roadmap: () => {
      if (!roadmap) throw new Error('this function cannot reach the roadmap manager');
      return roadmapIndexer(config, roadmap);
    },
    options: () => cachedConfig('templates', () => new ConfigStore(state)),
  });
}
