import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { S3Event } from 'aws-lambda';
import { createObjectStore } from '#shared/adapters/index.ts';
import { getConfig } from '#shared/config.ts';
import { pickCorrelationId, withCorrelationId } from '#shared/correlation.ts';
import { dependencyService } from '#shared/dependencies/clients.ts';
import { NotFoundError, ValidationError } from '#shared/errors.ts';
import { logger, metrics, tracer } from '#shared/powertools.ts';

/**
 * The exports bucket's notification for `dependencies/`: each uploaded manifest replaces its file's
 * part of the project's record. A bad one is published as DependenciesRejected; a failure a retry
 * may fix is thrown, so Lambda retries the asynchronous invocation.
 */
const base = async (event: S3Event): Promise<void> => {
  const config = await getConfig();
  const service = dependencyService(config);
  const objects = createObjectStore(config);
  // S3's `s3:TestEvent`, sent when a notification is configured, has no records.
  for (const record of event.Records ?? []) {
    const key = decodeURIComponent(record.s3.object.key.replaceAll('+', ' '));
    await withCorrelationId(pickCorrelationId(record.responseElements?.['x-amz-request-id']), async () => {
      const read = async () => {
        try {
          return new TextDecoder('utf-8', { fatal: true }).decode(await objects.get(key));
        } catch (err) {
          if (err instanceof TypeError) throw ValidationError.field(key, 'not UTF-8 text');
          throw err;
        }
      };
      try {
        const result = await service.indexUpload(key, { size: record.s3.object.size, read });
        logger.info(result ? 'uploaded manifest indexed' : 'uploaded manifest rejected', {
          key,
          conflicts: result?.conflicts,
        });
      } catch (err) {
        // Deleted since the upload: nothing to index, and nothing a retry would change.
        if (!(err instanceof NotFoundError)) throw err;
        logger.warn('uploaded manifest is gone', { key });
      }
    });
  }
};

export const handler = middy(base)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
