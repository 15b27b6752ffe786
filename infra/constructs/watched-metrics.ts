import { Duration } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { type IMetric, MathExpression, Metric, type MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import { liveAliasOf, METRICS_NAMESPACE } from '../function-environment.ts';
import { MANAGER_DIMENSION, MANAGER_UNHEALTHY_METRIC } from '../platform-metrics.ts';

/** The metrics both the dashboard and the alarms read, built once so they show what alarms watch. */

/** The health sweep's datapoint for one manager: 1 unhealthy, 0 not (every minute). */
export function managerUnhealthy(service: string, manager: string): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: MANAGER_UNHEALTHY_METRIC,
    dimensionsMap: { service, [MANAGER_DIMENSION]: manager },
    statistic: 'Maximum',
    period: Duration.minutes(1),
  });
}

/** 5xx answers (the gateway's own and the handlers') in percent of requests; no data without requests. */
export function apiErrorRate(stage: HttpStage, period: Duration): IMetric {
  return new MathExpression({
    expression: '100 * FILL(errors, 0) / requests',
    usingMetrics: {
      errors: stage.metricServerError({ statistic: 'Sum', period }),
      requests: stage.metricCount({ statistic: 'Sum', period }),
    },
    label: '5xx %',
    period,
  });
}

/**
 * A Lambda metric of a function by its fixed deployed name: every version together, or only what
 * its `live` alias served (`alias`). By name, so that the operations stack needs no reference to
 * the functions of the stateless stack.
 */
export function functionMetric(
  functionName: string,
  metricName: 'Invocations' | 'Errors' | 'Throttles' | 'Duration',
  options: MetricOptions & { alias?: boolean } = {},
): Metric {
  const { alias, ...metricOptions } = options;
  return new Metric({
    namespace: 'AWS/Lambda',
    metricName,
    dimensionsMap: {
      FunctionName: functionName,
      ...(alias ? { Resource: liveAliasOf(functionName) } : {}),
    },
    statistic: metricName === 'Duration' ? 'Average' : 'Sum',
    ...metricOptions,
  });
}
