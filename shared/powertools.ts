import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';

/** Built once per process and shared by every handler (through the HTTP and SQS wrappers). */
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'vector-platform';

export const logger = new Logger({ serviceName });
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
