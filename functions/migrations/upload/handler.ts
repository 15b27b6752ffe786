import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { getConfig } from '#shared/config.ts';
import { pickCorrelationId, withCorrelationId } from '#shared/correlation.ts';
import { NotFoundError } from '#shared/errors.ts';
import { migrationService } from '#shared/migrations/clients.ts';
import { CreateMigrationBodySchema, targetOfKey } from '#shared/migrations/model.ts';
import type { MigrationService } from '#shared/migrations/service.ts';
import { logger, metrics, tracer } from '#shared/powertools.ts';

/**
 * The exports bucket's notification for `exports/`: each uploaded export starts a migration with
 * the defaults, into the alias named after the file. A repeated notification finds the same job.
 * A failure that a retry may fix is thrown, so Lambda retries the asynchronous invocation.
 */
const base = async (event: S3Event): Promise<void> => {
  const config = await getConfig();
  const service = migrationService(config);
  // S3's `s3:TestEvent`, sent when a notification is configured, has no records.
  for (const record of event.Records ?? []) {
    // An upload starts a chain (planner, workers, events), named by S3's id of its request.
    await withCorrelationId(pickCorrelationId(record.responseElements?.['x-amz-request-id']), () =>
      startMigration(record, service, config.defaultCollection),
    );
  }
};

async function startMigration(
  record: S3EventRecord,
  service: MigrationService,
  defaultCollection: string,
): Promise<void> {
  const key = decodeURIComponent(record.s3.object.key.replaceAll('+', ' '));
  const body = CreateMigrationBodySchema.safeParse({ key, collection: targetOfKey(key, defaultCollection) });
  if (!body.success) {
    // S3 stores keys the platform refuses (control characters, `..` segments): a retry changes nothing.
    logger.warn('uploaded export has a key no migration takes', {
      key,
      reason: body.error.issues[0]?.message,
    });
    return;
  }
  try {
    const { job, created } = await service.start(body.data);
    logger.info('migration started by upload', { key, jobId: job.id, status: job.status, created });
  } catch (err) {
    // Deleted since the upload: nothing to migrate, and nothing a retry would change.
    if (!(err instanceof NotFoundError)) throw err;
    logger.warn('uploaded export is gone', { key });
  }
}

export const handler = middy(base)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
