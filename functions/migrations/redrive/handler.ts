import { httpHandler } from '#shared/http.ts';
import { migrationService } from '#shared/migrations/clients.ts';
import { JobPathSchema } from '#shared/migrations/model.ts';
import { publicJob } from '#shared/migrations/service.ts';

/**
 * POST /api/v1/migrations/{id}/redrive: sends the job's failed or missing chunks again and removes
 * the job's dead letters.
 */
export const handler = httpHandler({ path: JobPathSchema }, async ({ path, config }) => {
  const { job, resent, deadLettersRemoved } = await migrationService(config).redrive(path.id);
  return { job: publicJob(job), resent, deadLettersRemoved };
});
