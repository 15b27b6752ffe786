import type { EventType } from '../events/catalogue.ts';
import type { StateStore } from '../ports.ts';

/**
 * The alerts addressed to monitoring (health changes, manager failures, critical conditions),
 * one item per event keyed by its id, so a redelivered message is counted once. Kept 14 days.
 */

/** The events monitoring receives (its rule's pattern and its `consumes` in the manifest) and counts. */
export const ALERT_TYPES = [
  'ManagerHealthChanged',
  'ManagerFailed',
  'SystemCriticalDetected',
] as const satisfies readonly EventType[];

const PARTITION = 'MONITORING#ALERTS';
const KEEP_DAYS = 14;

export interface Alert {
  id: string;
  type: string;
  time: string;
  managers: string[];
}

export class AlertLog {
  readonly #state: () => StateStore;

  constructor(state: () => StateStore) {
    this.#state = state;
  }

  async record(alert: Alert): Promise<void> {
    await this.#state().put(PARTITION, `${alert.time}#${alert.id}`, alert, {
      expiresAt: Math.floor(Date.parse(alert.time) / 1000) + KEEP_DAYS * 86_400,
    });
  }

  /** Alerts since `since`, oldest first. */
  async since(since: Date): Promise<Alert[]> {
    const items = await this.#state().list<Alert>(PARTITION);
    return items.map((i) => i.value).filter((a) => Date.parse(a.time) >= since.getTime());
  }
}
