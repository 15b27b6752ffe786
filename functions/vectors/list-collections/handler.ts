import { httpHandler } from '#shared/http.ts';
import { vectorServiceWithoutEmbedder } from '#shared/vectors/clients.ts';

/** GET /api/v1/vectors/collections */
export const handler = httpHandler({}, async ({ config }) =>
  vectorServiceWithoutEmbedder(config).listCollections(),
);
