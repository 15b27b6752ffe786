import { httpHandler } from '#shared/http.ts';
import { planServiceWithoutEmbedder } from '#shared/plans/clients.ts';
import { PlanPathSchema } from '#shared/plans/schemas.ts';

/** DELETE /api/v1/plans/{id}: its tasks, outline and record; 404 when unknown. */
export const handler = httpHandler({ path: PlanPathSchema }, async ({ path, config }) =>
  planServiceWithoutEmbedder(config).deletePlan(path.id),
);
