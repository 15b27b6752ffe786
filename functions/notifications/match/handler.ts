import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { NotificationEventSchema } from '#shared/notifications/alarms.ts';
import { notificationService } from '#shared/notifications/clients.ts';
import { metrics } from '#shared/powertools.ts';
import { sqsHandler } from '#shared/sqs.ts';

/**
 * Every platform event and every alarm of the alarm topic, from their queue: one notification
 * queued per subscription it matches.
 */
export const handler = sqsHandler(NotificationEventSchema, async (event, _record, config) => {
  const { deliveries } = await notificationService(config).match(event);
  metrics.addMetric('NotificationsQueued', MetricUnit.Count, deliveries.length);
});
