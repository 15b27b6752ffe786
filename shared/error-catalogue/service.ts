import type { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { EventPublisher } from '../events/publisher.ts';
import type { StateStore } from '../ports.ts';
import type { TextCollection } from '../vectors/text-collection.ts';
import { fingerprintOf, normalizeMessage } from './fingerprint.ts';
import type { ErrorEntry, ErrorQuery, ErrorsConfig, Failure, SimilarErrorsSchema } from './model.ts';

/** One state item per fingerprint. */
export const ENTRIES_PK = 'ERRORS#ENTRIES';
/** One marker per failure read (event id, dead letter's message id), so a redelivery counts once. */
export const SEEN_PK = 'ERRORS#SEEN';
/** SQS keeps a message at most 14 days: a marker outlives what it marks. */
const SEEN_DAYS = 15;
/** The collection of embedded error texts, one point per fingerprint. */
export const ERRORS_COLLECTION = 'platform-errors';
/** Concurrent occurrences of one fingerprint: each retries its read-modify-write this often. */
const UPDATE_ATTEMPTS = 20;

/** A short random wait before retrying a lost write, so that the writers spread out. */
const jitter = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * Math.min(attempt, 5)));

export interface ErrorCatalogueDeps {
  state: () => StateStore;
  publisher: () => EventPublisher;
  /** The manager's configuration (read through the config cache). */
  options: () => Promise<ErrorsConfig>;
  /** The embedded texts (`ERRORS_COLLECTION`), one point per fingerprint. */
  texts: () => TextCollection;
}

export type SimilarError = z.output<typeof SimilarErrorsSchema>['similar'][number];

/** What a recorded failure did to the catalogue. */
export type RecordOutcome = 'catalogued' | 'counted' | 'reopened' | 'duplicate';

/** The text embedded for an entry: what it says, its code and where it came from. */
export function embeddingTextOf(entry: Pick<ErrorEntry, 'message' | 'code' | 'origin'>): string {
  return `${entry.code} in ${entry.origin}: ${entry.message}`;
}

function notFound(fingerprint: string): NotFoundError {
  return new NotFoundError(`no error with fingerprint ${fingerprint}`, [
    { field: 'fingerprint', reason: 'no such error in the catalogue' },
  ]);
}

/** The list's order: most recently seen first, then by fingerprint. */
const cursorOf = (entry: ErrorEntry) =>
  Buffer.from(`${entry.lastSeen}|${entry.fingerprint}`).toString('base64url');
const newestFirst = (a: ErrorEntry, b: ErrorEntry) =>
  a.lastSeen !== b.lastSeen ? (a.lastSeen > b.lastSeen ? -1 : 1) : a.fingerprint < b.fingerprint ? -1 : 1;

function afterCursor(cursor: string): (entry: ErrorEntry) => boolean {
  const [lastSeen, fingerprint] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (lastSeen === undefined || fingerprint === undefined || Number.isNaN(Date.parse(lastSeen))) {
    throw ValidationError.field('query.cursor', 'must be the `next` of a previous page');
  }
  const mark = { lastSeen, fingerprint } as ErrorEntry;
  return (entry) => newestFirst(mark, entry) < 0;
}

/**
 * The error catalogue: failures grouped by fingerprint in the state table (counts, first and last
 * seen, a ring of samples), each fingerprint's text embedded in its own collection for the search
 * of similar errors, resolved by hand and reopened when it comes back.
 */
export class ErrorCatalogue {
  readonly #deps: ErrorCatalogueDeps;
  constructor(deps: ErrorCatalogueDeps) {
    this.#deps = deps;
  }

