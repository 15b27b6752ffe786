import { httpHandler } from '#shared/http.ts';
import { vectorService } from '#shared/vectors/clients.ts';
import { BatchBodySchema } from '#shared/vectors/schemas.ts';

/** POST /api/v1/vectors/batch: 200 with one result per operation, failed ones included. */
export const handler = httpHandler({ body: BatchBodySchema }, async ({ body, config }) =>
  vectorService(config).batch(body),
);
