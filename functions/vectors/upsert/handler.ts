import { httpHandler } from '#shared/http.ts';
import { vectorService } from '#shared/vectors/clients.ts';
import { UpsertBodySchema } from '#shared/vectors/schemas.ts';

/** POST /api/v1/vectors/upsert, and its legacy name POST /api/v1/vectors/insert. */
export const handler = httpHandler({ body: UpsertBodySchema }, async ({ body, config }) =>
  vectorService(config).upsert(body),
);
