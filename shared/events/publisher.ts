import { currentActor } from '../actor.ts';
import { CORRELATION_ATTRIBUTE, correlationId } from '../correlation.ts';
import { ValidationError } from '../errors.ts';
import type { EventBus } from '../ports.ts';
import { parseWith } from '../validation.ts';
import { EVENTS, type EventDetail, type EventType, isEventType, type ParsedDetail } from './catalogue.ts';

/**
 * The one way the platform publishes an event: only a type of the catalogue, with a detail its
 * schema accepts, the current correlation id and, on behalf of a request, its actor (checked before anything is sent: a malformed event is a bug, and it fails where
 * it is made, not in a consumer hours later).
 */
export class EventPublisher {
  readonly #bus: EventBus;
  readonly #source: string;

  constructor(bus: EventBus, source: string) {
    this.#bus = bus;
    this.#source = source;
  }

  async publish<T extends EventType>(type: T, detail: EventDetail<T>): Promise<void> {
    let parsed: Record<string, unknown>;
    // The event belongs to the request or message being handled (none in scripts and tests).
    const id = correlationId();
    const actor = currentActor();
    const full = {
      ...detail,
      schemaVersion: 1,
      ...(id === undefined ? {} : { [CORRELATION_ATTRIBUTE]: id }),
      ...(actor === undefined ? {} : { actor }),
    };
    try {
      parsed = parseWith(EVENTS[type].detail, full, 'detail');
    } catch (err) {
      // Our own code made it: a bug (500), not the client's input.
      throw new Error(`event ${type} does not match its schema: ${(err as Error).message}`);
    }
    await this.#bus.publish([{ source: this.#source, detailType: type, detail: parsed }]);
  }
}

/** An event as EventBridge delivers it to a target (the fields a consumer reads). */
export interface DeliveredEvent {
  source: string;
  'detail-type': string;
  detail: unknown;
}

/**
 * A delivered event, checked against the catalogue: its type and its parsed detail. Throws a
 * ValidationError naming the field for an unknown type or a detail its schema refuses.
 */
export function parseEvent(
  event: DeliveredEvent,
): { [T in EventType]: { type: T; detail: ParsedDetail<T> } }[EventType] {
  const type = event['detail-type'];
  if (!isEventType(type))
    throw ValidationError.field('detail-type', `"${type}" is not in the event catalogue`);
  // Tolerant of fields it does not know (a newer publisher's optional additions), strict on the rest.
  return { type, detail: parseWith(EVENTS[type].detail.loose(), event.detail, 'detail') } as never;
}
