import { createEventBus, createStateStore } from '#shared/adapters/index.ts';
import { getConfig } from '#shared/config.ts';
import { eventHandler } from '#shared/events/handler.ts';
import { EventPublisher } from '#shared/events/publisher.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import { publishStatusChange, StatusChangeEventSchema } from '#shared/workflows/status-events.ts';

/** Rule target of Step Functions' execution status changes: the platform's WorkflowExecution events. */
export const handler = eventHandler(StatusChangeEventSchema, async (event) => {
  const config = await getConfig();
  return publishStatusChange(event, {
    state: createStateStore(config),
    publisher: new EventPublisher(createEventBus(config), EVENT_SOURCE),
  });
});
