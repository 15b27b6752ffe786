import { z } from 'zod';
import type { StateStore } from '../ports.ts';

/**
 * The event log: every event of the platform's bus, kept for EVENT_LOG_DAYS in the state table (a
 * rule delivers each to the `recordEvent` function, in AWS as locally) and queryable by type,
 * source and time (`GET /api/v1/events`). Items live in one partition per UTC day, sorted by time
 * then event id, and expire by the table's TTL.
 */

export const EVENT_LOG_DAYS = 14;
const DAY_MS = 86_400_000;
const MAX_LIMIT = 1000;

/** An event as EventBridge delivers it to a rule target (the fields the log keeps). */
export const DeliveredEventSchema = z.looseObject({
  id: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
  source: z.string().min(1),
  'detail-type': z.string().min(1),
  detail: z.record(z.string(), z.unknown()),
});
export type DeliveredEnvelope = z.infer<typeof DeliveredEventSchema>;

export const EventQuerySchema = z.strictObject({
  /** The detail-type. */
  type: z.string().min(1).max(256).optional(),
  source: z.string().min(1).max(256).optional(),
  /** Events at or after this instant (ISO 8601); default: all that are kept. */
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(100),
});
export type EventQuery = z.output<typeof EventQuerySchema>;

export interface LoggedEvent {
  id: string;
  /** When it happened (EventBridge's `time`, UTC). */
  time: string;
  source: string;
  type: string;
  detail: Record<string, unknown>;
}

const partitionOf = (dayMs: number) => `EVENTS#${new Date(dayMs).toISOString().slice(0, 10)}`;
const startOfDay = (ms: number) => ms - (ms % DAY_MS);

export class EventLog {
  readonly #state: () => StateStore;
  readonly #now: () => Date;

  constructor(state: () => StateStore, now: () => Date = () => new Date()) {
    this.#state = state;
    this.#now = now;
  }

  /** Keeps a delivered event; a second delivery of the same event (same id) overwrites it. */
  async record(event: DeliveredEnvelope): Promise<LoggedEvent> {
    const timeMs = Date.parse(event.time);
    const time = new Date(timeMs).toISOString();
    const logged: LoggedEvent = {
      id: event.id,
      time,
      source: event.source,
      type: event['detail-type'],
      detail: event.detail,
    };
    await this.#state().put(partitionOf(timeMs), `${time}#${event.id}`, logged, {
      expiresAt: Math.floor((timeMs + EVENT_LOG_DAYS * DAY_MS) / 1000),
    });
    return logged;
  }

  /** The newest events first, matching the query, at most `limit`. */
  async list(query: EventQuery): Promise<{ events: LoggedEvent[] }> {
    const nowMs = this.#now().getTime();
    const oldest = Math.max(nowMs - EVENT_LOG_DAYS * DAY_MS, query.since ? Date.parse(query.since) : 0);
    const since = new Date(oldest).toISOString();
    const filtered = query.type !== undefined || query.source !== undefined;
    const events: LoggedEvent[] = [];
    for (
      let day = startOfDay(nowMs);
      day >= startOfDay(oldest) && events.length < query.limit;
      day -= DAY_MS
    ) {
      // Without filters the store stops at what is still wanted; with them, the day is read whole.
      const items = await this.#state().list<LoggedEvent>(partitionOf(day), {
        reverse: true,
        ...(filtered ? {} : { limit: query.limit - events.length }),
      });
      for (const { value } of items) {
        if (value.time < since) break; // newest first: the rest of the day is older
        if (query.type !== undefined && value.type !== query.type) continue;
        if (query.source !== undefined && value.source !== query.source) continue;
        events.push(value);
        if (events.length === query.limit) break;
      }
    }
    return { events };
  }
}
