/**
 * The notifications manager's fixed settings, read by the manifest (its queues) and by the
 * delivery code (its retries), so both agree.
 */

/** One message per notification; a notification is tried this many times, then dead-lettered. */
export const DELIVERY_QUEUE = {
  name: 'notificationDeliveries',
  maxReceiveCount: 5,
  /** At least the delivery function's timeout (Lambda refuses less). */
  visibilityTimeoutSeconds: 60,
} as const;

/** The delivery function's timeout: a webhook call's timeout plus the writes around it. */
export const DELIVERY_TIMEOUT_SECONDS = 30;

/** How long one webhook call may take before it counts as failed. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * The wait before attempt `attempt + 1` after attempt `attempt` failed: 30 s, 2 min, 8 min, then
 * 15 min (SQS's longest visibility timeout is 12 h; a notification later than that is useless).
 */
export function backoffSeconds(attempt: number): number {
  return Math.min(30 * 4 ** Math.max(0, attempt - 1), 900);
}

/** Delivery records are kept this long. */
export const DELIVERY_LOG_DAYS = 14;

/** Where a stage's webhook signing secrets are named (AWS stages and the local runtime alike). */
export function webhookSecretsPrefix(stage: string): string {
  return `vector-platform/${stage}/notifications/webhooks/`;
}

/** A placeholder sender: a stage that sends email sets `notificationsEmailFrom` to a verified address. */
export const DEFAULT_EMAIL_FROM = 'notifications@vector-platform.local';
