import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { managerDeclarations } from '#infra/managers.ts';
import { getConfig } from '#shared/config.ts';
import { eventHandler } from '#shared/events/handler.ts';
import { coordinatorOf } from '#shared/managers/clients.ts';
import { metrics } from '#shared/powertools.ts';

const declarations = managerDeclarations();

/** Scheduled: records every manager's health; publishes ManagerHealthChanged on each change. */
export const handler = eventHandler(z.looseObject({}), async () => {
  const result = await (await coordinatorOf(await getConfig(), declarations)).sweep();
  metrics.addMetric('ManagerHealthChanges', MetricUnit.Count, result.changed.length);
  return result;
});
