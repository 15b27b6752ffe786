import { createEventBus, createStateStore, createUserDirectory } from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { EventPublisher } from '../events/publisher.ts';
import { ConfigStore, cachedConfig } from '../managers/config-store.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { SecurityService } from './service.ts';

/** The security service as a function's configuration builds it (edges built on first use). */
export function securityService(config: Config): SecurityService {
  const state = () => createStateStore(config);
  return new SecurityService({
    state,
    // Imported when a rotation needs it: the audit functions never load the Secrets Manager client.
    subscriptions: async () => (await import('../notifications/clients.ts')).subscriptionStore(config),
    publisher: () => new EventPublisher(createEventBus(config), EVENT_SOURCE),
    config: () => cachedConfig('security', () => new ConfigStore(state)),
    users: () => createUserDirectory(config),
  });
}
