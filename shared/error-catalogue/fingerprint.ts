import { createHash } from 'node:crypto';

/**
 * Failures are grouped by what they say, not by the values they carry: two failures whose messages
 * differ only in numbers, ids, quoted values or paths, with the same code from the same origin,
 * are one catalogue entry. Hand-written (a few ordered regular expressions): no maintained library
 * does this normalization, and each rule is a one-liner a test pins down.
 */

/** Longest normalized message kept and fingerprinted (a stack trace's tail says nothing more). */
export const MAX_NORMALIZED_LENGTH = 500;

/** Order matters: each rule runs on the previous one's output, the most specific first. */
const RULES: ReadonlyArray<readonly [RegExp, string]> = [
  // Quoted values: "…", '…', `…` (whatever is inside: a name, a key, a path, a number).
  [/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '<str>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  // ISO 8601 timestamps and dates.
  [/\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b/g, '<time>'],
  [/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>'],
  [/\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g, '<ip>'],
  // Paths and object keys: two segments or more (`exports/a.json`, `/tmp/x`).
  [/(?:^|(?<=[\s(=:,]))\/?(?:[\w.@-]+\/)+[\w.@-]*/g, '<path>'],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  // Hex digests and ids of 8+ characters, digits and letters both (a word, or a number, stays one).
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, '<hex>'],
  // Identifiers with digits in them (`job-12ab`, `m_17`, `i-0abc`): the digits are the value.
  [/\b(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9]+(?:[-_][a-z0-9]+)+\b/gi, '<id>'],
  // Numbers, also with a unit (`1500ms` → `<num>ms`).
  [/(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\.?\d)/gi, '<num>'],
  [/\s+/g, ' '],
];

/** The message with its values replaced by placeholders (`<num>`, `<uuid>`, `<str>`, `<path>`…). */
export function normalizeMessage(message: string): string {
  let text = message;
  for (const [pattern, placeholder] of RULES) text = text.replace(pattern, placeholder);
  return text.trim().slice(0, MAX_NORMALIZED_LENGTH);
}

/** What a failure is grouped by. */
export interface FailureKey {
  /** The normalized message (`normalizeMessage`). */
  message: string;
  /** The error code, or the event type that reported it. */
  code: string;
  /** The function, manager or dead-letter queue it came from. */
  origin: string;
}

/** 16 hex digits of SHA-256 (64 bits): collisions are negligible for any catalogue that fits a table. */
export function fingerprintOf(key: FailureKey): string {
  return createHash('sha256')
    .update(JSON.stringify([key.origin, key.code, key.message]))
    .digest('hex')
    .slice(0, 16);
}
