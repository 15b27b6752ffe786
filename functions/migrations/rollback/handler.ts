import { httpHandler } from '#shared/http.ts';
import { migrationService } from '#shared/migrations/clients.ts';
import { JobPathSchema } from '#shared/migrations/model.ts';
import { publicJob } from '#shared/migrations/service.ts';

/** POST /api/v1/migrations/{id}/rollback: the alias back to the collection it served before. */
export const handler = httpHandler({ path: JobPathSchema }, async ({ path, config }) =>
  publicJob(await migrationService(config).rollback(path.id)),
);
