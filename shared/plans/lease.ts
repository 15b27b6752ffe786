import { ConflictError } from '../errors.ts';
import type { StateStore } from '../ports.ts';

/**
 * One writer per plan at a time. Indexing and deleting a plan hold its lease while they write:
 * two writers that interleaved would mix their versions' points, and each would delete the
 * other's outline. The lease is a state item taken, extended and released by conditional writes
 * (its version is the holder's token), so exactly one request holds it; and it expires, so a
 * writer that died holding it (a timed-out Lambda, a killed process) blocks its plan only until
 * then: the next writer takes it over and, comparing with what is stored, converges.
 */

export const LEASE_PK = 'plan-lease';
/**
 * How long a lease lasts unless extended: its holder extends it before its writes, so this only
 * needs to exceed the longest gap between two of them (one batch embedded and upserted), and it
 * is also how long a plan stays refused after its writer died. Over twice the 29 s function timeout.
 */
export const LEASE_MS = 60_000;

interface LeaseValue {
  /** Epoch milliseconds; 0 once released. */
  expiresAt: number;
}

/** Conditional writes lost to a concurrent acquirer before answering busy. */
const ACQUIRE_ATTEMPTS = 3;

function busy(planId: string, field: string, expiresAt: number, now: number): ConflictError {
  const seconds = Math.max(1, Math.ceil((expiresAt - now) / 1000));
  return new ConflictError(
    `plan "${planId}" is being indexed or deleted by another request; retry in ${seconds} s at most`,
    [{ field, reason: 'the plan is being written by another request' }],
  );
}

export class PlanLease {
  readonly #state: StateStore;
  readonly #planId: string;
  readonly #field: string;
  readonly #clock: () => number;
  #version: number;
  #expiresAt: number;

  private constructor(
    state: StateStore,
    planId: string,
    field: string,
    clock: () => number,
    version: number,
    expiresAt: number,
  ) {
    this.#state = state;
    this.#planId = planId;
    this.#field = field;
    this.#clock = clock;
    this.#version = version;
    this.#expiresAt = expiresAt;
  }

  /**
   * Takes the plan's lease when it is free, released or expired; otherwise ConflictError naming
   * `field` (the request's name for the plan).
   */
  static async acquire(
    state: StateStore,
    planId: string,
    field: string,
    clock: () => number = Date.now,
  ): Promise<PlanLease> {
    for (let attempt = 1; ; attempt++) {
      const now = clock();
      const item = await state.get<LeaseValue>(LEASE_PK, planId);
      if (item !== undefined && item.value.expiresAt > now)
        throw busy(planId, field, item.value.expiresAt, now);
      const expiresAt = now + LEASE_MS;
      try {
        const written = await state.put<LeaseValue>(
          LEASE_PK,
          planId,
          { expiresAt },
          { expectedVersion: item?.version ?? 0 },
        );
        return new PlanLease(state, planId, field, clock, written.version, expiresAt);
      } catch (err) {
        // Another request wrote the lease between the read and this write: read it again.
        if (!(err instanceof ConflictError)) throw err;
        if (attempt === ACQUIRE_ATTEMPTS) throw busy(planId, field, expiresAt, now);
      }
    }
  }

  /**
   * Called before each write: extends the lease once a quarter of it has run (until then no one
   * can have taken it over); throws ConflictError, stopping the writer, if someone did.
   */
  async keep(): Promise<void> {
    const now = this.#clock();
    if (this.#expiresAt - now > (3 * LEASE_MS) / 4) return;
    const expiresAt = now + LEASE_MS;
    try {
      const written = await this.#state.put<LeaseValue>(
        LEASE_PK,
        this.#planId,
        { expiresAt },
        { expectedVersion: this.#version },
      );
      this.#version = written.version;
      this.#expiresAt = expiresAt;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      throw new ConflictError(
        `plan "${this.#planId}": another request took the plan over after this one's lease expired; this one stopped`,
        [{ field: this.#field, reason: 'taken over by another request' }],
      );
    }
  }

  /** Frees the lease for the next writer; a lease taken over meanwhile is the new holder's and stays. */
  async release(): Promise<void> {
    try {
      await this.#state.put<LeaseValue>(
        LEASE_PK,
        this.#planId,
        { expiresAt: 0 },
        { expectedVersion: this.#version },
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }

  /** Runs `write` holding the lease, and releases it whatever happens (the write's error wins). */
  async around<T>(write: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await write();
    } catch (err) {
      await this.release().catch(() => undefined);
      throw err;
    }
    await this.release();
    return result;
  }
}
