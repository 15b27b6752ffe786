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

/**
 * The longest a planner runs: the timeout of the function planning uploads (the API's planner
 * stops sooner). A job still `planning` after this long has lost its planner.
 */
export const PLANNER_TIMEOUT_SECONDS = 900;

/**
 * A job is stalled when nothing has moved its `updatedAt` for this long while chunks are
 * unaccounted for. Every chunk recorded moves it, and a worker's attempt ends within its timeout,
 * after which the queue redelivers the message when its visibility timeout expires: two visibility
 * timeouts (6 min) without a single chunk recorded means no worker holds one (messages lost with a
 * killed local runtime, a planner that died before sending them). Waiting until every receive of a
 * message is spent (visibility timeout × receives, 9 min) would leave the job visibly stuck longer,
 * and a false alarm only sends chunks twice, which point ids make harmless.
 */
export const DEFAULT_STALLED_AFTER_MS = 2 * MIGRATION_QUEUE.visibilityTimeoutSeconds * 1000;
