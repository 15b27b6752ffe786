import { createEventBus } from '#shared/adapters/index.ts';
import { EventPublisher } from '#shared/events/publisher.ts';
import { httpHandler } from '#shared/http.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import { planServiceWithoutEmbedder } from '#shared/plans/clients.ts';
import { publishDeleted } from '#shared/plans/events.ts';
import { PlanPathSchema } from '#shared/plans/schemas.ts';

/** DELETE /api/v1/plans/{id}: its tasks, outline and record; 404 when unknown. TasksChanged. */
export const handler = httpHandler({ path: PlanPathSchema }, async ({ path, config }) => {
  const deleted = await planServiceWithoutEmbedder(config).deletePlan(path.id);
  await publishDeleted(
    new EventPublisher(createEventBus(config), EVENT_SOURCE),
    deleted.planId,
    deleted.deleted.tasks,
  );
  return deleted;
});
