import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { CORRELATION_ATTRIBUTE, fieldOf, pickCorrelationId, withCorrelationId } from '../correlation.ts';
import { managerPaused } from '../managers/gate.ts';
import { logger, metrics, tracer } from '../powertools.ts';
import { parseWith } from '../validation.ts';

/**
 * The one wrapper of functions EventBridge invokes (rule targets and schedules): the Powertools
 * middleware in the HTTP wrapper's order, and the event parsed with its zod schema first. A
 * failure is thrown: EventBridge retries the delivery, then sends it to the rule's dead letters.
 * A run of a stopped manager's function is skipped (`{ skipped: 'manager-stopped' }`): only
 * schedules invoke such functions directly; events addressed to a manager wait in its queue.
 */
export function eventHandler<S extends z.ZodType, R>(schema: S, fn: (event: z.output<S>) => Promise<R>) {
  const handler = middy(async (raw: unknown) => {
    const event = parseWith(schema, raw, 'event');
    if (await managerPaused()) return { skipped: 'manager-stopped' as const };
    return fn(event);
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
  // The event's chain goes on (its detail's id); a schedule's run starts one, named by its event id.
  return (raw: unknown, context: Context) => {
    const id = pickCorrelationId(fieldOf(fieldOf(raw, 'detail'), CORRELATION_ATTRIBUTE), fieldOf(raw, 'id'));
    return withCorrelationId(id, () => handler(raw, context));
  };
}
