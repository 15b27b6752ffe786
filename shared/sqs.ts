import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import { type Config, getConfig } from './config.ts';
import { CORRELATION_ATTRIBUTE, fieldOf, pickCorrelationId, withCorrelationId } from './correlation.ts';
import { ValidationError } from './errors.ts';
import { logger, metrics, tracer } from './powertools.ts';
import { parseWith } from './validation.ts';

/**
 * The one SQS wrapper: each record's body is parsed with the message schema and handled on its
 * own; failures are reported as partial batch responses (`batchItemFailures`) so one bad message
 * never sinks its neighbours. Same fixed middleware order as the HTTP wrapper. Records are handled
 * concurrently unless `inParallel` is false (one at a time: a batch's memory is one record's).
 */
export function sqsHandler<S extends z.ZodType>(
  schema: S,
  fn: (message: z.output<S>, record: SQSRecord, config: Config) => Promise<void>,
  options: { inParallel?: boolean } = {},
) {
  const base = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    // One processor per invocation: it holds the batch's outcomes, and the local runtime runs
    // several batches of one function at once in the same module instance.
    const processor = new BatchProcessor(EventType.SQS);
    const config = await getConfig();
    const recordHandler = async (record: SQSRecord): Promise<void> => {
      let body: unknown;
      try {
        body = JSON.parse(record.body);
      } catch (err) {
        throw ValidationError.field('body', `invalid JSON (${(err as Error).message})`);
      }
      // Each record continues its sender's chain: our messages carry the id as an attribute, the
      // events a rule sends to a queue carry it in their detail; else the message starts one.
      const id = pickCorrelationId(
        record.messageAttributes?.[CORRELATION_ATTRIBUTE]?.stringValue,
        fieldOf(fieldOf(body, 'detail'), CORRELATION_ATTRIBUTE),
        record.messageId,
      );
      await withCorrelationId(id, async () => {
        try {
          await fn(parseWith(schema, body, ''), record, config);
        } catch (err) {
          logger.warn('message failed', { messageId: record.messageId, error: err as Error });
          throw err;
        }
      });
    };
    return processPartialResponse(event, recordHandler, processor, {
      context,
      processInParallel: options.inParallel ?? true,
    });
  };

  return middy(base)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}
