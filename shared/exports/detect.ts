import {
  BACKSLASH,
  COLON,
  COMMA,
  describeByte,
  type ExportFormat,
  hasUtf8Bom,
  LBRACE,
  LBRACKET,
  LF,
  QUOTE,
  RBRACE,
  RBRACKET,
  RECORDS_KEY,
  SCALAR,
  WHITESPACE,
} from './formats.ts';
import { ID_FIELDS } from './records.ts';

/**
 * Which export format a file is, from its first bytes. A top-level array is a JSON array of
 * records; a top-level object is the legacy export (`tasks`) or Qdrant points (`points`), found
 * by walking its keys (a large `metadata` may come first), unless it is a one-line record
 * followed by more lines: JSONL. Anything else is refused with a description of what was seen.
 */

/** How many bytes to read for detection. */
export const DETECT_HEAD_BYTES = 64 * 1024;

export type DetectResult =
  | { format: ExportFormat }
  /** `needsMoreBytes`: the head ended before the format showed; a longer head may decide. */
  | { error: string; needsMoreBytes?: true };

const FORMAT_OF_KEY: Record<string, ExportFormat> = Object.fromEntries(
  Object.entries(RECORDS_KEY).map(([format, key]) => [key, format as ExportFormat]),
);
const RECORD_KEYS = Object.values(RECORDS_KEY);

/** Incomplete: the head ended inside the thing being read. */
const INCOMPLETE = -1;

export function detectFormat(head: Uint8Array): DetectResult {
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    return { error: 'the file is UTF-16 (it starts with a UTF-16 byte order mark): re-encode it as UTF-8' };
  }
  if (head[0] === 0x1f && head[1] === 0x8b)
    return { error: 'the file is gzip-compressed: upload it uncompressed' };
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    return { error: 'the file is a zip archive: upload the export itself' };
  }
  const start = skipWhitespace(head, hasUtf8Bom(head) ? 3 : 0);
  if (start === head.length) {
    return head.length === 0
      ? { error: 'the file is empty', needsMoreBytes: true }
      : { error: `the first ${head.length} bytes are only whitespace`, needsMoreBytes: true };
  }
  const first = head[start]!;
  if (first === LBRACKET) return detectArray(head, start);
  if (first === LBRACE) return detectObject(head, start);
  return {
    error: `not JSON or JSONL: byte ${start} is ${describeByte(first)}, expected '{' or '['; the file starts with "${preview(head, start)}"`,
  };
}

function detectArray(head: Uint8Array, start: number): DetectResult {
  const i = skipWhitespace(head, start + 1);
  if (i === head.length) {
    return { error: `the first ${head.length} bytes end right after the opening '['`, needsMoreBytes: true };
  }
  const byte = head[i]!;
  if (byte === LBRACE || byte === RBRACKET) return { format: 'json-array' };
  return {
    error: `a top-level array whose first element (byte ${i}) is ${valueKind(byte)}, not a record object`,
  };
}

interface Key {
  name: string;
  /** First byte of the value. */
  value: number;
}

function detectObject(head: Uint8Array, start: number): DetectResult {
  const keys: Key[] = [];
  const end = walkObject(head, start, keys);
  if (typeof end === 'string') return { error: end };
  const oneLine = !head.subarray(start, end === INCOMPLETE ? head.length : end).includes(LF);
  const recordsKey = keys.find((key) => FORMAT_OF_KEY[key.name] !== undefined && key.value === LBRACKET);
  const looksLikeRecord = keys.some((key) => (ID_FIELDS as readonly string[]).includes(key.name));
  if (end !== INCOMPLETE && oneLine && recordLineFollows(head, end)) return { format: 'jsonl' };
  if (recordsKey) return { format: FORMAT_OF_KEY[recordsKey.name]! };
  // A one-line record: a JSONL file of one record, or whose first line is longer than the head.
  if (oneLine && looksLikeRecord) return { format: 'jsonl' };

  const seen = keys.length === 0 ? 'no keys' : `keys ${listKeys(keys)}`;
  const notArrays = keys
    .filter((key) => FORMAT_OF_KEY[key.name] !== undefined)
    .map((key) => `; "${key.name}" holds ${valueKind(key.value)}, not an array of records`)
    .join('');
  const expected = `neither ${RECORD_KEYS.map((k) => `"${k}"`).join(' nor ')} is an array of records`;
  if (end === INCOMPLETE) {
    return {
      error: `the first ${head.length} bytes end inside a top-level object with ${seen} so far${notArrays}; ${expected} yet: read more bytes or name the format`,
      needsMoreBytes: true,
    };
  }
  const multiLineRecord =
    looksLikeRecord && !oneLine ? '; a record spread over several lines is not JSONL' : '';
  return { error: `a top-level object with ${seen}${notArrays}: ${expected}${multiLineRecord}` };
}

