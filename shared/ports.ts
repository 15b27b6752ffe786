/**
 * Ports: every edge of the platform is one of these interfaces, with an AWS adapter and a local
 * one (see `shared/adapters/`). Services depend on the ports, never on an SDK.
 * The vector store is the exception: Qdrant's REST API through `@qdrant/js-client-rest`, always.
 */

export interface ObjectStore {
  put(key: string, body: string | Uint8Array, contentType?: string): Promise<void>;
  /** Whole object, or the inclusive byte range `[start, end]`. Throws NotFoundError. */
  get(key: string, range?: { start: number; end: number }): Promise<Uint8Array>;
  /** The object as a stream of chunks (for exports too large to load). */
  stream(key: string): Promise<AsyncIterable<Uint8Array>>;
  head(key: string): Promise<{ size: number; etag?: string } | undefined>;
  delete(key: string): Promise<void>;
  ping(): Promise<void>;
}

export interface QueueMessage {
  body: unknown;
  /** Optional per-message delay, seconds. */
  delaySeconds?: number;
}

export interface Queue {
  /** Sends in batches of at most 10, as SQS allows. */
  send(messages: QueueMessage[]): Promise<void>;
  ping(): Promise<void>;
}

/** A dead-letter queue, as a redrive sees it. */
export interface DeadLetters {
  /** Deletes the dead letters whose (JSON) body `matches`, leaves the others; returns how many went. */
  remove(matches: (body: unknown) => boolean): Promise<number>;
}

/** A dead letter as a peek reads it: left in its queue. */
export interface PeekedLetter {
  messageId: string;
  body: string;
  /** Its correlation id attribute, when the sender set one. */
  correlationId?: string;
  /** When it was first sent (kept through the redrive). */
  sentAt?: string;
}

/** A dead-letter queue read without taking anything from it (the error catalogue). */
export interface DeadLetterReader {
  /** What the queue holds now, as far as one sweep sees it; every message stays in the queue. */
  peek(): Promise<PeekedLetter[]>;
}

/** A platform event: `source` + `detailType` (past tense, e.g. `MigrationCompleted`) + detail. */
export interface PlatformEvent<T = Record<string, unknown>> {
  source: string;
  detailType: string;
  detail: T;
}

export interface EventBus {
  publish(events: PlatformEvent[]): Promise<void>;
  ping(): Promise<void>;
}

export interface StateItem<T = unknown> {
  value: T;
  /** Monotonic version for optimistic concurrency. */
  version: number;
  updatedAt: string;
}

export interface ListOptions {
  prefix?: string;
  limit?: number;
  /** Newest (greatest sort key) first. */
  reverse?: boolean;
}

/** Platform state: items grouped by a partition (`pk`), addressed by a sort key (`sk`). */
export interface StateStore {
  get<T>(pk: string, sk: string): Promise<StateItem<T> | undefined>;
  /**
   * Writes; with `expectedVersion`, fails with ConflictError if the stored version differs (0 = absent).
   * With `expiresAt` (epoch seconds) the item is gone from reads from then on (DynamoDB's TTL
   * deletes it later; reads never return it once expired).
   */
  put<T>(
    pk: string,
    sk: string,
    value: T,
    options?: { expectedVersion?: number; expiresAt?: number },
  ): Promise<StateItem<T>>;
  /**
   * Items of a partition, ordered by sort key (`reverse`: descending), optionally restricted to a
   * sort-key prefix; expired items are left out.
   */
  list<T>(pk: string, options?: ListOptions): Promise<Array<{ sk: string } & StateItem<T>>>;
  delete(pk: string, sk: string): Promise<void>;
  ping(): Promise<void>;
}
