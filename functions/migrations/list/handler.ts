import { httpHandler } from '#shared/http.ts';
import { migrationService } from '#shared/migrations/clients.ts';
import { ListQuerySchema } from '#shared/migrations/model.ts';

/** GET /api/v1/migrations?limit=: the latest jobs first. */
export const handler = httpHandler({ query: ListQuerySchema }, async ({ query, config }) => ({
  migrations: await migrationService(config).list(query.limit),
}));
