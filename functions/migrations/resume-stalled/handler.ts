import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { getConfig } from '#shared/config.ts';
import { migrationService } from '#shared/migrations/clients.ts';
import type { ResumedJob } from '#shared/migrations/service.ts';
import { DEFAULT_STALLED_AFTER_MS } from '#shared/migrations/settings.ts';
import { logger, metrics, tracer } from '#shared/powertools.ts';

/**
 * Scheduled: resumes the migrations stalled for DEFAULT_STALLED_AFTER_MS (lost messages, a dead
 * planner), as of the event's scheduled `time` (a late retry of an old event sees jobs as less
 * stalled, never more). A job that could not be resumed is logged and left stalled: the next run
 * tries again.
 */
const base = async (event: ScheduledEvent): Promise<{ resumed: ResumedJob[] }> => {
  const config = await getConfig();
  const scheduled = Date.parse(event.time);
  const resumed = await migrationService(config).resumeStalled({
    now: Number.isNaN(scheduled) ? new Date() : new Date(scheduled),
    stalledAfterMs: DEFAULT_STALLED_AFTER_MS,
  });
  for (const job of resumed) {
    if (job.error) logger.error('stalled migration not resumed', { ...job });
    else logger.warn('stalled migration resumed', { ...job });
  }
  return { resumed };
};

export const handler = middy(base)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
  .use(logMetrics(metrics));
