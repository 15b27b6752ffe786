import type { EventDetail } from '../events/catalogue.ts';
import { AccessLogLineSchema, type DeniedStatus, isDenied, REPORTED_STATUSES } from './format.ts';
import type { LogEvent } from './subscription.ts';

/**
 * What a batch of access-log lines reports: one ApiRequestFailed per 5xx answer, and the 401/403
 * answers folded into one ApiAccessDenied per client (ip, and sub when a token was verified) and
 * status. Every string taken from a line is bounded (a user agent is whatever the client sent), so
 * an event stays far below EventBridge's 256 KB whatever the lines hold.
 */

export const MAX_DENIED_ROUTES = 10;
export const MAX_SAMPLE_REQUEST_IDS = 5;
export const MAX_USER_AGENTS = 5;

/** Longest kept string of each kind (characters). */
const LIMITS = { id: 128, ip: 64, route: 256, userAgent: 256, message: 1024 } as const;

export interface AccessLogReport {
  failed: Array<EventDetail<'ApiRequestFailed'>>;
  denied: Array<EventDetail<'ApiAccessDenied'>>;
  /** Lines that could not be read, with why (they are logged, not published). */
  unreadable: Array<{ id: string; reason: string }>;
  /** Lines of other statuses (the subscription filter should have kept them out). */
  ignored: number;
}

const clip = (value: string, max: number) => (value.length > max ? `${value.slice(0, max - 1)}…` : value);

/** Latest instant `Date` writes as a four-digit year, which the events' ISO datetimes require. */
const LAST_ISO_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function isoOf(...candidates: Array<number | undefined>): string | undefined {
  for (const ms of candidates) {
    if (ms !== undefined && Number.isInteger(ms) && ms >= 0 && ms <= LAST_ISO_MS)
      return new Date(ms).toISOString();
  }
  return undefined;
}

function readLine(event: LogEvent): ReturnType<typeof AccessLogLineSchema.parse> | string {
  let json: unknown;
  try {
    json = JSON.parse(event.message);
  } catch {
    return 'message: not JSON';
  }
  const parsed = AccessLogLineSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  return `message.${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`;
}

/**
 * The events a batch of log events reports. `functionOf` names the function a route key is
 * integrated with (the manifest's routes), when there is one.
 */
export function reportAccessLog(
  events: readonly LogEvent[],
  functionOf: (routeKey: string) => string | undefined,
): AccessLogReport {
  const report: AccessLogReport = { failed: [], denied: [], unreadable: [], ignored: 0 };
  const clients = new Map<string, EventDetail<'ApiAccessDenied'>>();
  for (const event of events) {
    const line = readLine(event);
    const at = typeof line === 'string' ? undefined : isoOf(line.requestTimeEpoch, event.timestamp);
    if (typeof line === 'string' || at === undefined) {
      report.unreadable.push({ id: event.id, reason: typeof line === 'string' ? line : 'no valid time' });
      continue;
    }
    const routeKey = clip(line.routeKey ?? '-', LIMITS.route);
    const requestId = clip(line.requestId, LIMITS.id);
    if (line.status >= REPORTED_STATUSES.serverErrorFrom) {
      const fn = functionOf(routeKey);
      const latency = line.responseLatency;
      report.failed.push({
        requestId,
        routeKey,
        status: line.status,
        ...(fn ? { function: fn } : {}),
        ...(line.integrationError ? { integrationError: clip(line.integrationError, LIMITS.message) } : {}),
        ...(line.error ? { error: clip(line.error, LIMITS.message) } : {}),
        ...(latency !== undefined && Number.isInteger(latency) && latency >= 0 ? { latencyMs: latency } : {}),
        at,
      });
    } else if (isDenied(line.status)) {
      const ip = clip(line.ip ?? '-', LIMITS.ip);
      const sub = line.sub === undefined ? undefined : clip(line.sub, LIMITS.id);
      const status: DeniedStatus = line.status;
      const key = JSON.stringify([ip, sub ?? null, status]);
      const userAgent = line.userAgent === undefined ? undefined : clip(line.userAgent, LIMITS.userAgent);
      const seen = clients.get(key);
      if (!seen) {
        clients.set(key, {
          ip,
          ...(sub ? { sub } : {}),
          status,
          count: 1,
          firstAt: at,
          lastAt: at,
          routes: [routeKey],
          sampleRequestIds: [requestId],
          userAgents: userAgent ? [userAgent] : [],
        });
        continue;
      }
      seen.count += 1;
      if (at < seen.firstAt) seen.firstAt = at;
      if (at > seen.lastAt) seen.lastAt = at;
      addBounded(seen.routes, routeKey, MAX_DENIED_ROUTES);
      addBounded(seen.sampleRequestIds, requestId, MAX_SAMPLE_REQUEST_IDS);
      if (userAgent) addBounded(seen.userAgents, userAgent, MAX_USER_AGENTS);
    } else report.ignored += 1;
  }
  report.denied = [...clients.values()];
  return report;
}

/** Adds `value` to a list of distinct values unless it is there or the list is full. */
function addBounded(list: string[], value: string, max: number): void {
  if (list.length < max && !list.includes(value)) list.push(value);
}
