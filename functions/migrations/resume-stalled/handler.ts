import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { getConfig } from '#shared/config.ts';
import { eventHandler } from '#shared/events/handler.ts';
import { migrationService } from '#shared/migrations/clients.ts';
import { StalledSweepEventSchema } from '#shared/migrations/model.ts';
import type { StalledSweep } from '#shared/migrations/service.ts';
import { DEFAULT_STALLED_AFTER_MS } from '#shared/migrations/settings.ts';
import { logger, metrics } from '#shared/powertools.ts';

/**
 * Scheduled: resumes the migrations stalled (lost messages, a dead planner) for the schedule's
 * `stalledAfterSeconds`, else DEFAULT_STALLED_AFTER_MS, as of the event's scheduled `time` (a late
 * retry of an old event sees jobs as less stalled, never more). A job that could not be resumed is
 * logged and left stalled: the next run tries again. Each run also counts the migrations in
 * progress (`MigrationsInProgress`, every minute: the dashboard's gauge).
 */
export const handler = eventHandler(StalledSweepEventSchema, async (event): Promise<StalledSweep> => {
  const config = await getConfig();
  const sweep = await migrationService(config).resumeStalled({
    now: event.time ? new Date(event.time) : new Date(),
    stalledAfterMs: event.stalledAfterSeconds ? event.stalledAfterSeconds * 1000 : DEFAULT_STALLED_AFTER_MS,
  });
  const { resumed, inProgress } = sweep;
  for (const job of resumed) {
    if (job.error) logger.error('stalled migration not resumed', { ...job });
    else logger.warn('stalled migration resumed', { ...job });
  }
  // Every run publishes it, zero included: a sweep that finds nothing is the normal case.
  metrics.addMetric('StalledMigrationsResumed', MetricUnit.Count, resumed.filter((j) => !j.error).length);
  metrics.addMetric('MigrationsInProgress', MetricUnit.Count, inProgress);
  return sweep;
});
