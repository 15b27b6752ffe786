import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DeliveredEventSchema } from '#shared/events/log.ts';
import { notificationService } from '#shared/notifications/clients.ts';
import { metrics } from '#shared/powertools.ts';
import { sqsHandler } from '#shared/sqs.ts';

/** Every platform event, from its queue: one notification queued per subscription it matches. */
export const handler = sqsHandler(DeliveredEventSchema, async (event, _record, config) => {
  const { deliveries } = await notificationService(config).match(event);
  metrics.addMetric('NotificationsQueued', MetricUnit.Count, deliveries.length);
});
