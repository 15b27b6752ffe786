import { HttpResult, httpHandler } from '#shared/http.ts';
import { migrationService } from '#shared/migrations/clients.ts';
import { CreateMigrationBodySchema } from '#shared/migrations/model.ts';
import { publicJob } from '#shared/migrations/service.ts';

/** POST /api/v1/migrations: 202 with a new job, 200 with the job this export already has. */
export const handler = httpHandler({ body: CreateMigrationBodySchema }, async ({ body, config }) => {
  const { job, created } = await migrationService(config).start(body);
  return new HttpResult(created ? 202 : 200, publicJob(job));
});
