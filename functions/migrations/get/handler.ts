import { httpHandler } from '#shared/http.ts';
import { migrationService } from '#shared/migrations/clients.ts';
import { JobPathSchema } from '#shared/migrations/model.ts';

/** GET /api/v1/migrations/{id}: status, counts, per-chunk progress and the report's key. */
export const handler = httpHandler({ path: JobPathSchema }, async ({ path, config }) =>
  migrationService(config).get(path.id),
);
