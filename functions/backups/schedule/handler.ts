import { z } from 'zod';
import { backupConfig, backupService } from '#shared/backups/clients.ts';
import { getConfig } from '#shared/config.ts';
import { eventHandler } from '#shared/events/handler.ts';

/**
 * Scheduled (every 30 minutes): asks for a backup of the configured collections when scheduling is on
 * and the last scheduled backup is `everyHours` old; the backup worker runs it.
 */
export const handler = eventHandler(z.looseObject({}), async () => {
  const config = await getConfig();
  const requested = await backupService(config).scheduled(await backupConfig(config));
  return requested ? { backupId: requested.id } : { skipped: 'not-due' as const };
});
