import { createEventBus, createStateStore } from '../adapters/index.ts';
import {
  createDeliveryQueue,
  createDeliveryRedelivery,
  createEmailSender,
  createSecretStore,
} from '../adapters/notifications.ts';
import type { Config } from '../config.ts';
import { EventPublisher } from '../events/publisher.ts';
import { ConfigStore, cachedConfig } from '../managers/config-store.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { DeliveryLog } from './deliveries.ts';
import { NotificationService } from './service.ts';
import { SubscriptionStore } from './subscriptions.ts';

/** The notifications services as a function's configuration builds them (edges built on first use). */

export function subscriptionStore(config: Config): SubscriptionStore {
  const state = () => createStateStore(config);
  return new SubscriptionStore({
    state,
    secrets: createSecretStore,
    secretPrefix: config.notifications?.webhookSecretsPrefix,
    defaultEmailTo: async () =>
      (await cachedConfig('notifications', () => new ConfigStore(state))).defaultEmailTo,
    policy: policyOf(config),
  });
}

export function deliveryLog(config: Config): DeliveryLog {
  return new DeliveryLog(() => createStateStore(config));
}

export function notificationService(config: Config): NotificationService {
  return new NotificationService({
    subscriptions: subscriptionStore(config),
    log: deliveryLog(config),
    queue: () => createDeliveryQueue(config),
    redelivery: () => createDeliveryRedelivery(config),
    email: createEmailSender,
    publisher: () => new EventPublisher(createEventBus(config), EVENT_SOURCE),
    emailFrom: config.notifications?.emailFrom,
    policy: policyOf(config),
  });
}

const policyOf = (config: Config) => ({ allowLoopback: config.notifications?.allowLoopback ?? false });