/**
 * Walks the object that opens at `start`, collecting its keys; returns the offset just past it,
 * INCOMPLETE when the head ends first, or an error message.
 */
function walkObject(head: Uint8Array, start: number, keys: Key[]): number | string {
  let i = skipWhitespace(head, start + 1);
  if (head[i] === RBRACE) return i + 1;
  for (;;) {
    if (i === head.length) return INCOMPLETE;
    if (head[i] !== QUOTE) return `byte ${i} is ${describeByte(head[i]!)} where a property name was expected`;
    const keyEnd = skipString(head, i);
    if (keyEnd === INCOMPLETE) return INCOMPLETE;
    const name = new TextDecoder().decode(head.subarray(i + 1, keyEnd - 1));
    i = skipWhitespace(head, keyEnd);
    if (i === head.length) return INCOMPLETE;
    if (head[i] !== COLON) return `byte ${i} is ${describeByte(head[i]!)} where ':' was expected`;
    i = skipWhitespace(head, i + 1);
    if (i === head.length) return INCOMPLETE;
    keys.push({ name, value: head[i]! });
    const valueEnd = skipValue(head, i);
    if (valueEnd === INCOMPLETE) return INCOMPLETE;
    i = skipWhitespace(head, valueEnd);
    if (i === head.length) return INCOMPLETE;
    if (head[i] === RBRACE) return i + 1;
    if (head[i] !== COMMA) return `byte ${i} is ${describeByte(head[i]!)} where ',' or '}' was expected`;
    i = skipWhitespace(head, i + 1);
  }
}

/** Offset just past the string that opens at `start`, or INCOMPLETE. */
function skipString(head: Uint8Array, start: number): number {
  for (let i = start + 1; i < head.length; i++) {
    if (head[i] === BACKSLASH) i++;
    else if (head[i] === QUOTE) return i + 1;
  }
  return INCOMPLETE;
}

/** Offset just past the value that starts at `start` (nesting and strings tracked), or INCOMPLETE. */
function skipValue(head: Uint8Array, start: number): number {
  const first = head[start]!;
  if (first === QUOTE) return skipString(head, start);
  if (first !== LBRACE && first !== LBRACKET) {
    let i = start;
    while (i < head.length && SCALAR[head[i]!] === 1) i++;
    return i === head.length ? INCOMPLETE : i;
  }
  let depth = 0;
  for (let i = start; i < head.length; i++) {
    const byte = head[i]!;
    if (byte === QUOTE) {
      const end = skipString(head, i);
      if (end === INCOMPLETE) return INCOMPLETE;
      i = end - 1;
    } else if (byte === LBRACE || byte === LBRACKET) depth++;
    else if ((byte === RBRACE || byte === RBRACKET) && --depth === 0) return i + 1;
  }
  return INCOMPLETE;
}

/** Whether the object that ended at `end` is followed, on a next line, by another object. */
function recordLineFollows(head: Uint8Array, end: number): boolean {
  let i = end;
  while (i < head.length && head[i] !== LF && WHITESPACE[head[i]!] === 1) i++;
  if (head[i] !== LF) return false;
  i = skipWhitespace(head, i);
  return head[i] === LBRACE;
}

function skipWhitespace(head: Uint8Array, from: number): number {
  let i = from;
  while (i < head.length && WHITESPACE[head[i]!] === 1) i++;
  return i;
}

function valueKind(byte: number): string {
  if (byte === LBRACE) return 'an object';
  if (byte === LBRACKET) return 'an array';
  if (byte === QUOTE) return 'a string';
  if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) return 'a number';
  if (byte === 0x74 || byte === 0x66) return 'a boolean';
  if (byte === 0x6e) return 'null';
  return describeByte(byte);
}

const MAX_LISTED_KEYS = 10;

function listKeys(keys: Key[]): string {
  const names = keys.slice(0, MAX_LISTED_KEYS).map((key) => JSON.stringify(key.name.slice(0, 40)));
  const more = keys.length > MAX_LISTED_KEYS ? ` and ${keys.length - MAX_LISTED_KEYS} more` : '';
  return `[${names.join(', ')}]${more}`;
}

/** The first bytes as printable text, for a message. */
function preview(head: Uint8Array, from: number): string {
  const text = new TextDecoder().decode(head.subarray(from, from + 40));
  return JSON.stringify(text).slice(1, -1);
}
