import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { managerDeclarations } from '#infra/managers.ts';
import { getConfig } from '#shared/config.ts';
import { eventHandler } from '#shared/events/handler.ts';
import { coordinatorOf } from '#shared/managers/clients.ts';
import { metrics } from '#shared/powertools.ts';
import { publishManagerHealth } from './health-metric.ts';

const declarations = managerDeclarations();

/**
 * Scheduled: records every manager's health; publishes ManagerHealthChanged on each change and
 * each manager's ManagerUnhealthy metric (the stateless stack's alarms).
 */
export const handler = eventHandler(z.looseObject({}), async () => {
  const result = await (await coordinatorOf(await getConfig(), declarations)).sweep();
  metrics.addMetric('ManagerHealthChanges', MetricUnit.Count, result.changed.length);
  publishManagerHealth(metrics, result.health);
  return result;
});
