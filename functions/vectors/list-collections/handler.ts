import { httpHandler } from '#shared/http.ts';
import { vectorService } from '#shared/vectors/clients.ts';

/** GET /api/v1/vectors/collections */
export const handler = httpHandler({}, async ({ config }) => vectorService(config).listCollections());
