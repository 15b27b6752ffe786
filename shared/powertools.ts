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
 * X-Ray tracing, in Lambda only. Loading the X-Ray SDK enables async hooks for the whole process
 * (every `await` measured ~19× slower), which the local runtime, running every handler in one
 * process with nothing to send traces to, must not pay.
 */
export const tracer: Tracer | undefined = process.env.AWS_LAMBDA_FUNCTION_NAME
  ? new (await import('@aws-lambda-powertools/tracer')).Tracer({ serviceName })
  : undefined;
