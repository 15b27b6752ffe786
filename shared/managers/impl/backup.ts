import { createBackupQueue } from '../../adapters/index.ts';
import { backupService } from '../../backups/clients.ts';
import type { RestoreInput } from '../../backups/model.ts';
import { check, type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';
import { qdrantCheck } from '../qdrant-check.ts';

/** The most recent backups and restores the figures look at. */
const SCANNED = 100;
const BACKUP_STATES = ['pending', 'running', 'completed', 'failed'] as const;

/** Backups and restores: by state, the last backup's age and throughput; backup, restore, list, get. */
export const backup: ManagerImplementation<'backup'> = {
  async checks(ctx) {
    return Promise.all([
      stateStoreCheck(ctx.app),
      check('queue', async () => {
        await createBackupQueue(ctx.app).ping();
      }),
      qdrantCheck(ctx.app),
      check('last-backup', async () => {
        const { backups } = await backupService(ctx.app).list(SCANNED);
        const last = backups.find((b) => b.status === 'completed' || b.status === 'failed');
        if (last?.status === 'failed')
          return { status: 'degraded', detail: `${last.id} failed: ${last.error}` };
        return { detail: last ? `${last.id} completed` : 'no backup yet' };
      }),
    ]);
  },

  async gauges(ctx) {
    const { backups, restores } = await backupService(ctx.app).list(SCANNED);
    const last = backups.find((b) => b.status === 'completed');
    return [
      ...BACKUP_STATES.map((state) => ({
        name: 'backup_backups',
        help: `Backups by state (the latest ${SCANNED})`,
        value: backups.filter((b) => b.status === state).length,
        labels: { state },
      })),
      {
        name: 'backup_restores_failed',
        help: `Restores that failed before their migration started (the latest ${SCANNED})`,
        value: restores.filter((r) => r.status === 'failed').length,
      },
      {
        name: 'backup_last_completed_age_seconds',
        help: 'Seconds since the last completed backup ended (-1: none yet)',
        value: last?.completedAt ? Math.round((Date.now() - Date.parse(last.completedAt)) / 1000) : -1,
      },
      {
        name: 'backup_last_points_per_second',
        help: 'Points per second of the last completed backup (scroll, compression and upload)',
        value: last?.pointsPerSecond ?? 0,
      },
    ];
  },

  actions: {
    async backup(input: { collections?: string[] }, ctx, by) {
      const collections = input.collections ?? ctx.config.collections;
      return { backup: await backupService(ctx.app).requestBackup(collections, 'action', by) };
    },
    async restore(input: RestoreInput, ctx, by) {
      return { restore: await backupService(ctx.app).requestRestore(input, by) };
    },
    async list(input: { limit: number }, ctx) {
      return backupService(ctx.app).list(input.limit);
    },
    async get(input: { id: string }, ctx) {
      return backupService(ctx.app).get(input.id);
    },
  },
};
