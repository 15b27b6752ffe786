import { httpHandler } from '#shared/http.ts';
import { planServiceWithoutEmbedder } from '#shared/plans/clients.ts';
import { PlanPathSchema, PlanQuerySchema } from '#shared/plans/schemas.ts';

/** GET /api/v1/plans/{id}?offset=&limit=: the plan, its headings, one page of its tasks. */
export const handler = httpHandler(
  { path: PlanPathSchema, query: PlanQuerySchema },
  async ({ path, query, config }) => planServiceWithoutEmbedder(config).getPlan(path.id, query),
);
