import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { manifest } from '#infra/manifest.ts';
import { processAccessLog } from '#shared/access-log/service.ts';
import { createEventBus } from '#shared/adapters/index.ts';
import { getConfig } from '#shared/config.ts';
import { pickCorrelationId, withCorrelationId } from '#shared/correlation.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import { logger, metrics, tracer } from '#shared/powertools.ts';

/**
 * The HTTP API access log's subscription (5xx, 401 and 403 answers): each delivery's lines become
 * ApiRequestFailed and ApiAccessDenied events. Unreadable lines are logged and skipped; a delivery
 * that is not a subscription's is refused (ValidationError), and a failure to publish is thrown,
 * so Lambda retries the asynchronous invocation.
 */
const functionByRoute = new Map<string, string>([
  ...manifest.routes.map((r) => [`${r.method} ${r.path}`, r.function] as const),
  ['$default', manifest.defaultRoute],
]);

const base = async (event: unknown): Promise<void> => {
  const config = await getConfig();
  const result = await processAccessLog(event, {
    bus: () => createEventBus(config),
    source: EVENT_SOURCE,
    functionOf: (routeKey) => functionByRoute.get(routeKey),
  });
  if (result.unreadable.length > 0)
    logger.warn('unreadable access-log lines skipped', { lines: result.unreadable });
  logger.info('access log processed', { ...result, unreadable: result.unreadable.length });
};

const wrapped = middy(base)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
  .use(logMetrics(metrics, { captureColdStartMetric: true }));

export const handler = (event: unknown, context: Context) =>
  withCorrelationId(pickCorrelationId(context?.awsRequestId), () => wrapped(event, context));