  /** Counts a failure into its entry (creating and embedding it, or reopening it); once per `ref`. */
  async record(failure: Failure): Promise<RecordOutcome> {
    const state = this.#deps.state();
    if (await state.get(SEEN_PK, failure.ref)) return 'duplicate';
    const key = { message: normalizeMessage(failure.message), code: failure.code, origin: failure.origin };
    const fingerprint = fingerprintOf(key);
    const { samplesKept } = await this.#deps.options();
    const sample = {
      at: failure.at,
      message: failure.message,
      source: failure.source,
      ref: failure.ref,
      ...(failure.correlationId === undefined ? {} : { correlationId: failure.correlationId }),
    };
    let outcome: RecordOutcome | undefined;
    let entry: ErrorEntry | undefined;
    let resolvedAt: string | undefined;
    for (let attempt = 1; outcome === undefined; attempt++) {
      const stored = await state.get<ErrorEntry>(ENTRIES_PK, fingerprint);
      const before = stored?.value;
      resolvedAt = before?.resolvedAt;
      // Embedded before the entry is stored: an entry always has its point (a retry re-embeds).
      if (!before) {
        await this.#deps
          .texts()
          .put([{ id: fingerprint, text: embeddingTextOf(key), payload: { fingerprint, ...key } }]);
      }
      entry = before
        ? {
            ...before,
            status: 'open',
            count: before.count + 1,
            // Redeliveries and dead letters may arrive out of order.
            firstSeen: [before.firstSeen, failure.at].sort()[0]!,
            lastSeen: [before.lastSeen, failure.at].sort()[1]!,
            samples: [sample, ...before.samples].sort((a, b) => (a.at > b.at ? -1 : 1)).slice(0, samplesKept),
            reopened: before.reopened + (before.status === 'resolved' ? 1 : 0),
          }
        : {
            fingerprint,
            ...key,
            status: 'open',
            count: 1,
            firstSeen: failure.at,
            lastSeen: failure.at,
            samples: [sample],
            reopened: 0,
          };
      try {
        await state.put(ENTRIES_PK, fingerprint, entry, { expectedVersion: stored?.version ?? 0 });
        outcome = !before ? 'catalogued' : before.status === 'resolved' ? 'reopened' : 'counted';
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= UPDATE_ATTEMPTS) throw err;
        await jitter(attempt);
      }
    }
    // A crash before the marker counts this failure again on its redelivery: at least once.
    await state.put(
      SEEN_PK,
      failure.ref,
      { fingerprint },
      {
        expiresAt: Math.floor(Date.now() / 1000) + SEEN_DAYS * 86_400,
      },
    );
    const published = { fingerprint, code: key.code, origin: key.origin, message: key.message };
    if (outcome === 'catalogued') await this.#deps.publisher().publish('ErrorCatalogued', published);
    if (outcome === 'reopened') {
      await this.#deps.publisher().publish('ErrorReopened', {
        ...published,
        count: entry!.count,
        resolvedAt: resolvedAt!,
      });
    }
    return outcome;
  }

  /** Entries matching the query, most recently seen first, a page at a time. */
  async list(query: ErrorQuery): Promise<{ errors: ErrorEntry[]; next?: string }> {
    const after = query.cursor === undefined ? () => true : afterCursor(query.cursor);
    const since = query.since === undefined ? undefined : new Date(query.since).toISOString();
    const matching = (await this.#entries())
      .filter(
        (e) =>
          (query.status === undefined || e.status === query.status) &&
          (query.origin === undefined || e.origin === query.origin) &&
          (query.code === undefined || e.code === query.code) &&
          (since === undefined || e.lastSeen >= since) &&
          after(e),
      )
      .sort(newestFirst);
    const page = matching.slice(0, query.limit);
    return matching.length > page.length ? { errors: page, next: cursorOf(page.at(-1)!) } : { errors: page };
  }

  async get(fingerprint: string): Promise<ErrorEntry> {
    const stored = await this.#deps.state().get<ErrorEntry>(ENTRIES_PK, fingerprint);
    if (!stored) throw notFound(fingerprint);
    return stored.value;
  }

  /** Past errors whose embedded text is nearest this one's, above the configured score. */
  async similar(
    fingerprint: string,
    limit?: number,
  ): Promise<{ fingerprint: string; similar: SimilarError[] }> {
    await this.get(fingerprint);
    const options = await this.#deps.options();
    const found = await this.#deps.texts().neighbours([fingerprint], {
      limit: limit ?? options.similarLimit,
      minScore: options.similarScoreThreshold,
    });
    const state = this.#deps.state();
    const similar = await Promise.all(
      (found.get(fingerprint) ?? []).map(async (n): Promise<SimilarError> => {
        const entry = (await state.get<ErrorEntry>(ENTRIES_PK, n.id))?.value;
        return {
          fingerprint: n.id,
          score: n.score,
          message: String(n.payload.message),
          code: String(n.payload.code),
          origin: String(n.payload.origin),
          ...(entry ? { status: entry.status, count: entry.count, lastSeen: entry.lastSeen } : {}),
        };
      }),
    );
    return { fingerprint, similar };
  }

  /** Marks an entry resolved (already resolved: unchanged); its next occurrence reopens it. */
  async resolve(fingerprint: string, by: string): Promise<ErrorEntry> {
    const state = this.#deps.state();
    for (let attempt = 1; ; attempt++) {
      const stored = await state.get<ErrorEntry>(ENTRIES_PK, fingerprint);
      if (!stored) throw notFound(fingerprint);
      if (stored.value.status === 'resolved') return stored.value;
      const entry: ErrorEntry = {
        ...stored.value,
        status: 'resolved',
        resolvedAt: new Date().toISOString(),
        resolvedBy: by,
      };
      try {
        await state.put(ENTRIES_PK, fingerprint, entry, { expectedVersion: stored.version });
        return entry;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= UPDATE_ATTEMPTS) throw err;
      }
    }
  }

  /** Open and resolved entries, and occurrences of every entry (the manager's gauges). */
  async counts(): Promise<{ open: number; resolved: number; occurrences: number }> {
    const entries = await this.#entries();
    return {
      open: entries.filter((e) => e.status === 'open').length,
      resolved: entries.filter((e) => e.status === 'resolved').length,
      occurrences: entries.reduce((n, e) => n + e.count, 0),
    };
  }

  /** Every entry: the list filters in memory (fine for thousands of fingerprints, not millions). */
  async #entries(): Promise<ErrorEntry[]> {
    return (await this.#deps.state().list<ErrorEntry>(ENTRIES_PK)).map((item) => item.value);
  }
}
