import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { createStateStore } from '#shared/adapters/index.ts';
import { getConfig } from '#shared/config.ts';
import { eventHandler } from '#shared/events/handler.ts';
import { DeliveredEventSchema, EventLog } from '#shared/events/log.ts';
import { metrics } from '#shared/powertools.ts';

/** Rule target of every platform event: keeps it in the event log. */
export const handler = eventHandler(DeliveredEventSchema, async (event) => {
  const config = await getConfig();
  await new EventLog(() => createStateStore(config)).record(event);
  metrics.addMetric('EventsLogged', MetricUnit.Count, 1);
});
