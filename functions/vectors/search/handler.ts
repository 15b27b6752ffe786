import { httpHandler } from '#shared/http.ts';
import { vectorService } from '#shared/vectors/clients.ts';
import { SearchBodySchema } from '#shared/vectors/schemas.ts';

/** POST /api/v1/vectors/search */
export const handler = httpHandler({ body: SearchBodySchema }, async ({ body, config }) =>
  vectorService(config).search(body),
);
