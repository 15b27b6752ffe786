import { httpHandler } from '#shared/http.ts';
import { planServiceWithoutEmbedder } from '#shared/plans/clients.ts';
import { PlanPathSchema } from '#shared/plans/schemas.ts';

/** GET /api/v1/plans/{id}/progress: declared against computed progress, per heading and in total. */
export const handler = httpHandler({ path: PlanPathSchema }, async ({ path, config }) =>
  planServiceWithoutEmbedder(config).progress(path.id),
);
