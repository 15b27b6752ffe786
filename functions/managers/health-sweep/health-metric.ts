import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { MANAGER_DIMENSION, MANAGER_UNHEALTHY_METRIC } from '#infra/platform-metrics.ts';
import type { HealthStatus } from '#shared/managers/contract.ts';

/**
 * One `ManagerUnhealthy` datapoint per manager each sweep: 1 when unhealthy, 0 otherwise (degraded
 * is not down). Each is its own EMF document: a document shares its dimensions among its metrics.
 */
export function publishManagerHealth(
  metrics: Metrics,
  health: Readonly<Partial<Record<string, HealthStatus>>>,
): void {
  for (const [manager, status] of Object.entries(health)) {
    const single = metrics.singleMetric();
    single.addDimension(MANAGER_DIMENSION, manager);
    single.addMetric(MANAGER_UNHEALTHY_METRIC, MetricUnit.Count, status === 'unhealthy' ? 1 : 0);
  }
}
