/**
 * Settings the migration logic relies on and the deployment must match. Domain code never imports
 * infra/: the manifest takes these values from here (the event source it declares, the migrations
 * queue's receives and visibility timeout, the planner's timeout), so the two cannot drift.
 */

/** Source of the events the platform publishes (`source` of every migration event). */
export const EVENT_SOURCE = 'vector-platform';

/** The migrations queue, as declared in the manifest. */
export const MIGRATION_QUEUE = {
  /** Receives before a chunk message is dead-lettered: on the last one the worker settles the chunk as failed. */
  maxReceiveCount: 3,
  /** A message in flight reappears after this long (at least the worker's timeout). */
  visibilityTimeoutSeconds: 180,
} as const;
