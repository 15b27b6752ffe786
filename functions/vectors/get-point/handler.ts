import { httpHandler } from '#shared/http.ts';
import { vectorServiceWithoutEmbedder } from '#shared/vectors/clients.ts';
import { PointPathSchema, PointQuerySchema } from '#shared/vectors/schemas.ts';

/** GET /api/v1/vectors/{id}?collection=&withVector= */
export const handler = httpHandler(
  { path: PointPathSchema, query: PointQuerySchema },
  async ({ path, query, config }) =>
    vectorServiceWithoutEmbedder(config).getPoint({
      collection: query.collection,
      id: path.id,
      withVector: query.withVector,
    }),
);
