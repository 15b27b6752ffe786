import { createHash } from 'node:crypto';
import type { StateStore } from '../ports.ts';
import type { Delivery, DeliveryQuery } from './model.ts';
import { DELIVERY_LOG_DAYS } from './settings.ts';

/**
 * The delivery log: one record per notification (an event to a subscription) with its status,
 * attempts and the last attempt's latency, kept DELIVERY_LOG_DAYS in the state store.
 */

const PARTITION = 'NOTIFICATIONS#DELIVERIES';

/**
 * The notification's id, the same however often the event is delivered to the matcher (at least
 * once): its record is written once and receivers see one `x-vp-delivery` id for all its attempts.
 */
export function deliveryIdOf(eventId: string, subscriptionId: string): string {
  return `d-${createHash('sha256').update(`${eventId}\n${subscriptionId}`).digest('base64url').slice(0, 22)}`;
}

export class DeliveryLog {
  readonly #state: () => StateStore;
  constructor(state: () => StateStore) {
    this.#state = state;
  }

  async get(id: string): Promise<Delivery | undefined> {
    return (await this.#state().get<Delivery>(PARTITION, id))?.value;
  }

  async put(delivery: Delivery): Promise<void> {
    const expiresAt = Math.floor(Date.parse(delivery.createdAt) / 1000) + DELIVERY_LOG_DAYS * 86_400;
    await this.#state().put(PARTITION, delivery.id, delivery, { expiresAt });
  }

  /** Newest first, filtered. */
  async list(query: DeliveryQuery): Promise<Delivery[]> {
    const items = await this.#state().list<Delivery>(PARTITION);
    return items
      .map((i) => i.value)
      .filter((d) => query.subscriptionId === undefined || d.subscriptionId === query.subscriptionId)
      .filter((d) => query.status === undefined || d.status === query.status)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id))
      .slice(0, query.limit);
  }
}
