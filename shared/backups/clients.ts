import {
  createBackupObjects,
  createBackupQueue,
  createEventBus,
  createStateStore,
} from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { ConfigStore, cachedConfig } from '../managers/config-store.ts';
import { migrationService } from '../migrations/clients.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { getQdrantClient } from '../vectors/clients.ts';
import type { BackupConfig } from './model.ts';
import { BackupService } from './service.ts';

/**
 * The backup service of a configuration, on the platform's adapters, each built when first used:
 * a function is granted only what its operations touch (asking for a backup reads no object).
 */
export function backupService(config: Config): BackupService {
  const objects = once(() => createBackupObjects(config));
  const queue = once(() => createBackupQueue(config));
  const bus = once(() => createEventBus(config));
  const state = once(() => createStateStore(config));
  const qdrant = once(() => getQdrantClient(config.qdrant));
  const migrations = once(() => migrationService(config));
  return new BackupService({
    get objects() {
      return objects();
    },
    get queue() {
      return queue();
    },
    get bus() {
      return bus();
    },
    get state() {
      return state();
    },
    get qdrant() {
      return qdrant();
    },
    migrations,
    eventSource: EVENT_SOURCE,
  });
}

/** The backup manager's configuration (cached 30 s, as every manager's). */
export function backupConfig(config: Config): Promise<BackupConfig> {
  return cachedConfig('backup', () => new ConfigStore(() => createStateStore(config)));
}

function once<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= build();
    return value;
  };
}
