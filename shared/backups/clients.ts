import {
  createBackupObjects,
  createBackupQueue,
  createEventBus,
  createStateStore,
} from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { once, withLazy } from '../lazy.ts';
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
  return new BackupService(
    withLazy(
      { migrations: once(() => migrationService(config)), eventSource: EVENT_SOURCE },
      {
        objects: () => createBackupObjects(config),
        queue: () => createBackupQueue(config),
        bus: () => createEventBus(config),
        state: () => createStateStore(config),
        qdrant: () => getQdrantClient(config.qdrant),
      },
    ),
  );
}

/** The backup manager's configuration (cached 30 s, as every manager's). */
export function backupConfig(config: Config): Promise<BackupConfig> {
  return cachedConfig('backup', () => new ConfigStore(() => createStateStore(config)));
}
