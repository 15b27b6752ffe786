import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { z } from 'zod';
import { logger, metrics, tracer } from '../powertools.ts';
import { parseWith } from '../validation.ts';

/**
 * The one wrapper of functions EventBridge invokes (rule targets and schedules): the Powertools
 * middleware in the HTTP wrapper's order, and the event parsed with its zod schema first. A
 * failure is thrown: EventBridge retries the delivery, then sends it to the rule's dead letters.
 */
export function eventHandler<S extends z.ZodType, R>(schema: S, fn: (event: z.output<S>) => Promise<R>) {
  return middy(async (raw: unknown) => fn(parseWith(schema, raw, 'event')))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
    .use(logMetrics(metrics));
}
