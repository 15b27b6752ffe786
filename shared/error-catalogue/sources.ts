import { CORRELATION_ATTRIBUTE } from '../correlation.ts';
import { ValidationError } from '../errors.ts';
import { EVENT_TYPES, type EventType, LEGACY_NAMES } from '../events/catalogue.ts';
import type { DeliveredEnvelope } from '../events/log.ts';
import type { PeekedLetter } from '../ports.ts';
import { type Failure, MAX_SAMPLE_MESSAGE } from './model.ts';

/**
 * What becomes a catalogue entry: every event of the catalogue whose type says something failed
 * (`*Failed`, derived here so that a new one is caught without a list to update), under its legacy
 * name too (`manager.error`), and every dead letter of the platform's queues.
 */

export const FAILURE_EVENT_TYPES: readonly EventType[] = EVENT_TYPES.filter((t) => t.endsWith('Failed'));

const isFailureType = (type: string): type is EventType =>
  (FAILURE_EVENT_TYPES as readonly string[]).includes(type);

/** The legacy system's names of failure events (`manager.error`). */
const LEGACY_FAILURES = Object.entries(LEGACY_NAMES).filter(([, type]) => isFailureType(type));

/** The detail-types the catalogue's rule selects. */
export const FAILURE_DETAIL_TYPES: readonly string[] = [
  ...FAILURE_EVENT_TYPES,
  ...LEGACY_FAILURES.map(([legacy]) => legacy),
];

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value : undefined;

/** A record's first non-empty string field among `names`. */
function firstText(record: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const found = text(record[name]);
    if (found !== undefined) return found;
  }
  return undefined;
}

const MESSAGE_FIELDS = ['reason', 'error', 'integrationError', 'message'] as const;
const CODE_FIELDS = ['code', 'errorCode'] as const;
/** `routeKey`: an API request that failed before reaching a function. */
const ORIGIN_FIELDS = ['function', 'functionName', 'managerId', 'routeKey'] as const;
/** The id to follow a failure by: an API request's id is its correlation id (ApiRequestFailed). */
const CORRELATION_FIELDS = ['requestId', CORRELATION_ATTRIBUTE] as const;

/** A detail without a message: its type, and its status when it has one (an API's 5xx). */
function fallbackMessage(type: string, detail: Record<string, unknown>): string {
  return typeof detail.status === 'number' ? `${type} with status ${detail.status}` : type;
}

const clip = (message: string) => message.slice(0, MAX_SAMPLE_MESSAGE);

/**
 * The failure an event reports. Read from its detail's fields by name rather than by each type's
 * schema: a failure must be catalogued even when its detail is of a newer or legacy shape.
 * `ownerOf` names the manager that publishes a type (the origin when the detail names none).
 */
export function failureOfEvent(
  event: DeliveredEnvelope,
  ownerOf: (type: EventType) => string | undefined,
): Failure {
  const published = event['detail-type'];
  const type = (LEGACY_NAMES as Record<string, string>)[published] ?? published;
  if (!isFailureType(type)) {
    throw ValidationError.field('detail-type', `"${published}" is not a failure event (*Failed)`);
  }
  const detail = event.detail;
  const correlationId = firstText(detail, CORRELATION_FIELDS);
  return {
    message: clip(firstText(detail, MESSAGE_FIELDS) ?? fallbackMessage(type, detail)),
    code: firstText(detail, CODE_FIELDS) ?? type,
    origin: firstText(detail, ORIGIN_FIELDS) ?? ownerOf(type) ?? type,
    source: 'event',
    ref: `event:${event.id}`,
    at: new Date(event.time).toISOString(),
    ...(correlationId === undefined ? {} : { correlationId }),
  };
}

/** A message peeked from a dead-letter queue (left there), with the queue it is the dead letters of. */
export type DeadLetter = PeekedLetter & { queue: string };

/**
 * The failure a dead letter stands for: its queue is the origin (the consumer gave up on it); an
 * event in it (a rule's queue) gives its type as the code and its detail's message.
 */
export function failureOfDeadLetter(letter: DeadLetter, now: Date): Failure {
  let body: unknown;
  try {
    body = JSON.parse(letter.body);
  } catch {
    body = undefined;
  }
  const record =
    body !== null && typeof body === 'object' && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : {};
  const detail =
    record.detail !== null && typeof record.detail === 'object'
      ? (record.detail as Record<string, unknown>)
      : {};
  const correlationId = letter.correlationId ?? text(detail[CORRELATION_ATTRIBUTE]);
  const message =
    firstText(detail, MESSAGE_FIELDS) ?? firstText(record, MESSAGE_FIELDS) ?? `dead-lettered: ${letter.body}`;
  return {
    message: clip(message),
    code: text(record['detail-type']) ?? firstText(record, CODE_FIELDS) ?? 'DeadLettered',
    origin: letter.queue,
    source: 'dead-letter',
    ref: `dlq:${letter.queue}:${letter.messageId}`,
    at: letter.sentAt ?? now.toISOString(),
    ...(correlationId === undefined ? {} : { correlationId }),
  };
}
