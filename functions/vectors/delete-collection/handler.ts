import { httpHandler } from '#shared/http.ts';
import { vectorService } from '#shared/vectors/clients.ts';
import { CollectionPathSchema } from '#shared/vectors/schemas.ts';

/** DELETE /api/v1/vectors/collections/{name} */
export const handler = httpHandler({ path: CollectionPathSchema }, async ({ path, config }) =>
  vectorService(config).deleteCollection(path.name),
);
