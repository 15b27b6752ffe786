import {
  createEventBus,
  createEventSourceSwitch,
  createFunctionInvoker,
  createStateStore,
} from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { EventPublisher } from '../events/publisher.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { ConfigStore, cachedConfig } from './config-store.ts';
import { Coordinator } from './coordinator.ts';
import type { ManagerDeclaration } from './declaration.ts';
import { MANAGER_ENV } from './environment.ts';

/**
 * The coordinator of a function, on the platform's adapters, from its environment: the managers'
 * functions (`managers:invoke`), their event sources (`managers:control`, the API only), and the
 * coordinator's configuration (each call's time bound), read through the configuration cache.
 */
export async function coordinatorOf(
  config: Config,
  declarations: readonly ManagerDeclaration[],
): Promise<Coordinator> {
  const state = () => createStateStore(config);
  const { checkTimeoutMs } = await cachedConfig('central-coordinator', () => new ConfigStore(state));
  const sources = process.env[MANAGER_ENV.eventSources];
  return new Coordinator({
    declarations,
    functionNames: JSON.parse(process.env[MANAGER_ENV.functions] ?? '{}') as Record<string, string>,
    ...(sources
      ? {
          eventSources: JSON.parse(sources) as Record<string, string[]>,
          eventSourceSwitch: createEventSourceSwitch,
        }
      : {}),
    invoker: createFunctionInvoker,
    state,
    ...(config.eventBusName
      ? { publisher: () => new EventPublisher(createEventBus(config), EVENT_SOURCE) }
      : {}),
    checkTimeoutMs,
  });
}
