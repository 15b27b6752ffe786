import { HttpResult, httpHandler } from '#shared/http.ts';
import { vectorService } from '#shared/vectors/clients.ts';
import { CreateCollectionBodySchema } from '#shared/vectors/schemas.ts';

/** POST /api/v1/vectors/collections → 201 with the new collection's info. */
export const handler = httpHandler({ body: CreateCollectionBodySchema }, async ({ body, config }) => {
  const created = await vectorService(config).createCollection(body);
  return new HttpResult(201, created, { location: `/api/v1/vectors/collections/${created.name}` });
});
