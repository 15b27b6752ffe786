import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { CORRELATION_ATTRIBUTE, correlationId } from './correlation.ts';

/** Built once per process and shared by every handler (through the HTTP and SQS wrappers). */
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'vector-platform';

/**
 * Every line carries the correlation id of the invocation (or SQS record) that writes it. Read at
 * each line rather than set with `appendKeys`: a logger's keys are one per module instance, shared
 * by the records of a batch handled in parallel and by the local runtime's concurrent invocations.
 */
class CorrelatedLogger extends Logger {
  protected override createAndPopulateLogItem(
    logLevel: number,
    input: LogItemMessage,
    extraInput: LogItemExtraInput,
  ): LogItem {
    const item = super.createAndPopulateLogItem(logLevel, input, extraInput);
    const id = correlationId();
    return id === undefined ? item : item.addAttributes({ [CORRELATION_ATTRIBUTE]: id });
  }
}

export const logger: Logger = new CorrelatedLogger({ serviceName });
export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'VectorPlatform',
});

/**
 * X-Ray tracing, in Lambda unless turned off. Loading the X-Ray SDK enables async hooks for the
 * whole thread (every `await` measured ~19× slower), which the local runtime, where each function
 * runs with Lambda's variables but nothing collects traces (it sets POWERTOOLS_TRACE_ENABLED=false),
 * must not pay.
 */
export const tracer: Tracer | undefined =
  process.env.AWS_LAMBDA_FUNCTION_NAME && process.env.POWERTOOLS_TRACE_ENABLED !== 'false'
    ? new (await import('@aws-lambda-powertools/tracer')).Tracer({ serviceName })
    : undefined;

/** An AWS SDK v3 client whose calls are traced as subsegments, where there is a tracer. */
export function traced<C>(client: C): C {
  return tracer ? tracer.captureAWSv3Client(client) : client;
}
