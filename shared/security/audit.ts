import type { Actor } from '../actor.ts';
import type { StateStore } from '../ports.ts';
import {
  AUDITED_EVENTS,
  type AuditEntry,
  type AuditPage,
  type AuditQuery,
  MAX_DETAIL_BYTES,
  SYSTEM_ACTOR,
} from './model.ts';

/**
 * The audit log: one item per security-relevant action or decision in the state table, in a
 * partition per UTC day sorted by time then id (as the event log), expiring after the manager's
 * `retentionDays` (the table's TTL). An entry's id is its event's, so a redelivered event
 * overwrites its entry rather than adding one. Reads go newest first through the days, filtered,
 * a page at a time: each day is read whole, which suits what is audited (admin actions and bursts,
 * not every request).
 */

const DAY_MS = 86_400_000;
const partitionOf = (dayMs: number) => `SECURITY#AUDIT#${new Date(dayMs).toISOString().slice(0, 10)}`;
const startOfDay = (ms: number) => ms - (ms % DAY_MS);
const sortKeyOf = (entry: Pick<AuditEntry, 'time' | 'id'>) => `${entry.time}#${entry.id}`;

export class AuditLog {
  readonly #state: () => StateStore;
  readonly #now: () => Date;

  constructor(state: () => StateStore, now: () => Date = () => new Date()) {
    this.#state = state;
    this.#now = now;
  }

  async record(entry: AuditEntry, retentionDays: number): Promise<void> {
    const timeMs = Date.parse(entry.time);
    await this.#state().put(partitionOf(timeMs), sortKeyOf(entry), entry, {
      expiresAt: Math.floor((timeMs + retentionDays * DAY_MS) / 1000),
    });
  }

  /** The newest entries first, matching the query, a page of `limit` and the cursor of the next. */
  async list(query: AuditQuery, retentionDays: number): Promise<AuditPage> {
    const nowMs = this.#now().getTime();
    const oldest = Math.max(nowMs - retentionDays * DAY_MS, query.since ? Date.parse(query.since) : 0);
    const until = query.until ? Date.parse(query.until) : Number.POSITIVE_INFINITY;
    // An entry's time is its event's, which may be a little ahead of this clock.
    const newest = Math.min(until, query.cursor ? Date.parse(query.cursor.split('#')[0]!) : nowMs + DAY_MS);
    const found: Array<{ sk: string; value: AuditEntry }> = [];
    for (
      let day = startOfDay(newest);
      day >= startOfDay(oldest) && found.length <= query.limit;
      day -= DAY_MS
    ) {
      const items = await this.#state().list<AuditEntry>(partitionOf(day), { reverse: true });
      for (const { sk, value } of items) {
        if (query.cursor !== undefined && sk >= query.cursor) continue;
        const time = Date.parse(value.time);
        if (time >= until) continue;
        if (time < oldest) break; // newest first: the rest of the day is older
        if (query.kind !== undefined && value.kind !== query.kind) continue;
        if (query.actor !== undefined && value.actor !== query.actor) continue;
        found.push({ sk, value });
        if (found.length > query.limit) break;
      }
    }
    const page = found.slice(0, query.limit);
    const last = page.at(-1);
    return {
      entries: page.map((f) => f.value),
      ...(found.length > query.limit && last
        ? { nextCursor: Buffer.from(last.sk, 'utf8').toString('base64url') }
        : {}),
    };
  }
}

/** An audited event as the consumer reads it: its envelope's id and time, its parsed detail. */
export interface AuditedEvent {
  id: string;
  time: string;
  type: keyof typeof AUDITED_EVENTS;
  detail: Record<string, unknown> & { actor?: Actor; correlationId?: string; by?: string };
}

/**
 * The entry an audited event makes: who from its actor (a request's), else its `by` (who the
 * coordinator or a configuration change names), else `system`; what from its own fields.
 */
export function entryOf(event: AuditedEvent): AuditEntry {
  const { actor, correlationId, schemaVersion: _version, ...fields } = event.detail;
  return {
    id: event.id,
    time: new Date(Date.parse(event.time)).toISOString(),
    kind: AUDITED_EVENTS[event.type],
    actor: actor?.id ?? (typeof fields.by === 'string' ? fields.by : SYSTEM_ACTOR),
    ...(actor ? { role: actor.role } : {}),
    ...(actor?.sourceIp ? { sourceIp: actor.sourceIp } : {}),
    ...(correlationId ? { correlationId } : {}),
    outcome: 'succeeded',
    detail: bounded(fields),
  };
}

/** The detail as is when small; else its field names only, so one entry never outgrows an item. */
export function bounded(detail: Record<string, unknown>): Record<string, unknown> {
  const bytes = Buffer.byteLength(JSON.stringify(detail));
  return bytes <= MAX_DETAIL_BYTES ? detail : { truncated: true, bytes, fields: Object.keys(detail) };
}

export function isAudited(type: string): type is keyof typeof AUDITED_EVENTS {
  return Object.hasOwn(AUDITED_EVENTS, type);
}
