import { httpHandler } from '#shared/http.ts';
import { planService } from '#shared/plans/clients.ts';
import { SearchTasksBodySchema } from '#shared/plans/schemas.ts';

/** POST /api/v1/tasks/search: tasks by meaning, filtered by plan, status, heading, depth, priority. */
export const handler = httpHandler({ body: SearchTasksBodySchema }, async ({ body, config }) =>
  planService(config).searchTasks(body),
);
