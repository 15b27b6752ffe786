import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import type { FunctionFigures } from '../managers/contract.ts';
import type { MetricsReader, RouteFigures, Window } from '../managers/ports.ts';
import { awsCall } from './aws-errors.ts';

/**
 * Figures from CloudWatch's GetMetricData: Lambda's own metrics per function (`AWS/Lambda`,
 * dimension FunctionName) and API Gateway's per route (`AWS/ApiGateway` for HTTP APIs, detailed
 * metrics: ApiId, Stage, Method, Resource). One datapoint per query: the period is the window.
 */

/** GetMetricData takes at most 500 queries per call. */
const MAX_QUERIES = 500;

const FUNCTION_STATS = [
  ['invocations', 'Invocations', 'Sum'],
  ['errors', 'Errors', 'Sum'],
  ['throttles', 'Throttles', 'Sum'],
  ['p50', 'Duration', 'p50'],
  ['p95', 'Duration', 'p95'],
  ['p99', 'Duration', 'p99'],
] as const;

const ROUTE_STATS = [
  ['requests', 'Count', 'Sum'],
  ['clientErrors', '4xx', 'Sum'],
  ['serverErrors', '5xx', 'Sum'],
  ['p50', 'Latency', 'p50'],
  ['p95', 'Latency', 'p95'],
  ['p99', 'Latency', 'p99'],
] as const;

export class CloudWatchMetrics implements MetricsReader {
  readonly #client: CloudWatchClient;

  constructor(client: CloudWatchClient) {
    this.#client = client;
  }

  async functions(
    names: Readonly<Record<string, string>>,
    window: Window,
  ): Promise<Record<string, FunctionFigures>> {
    const keys = Object.keys(names);
    const queries = keys.flatMap((key, i) =>
      FUNCTION_STATS.map(([stat, metric, statistic]) =>
        query(`f${i}_${stat}`, 'AWS/Lambda', metric, [['FunctionName', names[key]!]], statistic, window),
      ),
    );
    const values = await this.#get(queries, window);
    return Object.fromEntries(
      keys.map((key, i) => {
        const v = (stat: string) => values.get(`f${i}_${stat}`);
        return [
          key,
          {
            invocations: v('invocations') ?? 0,
            errors: v('errors') ?? 0,
            throttles: v('throttles') ?? 0,
            durationMs: { p50: v('p50') ?? null, p95: v('p95') ?? null, p99: v('p99') ?? null },
          },
        ];
      }),
    );
  }

  async routes(
    api: { id: string; stage: string },
    routes: ReadonlyArray<{ method: string; resource: string }>,
    window: Window,
  ): Promise<RouteFigures[]> {
    const queries = routes.flatMap((route, i) =>
      ROUTE_STATS.map(([stat, metric, statistic]) =>
        query(
          `r${i}_${stat}`,
          'AWS/ApiGateway',
          metric,
          [
            ['ApiId', api.id],
            ['Stage', api.stage],
            ['Method', route.method],
            ['Resource', route.resource],
          ],
          statistic,
          window,
        ),
      ),
    );
    const values = await this.#get(queries, window);
    return routes.map((route, i) => {
      const v = (stat: string) => values.get(`r${i}_${stat}`);
      return {
        method: route.method,
        resource: route.resource,
        requests: v('requests') ?? 0,
        clientErrors: v('clientErrors') ?? 0,
        serverErrors: v('serverErrors') ?? 0,
        latencyMs: { p50: v('p50') ?? null, p95: v('p95') ?? null, p99: v('p99') ?? null },
      };
    });
  }

  /**
   * Each query's single value (absent: no datapoint in the window). CloudWatch rounds StartTime
   * down to the period's boundary, so the window starts on a whole minute and one period spans it.
   */
  async #get(queries: MetricDataQuery[], window: Window): Promise<Map<string, number>> {
    const values = new Map<string, number>();
    for (let i = 0; i < queries.length; i += MAX_QUERIES) {
      let nextToken: string | undefined;
      do {
        const out = await awsCall('CloudWatch GetMetricData', () =>
          this.#client.send(
            new GetMetricDataCommand({
              MetricDataQueries: queries.slice(i, i + MAX_QUERIES),
              StartTime: minuteFloor(window.start),
              EndTime: window.end,
              NextToken: nextToken,
            }),
          ),
        );
        for (const result of out.MetricDataResults ?? []) {
          const value = result.Values?.[0];
          if (result.Id && value !== undefined) values.set(result.Id, value);
        }
        nextToken = out.NextToken;
      } while (nextToken);
    }
    return values;
  }
}

function query(
  id: string,
  namespace: string,
  metric: string,
  dimensions: ReadonlyArray<readonly [string, string]>,
  statistic: string,
  window: Window,
): MetricDataQuery {
  return {
    Id: id,
    MetricStat: {
      Metric: {
        Namespace: namespace,
        MetricName: metric,
        Dimensions: dimensions.map(([Name, Value]) => ({ Name, Value })),
      },
      // One datapoint for the whole window (CloudWatch periods are multiples of 60 s).
      Period: Math.max(
        60,
        Math.ceil((window.end.getTime() - minuteFloor(window.start).getTime()) / 60_000) * 60,
      ),
      Stat: statistic,
    },
    ReturnData: true,
  };
}

function minuteFloor(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 60_000) * 60_000);
}
