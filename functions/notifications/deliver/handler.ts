import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { notificationService } from '#shared/notifications/clients.ts';
import { DeliveryMessageSchema } from '#shared/notifications/model.ts';
import { metrics } from '#shared/powertools.ts';
import { sqsHandler } from '#shared/sqs.ts';

/**
 * One notification per message: an attempt on its channel. A failed attempt that may pass throws
 * (the message comes back after its backoff, then goes to the dead-letter queue).
 */
export const handler = sqsHandler(DeliveryMessageSchema, async (message, record, config) => {
  const attempt = Number(record.attributes.ApproximateReceiveCount) || 1;
  const delivery = await notificationService(config).deliver(message, attempt, record.receiptHandle);
  const status = delivery.status.charAt(0).toUpperCase() + delivery.status.slice(1);
  metrics.addMetric(`Notifications${status}`, MetricUnit.Count, 1);
});
