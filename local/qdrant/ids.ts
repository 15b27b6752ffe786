/**
 * Point ids as Qdrant defines them: an unsigned integer or a UUID. UUIDs are accepted in every
 * textual form Qdrant accepts (hyphenated, simple, braced, URN; any case) and normalized to the
 * lowercase hyphenated form, which is also how they are returned.
 *
 * Integers are limited to the safe JavaScript range (2^53 - 1): larger ones cannot be
 * represented exactly once parsed from JSON, so they are rejected rather than silently changed.
 */

export type PointId = number | string;

const HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SIMPLE = /^[0-9a-f]{32}$/i;

export function invalidPointIdMessage(value: unknown): string {
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return `value ${shown} is not a valid point ID, valid values are either an unsigned integer or a UUID`;
}

/** Normalizes a point id, or returns undefined when `value` is not a valid one. */
export function parsePointId(value: unknown): PointId | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  let text = value;
  if (text.length === 45 && text.slice(0, 9).toLowerCase() === 'urn:uuid:') text = text.slice(9);
  else if (text.length === 38 && text.startsWith('{') && text.endsWith('}')) text = text.slice(1, -1);
  if (HYPHENATED.test(text)) return text.toLowerCase();
  if (SIMPLE.test(text)) {
    const hex = text.toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  return undefined;
}

/**
 * Qdrant's id order (scroll order, tie-breaks): integers first, ascending, then UUIDs in the
 * order of their 128-bit value, which for the normalized text form is plain string order.
 */
export function comparePointIds(a: PointId, b: PointId): number {
  if (typeof a === 'number') {
    if (typeof b === 'number') return a - b;
    return -1;
  }
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
