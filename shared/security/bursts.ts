import { ConflictError } from '../errors.ts';
import type { ParsedDetail } from '../events/catalogue.ts';
import type { StateStore } from '../ports.ts';
import type { AuditEntry } from './model.ts';

/**
 * Bursts of refusals: the access-log pipeline publishes ApiAccessDenied per client and status per
 * batch of its log (a count between `firstAt` and `lastAt`); here each client's counts of the last
 * window are kept in one state item (by IP address), and a client refused at least `threshold`
 * times within `windowMinutes` makes one `access-denied-burst` entry per window. Counts are keyed
 * by event id, so a redelivered event is counted once; concurrent events of one client retry on
 * the item's version.
 */

const PARTITION = 'SECURITY#DENIALS';
/** Counts kept per client at most (the oldest merge away): the item stays small whatever the traffic. */
const MAX_COUNTS = 200;
/** Writes of one client's item retried on a version conflict, after a short random pause. */
const ATTEMPTS = 25;

interface DenialCounts {
  counts: Array<{ eventId: string; at: string; count: number }>;
  /** No second burst entry for this client before this instant (the end of the window that made one). */
  quietUntil?: string;
}

export interface BurstPolicy {
  threshold: number;
  windowMinutes: number;
}

export type AccessDenied = ParsedDetail<'ApiAccessDenied'>;

/**
 * Counts a refusal event; when it completes a burst, `onBurst` gets the burst's entry before the
 * counts are stored (a failure there leaves the event uncounted, so its redelivery tries again).
 * Answers whether it completed one.
 */
export async function countDenials(
  state: () => StateStore,
  eventId: string,
  denied: AccessDenied,
  policy: BurstPolicy,
  onBurst: (entry: AuditEntry) => Promise<void>,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const item = await state().get<DenialCounts>(PARTITION, denied.ip);
    const before = item?.value ?? { counts: [] };
    if (before.counts.some((c) => c.eventId === eventId)) return false;
    const lastMs = Date.parse(denied.lastAt);
    const windowMs = policy.windowMinutes * 60_000;
    const counts = [...before.counts, { eventId, at: denied.lastAt, count: denied.count }]
      .filter((c) => Date.parse(c.at) > lastMs - windowMs)
      .sort((a, b) => a.at.localeCompare(b.at))
      .slice(-MAX_COUNTS);
    const total = counts.reduce((sum, c) => sum + c.count, 0);
    const quiet = before.quietUntil !== undefined && lastMs < Date.parse(before.quietUntil);
    const burst = total >= policy.threshold && !quiet;
    const after: DenialCounts = {
      counts,
      ...(burst
        ? { quietUntil: new Date(lastMs + windowMs).toISOString() }
        : before.quietUntil
          ? { quietUntil: before.quietUntil }
          : {}),
    };
    if (burst) await onBurst(burstEntry(eventId, denied, total, counts[0]?.at ?? denied.firstAt, policy));
    try {
      await state().put(PARTITION, denied.ip, after, {
        expectedVersion: item?.version ?? 0,
        // A client that stops being refused is forgotten once its window has passed.
        expiresAt: Math.floor((lastMs + 2 * windowMs) / 1000),
      });
    } catch (err) {
      if (err instanceof ConflictError && attempt < ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
        continue;
      }
      throw err;
    }
    return burst;
  }
}

function burstEntry(
  eventId: string,
  denied: AccessDenied,
  count: number,
  firstAt: string,
  policy: BurstPolicy,
): AuditEntry {
  return {
    id: `burst-${eventId}`,
    time: new Date(Date.parse(denied.lastAt)).toISOString(),
    kind: 'access-denied-burst',
    actor: denied.sub ?? 'anonymous',
    sourceIp: denied.ip,
    ...(denied.correlationId ? { correlationId: denied.correlationId } : {}),
    outcome: 'denied',
    detail: {
      count,
      windowMinutes: policy.windowMinutes,
      status: denied.status,
      routes: denied.routes,
      sampleRequestIds: denied.sampleRequestIds,
      userAgents: denied.userAgents,
      firstAt,
      lastAt: denied.lastAt,
    },
  };
}
