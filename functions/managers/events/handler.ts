import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { managerDeclarations } from '#infra/managers.ts';
import { DeliveredEventSchema } from '#shared/events/log.ts';
import { parseEvent } from '#shared/events/publisher.ts';
import { coordinatorOf } from '#shared/managers/clients.ts';
import { metrics } from '#shared/powertools.ts';
import { sqsHandler } from '#shared/sqs.ts';

const declarations = managerDeclarations();

/** Events addressed to the coordinator, from its queue: ManagerFailed marks the manager failed. */
export const handler = sqsHandler(DeliveredEventSchema, async (envelope, _record, config) => {
  const event = parseEvent(envelope);
  // Every message is counted, ignored ones included: a batch never publishes no metric.
  metrics.addMetric('CoordinatorEvents', MetricUnit.Count, 1);
  if (event.type !== 'ManagerFailed') return;
  await (await coordinatorOf(config, declarations)).markFailed(
    event.detail.managerId,
    event.detail.error,
    event.detail.at,
  );
});
