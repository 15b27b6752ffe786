import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DeliveredEventSchema } from '#shared/events/log.ts';
import { metrics } from '#shared/powertools.ts';
import { securityService } from '#shared/security/clients.ts';
import { sqsHandler } from '#shared/sqs.ts';

/** The security queue: audited actions become audit entries, API refusals are counted into bursts. */
export const handler = sqsHandler(DeliveredEventSchema, async (envelope, _record, config) => {
  const outcome = await securityService(config).consume(envelope);
  if (outcome === 'burst') metrics.addMetric('AccessDeniedBursts', MetricUnit.Count, 1);
});
