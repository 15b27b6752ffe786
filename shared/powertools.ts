import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** Built once per process and shared by every handler (through the HTTP and SQS wrappers). */
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'vector-platform';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({ serviceName, namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'VectorPlatform' });
export const tracer = new Tracer({ serviceName });
