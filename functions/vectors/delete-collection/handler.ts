import { httpHandler } from '#shared/http.ts';
import { vectorServiceWithoutEmbedder } from '#shared/vectors/clients.ts';
import { CollectionPathSchema } from '#shared/vectors/schemas.ts';

/** DELETE /api/v1/vectors/collections/{name} */
export const handler = httpHandler({ path: CollectionPathSchema }, async ({ path, config }) =>
  vectorServiceWithoutEmbedder(config).deleteCollection(path.name),
);
