import { createMetricsReader } from '../../adapters/index.ts';
import {
  check,
  type ManagerContext,
  type ManagerImplementation,
  metricsWindow,
} from '../contract-handler.ts';
import { MANAGER_ENV } from '../environment.ts';
import type { RouteFigures } from '../ports.ts';

/** The API's routes as API Gateway's detailed metrics name them. */
export interface ApiRoute {
  method: string;
  resource: string;
}

async function figures(
  ctx: ManagerContext<'api-gateway'>,
  routes: readonly ApiRoute[],
): Promise<RouteFigures[]> {
  const id = process.env[MANAGER_ENV.httpApiId];
  const stage = process.env[MANAGER_ENV.httpApiStage];
  if (!id || !stage)
    throw new Error(
      `${MANAGER_ENV.httpApiId} and ${MANAGER_ENV.httpApiStage} are not set (no api:metrics access)`,
    );
  return createMetricsReader().routes({ id, stage }, routes, await metricsWindow(ctx.app));
}

/** The HTTP API: requests, 4xx, 5xx and latency per route; degraded over its p95 or 5xx targets. */
export function apiGateway(routes: readonly ApiRoute[]): ManagerImplementation<'api-gateway'> {
  return {
    async checks(ctx) {
      let perRoute: RouteFigures[] = [];
      const metrics = await check('metrics', async () => {
        perRoute = await figures(ctx, routes);
      });
      if (metrics.status === 'unhealthy') return [metrics];
      const served = perRoute.filter((r) => r.requests > 0);
      const slow = served.filter((r) => (r.latencyMs.p95 ?? 0) > ctx.config.p95TargetMs);
      const requests = served.reduce((n, r) => n + r.requests, 0);
      const errors = served.reduce((n, r) => n + r.serverErrors, 0);
      const rate = requests > 0 ? errors / requests : 0;
      return [
        metrics,
        {
          name: 'latency',
          status: slow.length > 0 ? 'degraded' : 'healthy',
          latencyMs: 0,
          detail:
            slow.length > 0
              ? `p95 over ${ctx.config.p95TargetMs} ms: ${slow.map((r) => `${r.method} ${r.resource} (${r.latencyMs.p95} ms)`).join(', ')}`
              : `every route's p95 within ${ctx.config.p95TargetMs} ms`,
        },
        {
          name: 'server-errors',
          status: rate > ctx.config.errorRateDegraded ? 'degraded' : 'healthy',
          latencyMs: 0,
          detail: `${errors} of ${requests} requests answered 5xx`,
        },
      ];
    },

    async gauges(ctx) {
      const perRoute = await figures(ctx, routes);
      return perRoute
        .filter((r) => r.requests > 0)
        .flatMap((r) => {
          const labels = { method: r.method, route: r.resource };
          return [
            { name: 'api_requests', help: 'Requests in the window, per route', value: r.requests, labels },
            {
              name: 'api_client_errors',
              help: '4xx answers in the window (429 included), per route',
              value: r.clientErrors,
              labels,
            },
            {
              name: 'api_server_errors',
              help: '5xx answers in the window, per route',
              value: r.serverErrors,
              labels,
            },
            ...(['p50', 'p95', 'p99'] as const).flatMap((percentile) => {
              const ms = r.latencyMs[percentile];
              return ms === null
                ? []
                : [
                    {
                      name: 'api_latency_seconds',
                      help: 'Latency per route in the window, by percentile',
                      value: ms / 1000,
                      labels: { ...labels, percentile },
                    },
                  ];
            }),
          ];
        });
    },

    actions: {},
  };
}
