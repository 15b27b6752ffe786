import { httpHandler } from '#shared/http.ts';
import { planServiceWithoutEmbedder } from '#shared/plans/clients.ts';

/** GET /api/v1/plans */
export const handler = httpHandler({}, async ({ config }) => planServiceWithoutEmbedder(config).listPlans());
