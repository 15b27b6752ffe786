import { backupConfig, backupService } from '#shared/backups/clients.ts';
import { BACKUP_QUEUE, BackupMessageSchema } from '#shared/backups/model.ts';
import { sqsHandler } from '#shared/sqs.ts';

/**
 * The backups queue's consumer: one backup or restore per message. A failure is thrown so SQS
 * delivers the message again; on its last receive the run is first marked failed (with its
 * event), so none stays `running` once its message is dead-lettered.
 */
export const handler = sqsHandler(
  BackupMessageSchema,
  async (message, record, config) => {
    const service = backupService(config);
    try {
      await service.run(message, await backupConfig(config));
    } catch (err) {
      if (Number(record.attributes.ApproximateReceiveCount) >= BACKUP_QUEUE.maxReceiveCount) {
        await service.failed(message, `failed on its last attempt: ${(err as Error).message}`);
      }
      throw err;
    }
  },
  { inParallel: false },
);
