import { httpHandler, readJsonBody } from '#shared/http.ts';
import { parseWith } from '#shared/validation.ts';
import { vectorServiceWithoutEmbedder } from '#shared/vectors/clients.ts';
import { CollectionQuerySchema, DeleteBodySchema, PointPathSchema } from '#shared/vectors/schemas.ts';

/**
 * Two routes, one function: DELETE /api/v1/vectors/{id}?collection= deletes one point by the
 * caller's id; POST /api/v1/vectors/delete deletes by `ids` or by `filter` given in the body.
 */
export const handler = httpHandler({ query: CollectionQuerySchema }, async ({ query, event, config }) => {
  const service = vectorServiceWithoutEmbedder(config);
  if (event.requestContext.http.method === 'DELETE') {
    const { id } = parseWith(PointPathSchema, event.pathParameters ?? {}, 'path');
    return service.deletePoints({ collection: query.collection, ids: [id] });
  }
  return service.deletePoints(parseWith(DeleteBodySchema, readJsonBody(event, config.maxBodyBytes), ''));
});
