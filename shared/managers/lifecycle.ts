import { ConflictError } from '../errors.ts';
import type { StateStore } from '../ports.ts';
import type { LifecycleState, Status } from './contract.ts';
import type { ManagerId } from './specs.ts';

/**
 * Each manager's lifecycle, persisted in the state store (DynamoDB in AWS, files locally) so it
 * survives restarts: the current record (`MANAGER#<id>` / `LIFECYCLE`) and a history of every
 * transition (`HISTORY#<time>#<n>`, kept 90 days). The coordinator writes it; a manager's functions
 * read it (`gate.ts`). A manager with no record has run since it was deployed (`since: null`).
 */

export const managerPartition = (id: ManagerId) => `MANAGER#${id}`;
export const LIFECYCLE_KEY = 'LIFECYCLE';
const HISTORY_PREFIX = 'HISTORY#';
const HISTORY_DAYS = 90;

export interface LifecycleRecord {
  state: LifecycleState;
  since: string;
  by: string;
  lastError?: { message: string; at: string };
}

/** A lifecycle record as read, with the version a transition from it must find. */
export interface LifecycleSnapshot {
  record: LifecycleRecord | undefined;
  version: number;
}

/** A manager's lifecycle before its first transition: it has run since it was deployed. */
export const NEVER_TRANSITIONED: LifecycleSnapshot = Object.freeze({ record: undefined, version: 0 });

export interface Transition {
  from: LifecycleState;
  to: LifecycleState;
  at: string;
  by: string;
  reason?: string;
}

/** What a client of a manager that is not running (or cannot start) is told to wait, seconds. */
export const STOPPED_RETRY_AFTER_SECONDS = 30;

/** While in these states a manager does no work: its routes answer 503, its schedules skip. */
export const PAUSED_STATES: ReadonlySet<LifecycleState> = new Set(['stopping', 'stopped', 'starting']);

export class LifecycleStore {
  readonly #state: () => StateStore;
  #sequence = 0;

  constructor(state: () => StateStore) {
    this.#state = state;
  }

  /** The current record and its version (0: none yet, the manager has run since it was deployed). */
  async read(id: ManagerId): Promise<LifecycleSnapshot> {
    const item = await this.#state().get<LifecycleRecord>(managerPartition(id), LIFECYCLE_KEY);
    return item ? { record: item.value, version: item.version } : NEVER_TRANSITIONED;
  }

  async status(id: ManagerId): Promise<Status> {
    return statusOf(id, (await this.read(id)).record);
  }

  /**
   * Moves the manager from `current` (as read) to `to` if its record is still at that version
   * (else ConflictError: a concurrent transition won), records the transition in its history,
   * and answers what it wrote, to move on from.
   */
  async transition(
    id: ManagerId,
    current: LifecycleSnapshot,
    to: LifecycleState,
    by: string,
    options: { error?: string; keepError?: LifecycleRecord['lastError'] } = {},
  ): Promise<{ record: LifecycleRecord; version: number }> {
    const at = new Date().toISOString();
    const lastError = options.error ? { message: options.error, at } : options.keepError;
    const record: LifecycleRecord = { state: to, since: at, by, ...(lastError ? { lastError } : {}) };
    let version: number;
    try {
      ({ version } = await this.#state().put(managerPartition(id), LIFECYCLE_KEY, record, {
        expectedVersion: current.version,
      }));
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ConflictError(`manager ${id} changed state meanwhile; read its status and try again`, [
          { field: 'id', reason: 'another transition of this manager happened at the same time' },
        ]);
      }
      throw err;
    }
    const transition: Transition = {
      from: current.record?.state ?? 'running',
      to,
      at,
      by,
      ...(options.error ? { reason: options.error } : {}),
    };
    this.#sequence = (this.#sequence + 1) % 1000;
    await this.#state().put(
      managerPartition(id),
      `${HISTORY_PREFIX}${at}#${String(this.#sequence).padStart(3, '0')}`,
      transition,
      { expiresAt: Math.floor(Date.now() / 1000) + HISTORY_DAYS * 86_400 },
    );
    return { record, version };
  }

  /** The latest transitions first. */
  async history(id: ManagerId, limit: number): Promise<Transition[]> {
    const items = await this.#state().list<Transition>(managerPartition(id), {
      prefix: HISTORY_PREFIX,
      reverse: true,
      limit,
    });
    return items.map((item) => item.value);
  }
}

export function statusOf(id: ManagerId, record: LifecycleRecord | undefined): Status {
  if (!record) return { managerId: id, state: 'running', since: null, by: 'deployment' };
  return {
    managerId: id,
    state: record.state,
    since: record.since,
    by: record.by,
    ...(record.lastError ? { lastError: record.lastError } : {}),
  };
}
