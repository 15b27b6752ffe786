import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { createStateStore } from '#shared/adapters/index.ts';
import { DeliveredEventSchema } from '#shared/events/log.ts';
import { parseEvent } from '#shared/events/publisher.ts';
import { AlertLog } from '#shared/managers/alerts.ts';
import { metrics } from '#shared/powertools.ts';
import { sqsHandler } from '#shared/sqs.ts';

/** Alerts addressed to monitoring, from its queue (they wait there while monitoring is stopped). */
export const handler = sqsHandler(DeliveredEventSchema, async (envelope, _record, config) => {
  const event = parseEvent(envelope);
  const managers =
    'managerId' in event.detail
      ? [event.detail.managerId]
      : 'managers' in event.detail
        ? event.detail.managers
        : [];
  await new AlertLog(() => createStateStore(config)).record({
    id: envelope.id,
    type: event.type,
    time: envelope.time,
    managers: [...managers],
  });
  metrics.addMetric('AlertsRecorded', MetricUnit.Count, 1);
});
