import { hash } from 'node:crypto';
import { POINT_ID_NAMESPACE } from '#shared/ids.ts';
import type { TaskStatus } from './types.ts';

/**
 * Stable ids of plan tasks and headings. A UUIDv5 name is a JSON array, so no plan id, explicit
 * id, title or text can forge another one's name by containing a separator:
 * - task with an explicit id: `["plan-task", planId, "explicit", explicitId]`;
 * - task without: `["plan-task", planId, "text", pathDigest, normalizedText]`;
 * - heading: `["plan-heading", planId, pathDigest]`;
 * where `pathDigest` is the chained digest of the heading path's normalized titles (see
 * `chainPath`), so that an id costs the same however deep and long the path above it.
 * The occurrence number is appended only from the second occurrence on, so a task written once
 * keeps its id whether or not some other part of the plan repeats itself.
 *
 * A plan has an id and a content hash per task, so names are written piece by piece into one
 * reused buffer and hashed from there (the same bytes `uuidV5` of `#shared/ids.ts` hashes): no
 * name string, JSON string or digest buffer is allocated per task.
 */

/** Digest of the empty heading path (tasks before any heading). */
export const ROOT_PATH = '';

/** Digest of a heading path from its parent path's digest and its own title. */
export function chainPath(parentDigest: string, title: string): string {
  // `JSON.stringify([parentDigest, title])`: a digest needs no escape.
  const w = CONTENT;
  const at = w.putJson(title, w.putAscii('",', w.putAscii(parentDigest, w.putAscii('["', 0))));
  return hash('sha256', w.view(w.putAscii(']', at)), 'hex');
}

/**
 * What every name of one plan starts with, encoded once: the plan id enters every name, and the
 * heading path's digest every name under that heading.
 */
export class PlanNames {
  private readonly key: string;
  private readonly explicitPrefix: Uint8Array;

  constructor(planId: string) {
    this.key = JSON.stringify(planId);
    this.explicitPrefix = Buffer.from(`["plan-task",${this.key},"explicit",`);
  }

  /** `normalizedPath` is the digest of the heading path's normalized titles. */
  headingId(normalizedPath: string, occurrence: number): string {
    return uuidOf(NAMES.put(`["plan-heading",${this.key},"${normalizedPath}"`, NAMESPACE.length), occurrence);
  }

  explicitTaskId(explicitId: string, occurrence: number): string {
    const at = NAMES.putBytes(this.explicitPrefix, NAMESPACE.length);
    return uuidOf(NAMES.putJson(explicitId, at), occurrence);
  }

  /** The part of an implicit task id's name shared by every task under one heading path. */
  implicitPrefix(normalizedPath: string): Uint8Array {
    return Buffer.from(`["plan-task",${this.key},"text","${normalizedPath}",`);
  }

  /** `normalizedText` is `normalizeForId(text)`, which also keys the occurrence count. */
  implicitTaskId(prefix: Uint8Array, normalizedText: string, occurrence: number): string {
    return uuidOf(NAMES.putJson(normalizedText, NAMES.putBytes(prefix, NAMESPACE.length)), occurrence);
  }
}

/**
 * Occurrence counts of strings. A plan can hold a hundred thousand explicit ids: in a `Map`, they
 * cost a good part of a parse (its table lives in the old generation and points into the young
 * one). Here the table is a typed array, and only the keys are in a plain array.
 */
export class Occurrences {
  /**
   * Open addressing, four cells a slot (adjacent, for one cache miss): 1 + the key's index in
   * `keys` (0: a free slot), the key's hash, its count, and padding.
   */
  private table: Int32Array;
  private readonly keys: string[] = [];

  /** `expected`: about how many keys will be added (the table grows past it). */
  constructor(expected: number) {
    let slots = 256;
    while (slots < 2 * expected) slots *= 2;
    this.table = new Int32Array(4 * slots);
  }

  /** How many times `key` was added, this time included. */
  add(key: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    const table = this.table;
    const mask = table.length - 4;
    for (let s = (h << 2) & mask; ; s = (s + 4) & mask) {
      const entry = table[s]!;
      if (entry === 0) {
        this.keys.push(key);
        table[s] = this.keys.length;
        table[s + 1] = h;
        table[s + 2] = 1;
        if (8 * this.keys.length > table.length) this.grow();
        return 1;
      }
      if (table[s + 1] === h && this.keys[entry - 1] === key) return ++table[s + 2]!;
    }
  }

  private grow(): void {
    const old = this.table;
    const table = new Int32Array(2 * old.length);
    const mask = table.length - 4;
    for (let s = 0; s < old.length; s += 4) {
      if (old[s] === 0) continue;
      let d = (old[s + 1]! << 2) & mask;
      while (table[d] !== 0) d = (d + 4) & mask;
      table.set(old.subarray(s, s + 3), d);
    }
    this.table = table;
  }
}

/** The heading path's digest of titles as written, as it enters content hashes: `,"digest",`. */
export function rawPathField(rawPath: string): Uint8Array {
  return Buffer.from(`,"${rawPath}",`);
}

/**
 * SHA-256 (hex) of what a re-index must notice: text, status, explicit id, heading path (as the
 * digest of its titles as written, `rawPath`, given as `rawPathField(rawPath)`) and parent id;
 * that is of `[text, status, explicitId, rawPath, parentId]` as JSON.
 */
export function contentHash(
  text: string,
  status: TaskStatus,
  explicitId: string | null,
  rawPath: Uint8Array,
  parentId: string | null,
): string {
  const w = CONTENT;
  let at = w.putJson(text, w.putAscii('[', 0));
  at = w.putAscii(STATUS_FIELD[status], at);
  at = w.putBytes(rawPath, explicitId === null ? w.putAscii('null', at) : w.putJson(explicitId, at));
  at =
    parentId === null ? w.putAscii('null]', at) : w.putAscii('"]', w.putAscii(parentId, w.putAscii('"', at)));
  return hash('sha256', w.view(at), 'hex');
}

const STATUS_FIELD: Readonly<Record<TaskStatus, string>> = {
  todo: ',"todo",',
  in_progress: ',"in_progress",',
  done: ',"done",',
  blocked: ',"blocked",',
};

/** Views of the first n bytes are cached up to this n: `hash` wants a view of the exact length. */
const CACHED_VIEWS = 4096;

/** A reused buffer that names are written into; safe to share because `hash` is synchronous. */
class NameBuffer {
  private bytes = Buffer.alloc(CACHED_VIEWS);
  private views: Buffer[] = [];

  constructor(head: Uint8Array) {
    this.bytes.set(head, 0);
  }

  /** Makes room for `units` more UTF-16 units (3 UTF-8 bytes at most, and 6 as a JSON escape). */
  private reserve(at: number, units: number): void {
    const need = at + 6 * units + 16;
    if (need <= this.bytes.length) return;
    const grown = Buffer.alloc(Math.max(need, 2 * this.bytes.length));
    this.bytes.copy(grown, 0, 0, at);
    this.bytes = grown;
    this.views = [];
  }

  view(length: number): Buffer {
    if (length >= CACHED_VIEWS) return this.bytes.subarray(0, length);
    let v = this.views[length];
    if (v === undefined) {
      v = this.bytes.subarray(0, length);
      this.views[length] = v;
    }
    return v;
  }

  put(s: string, at: number): number {
    this.reserve(at, s.length);
    return at + this.bytes.write(s, at, 'utf8');
  }

  putBytes(b: Uint8Array, at: number): number {
    this.reserve(at, b.length);
    this.bytes.set(b, at);
    return at + b.length;
  }

  /** `s` holds only ASCII characters that JSON leaves as they are (digests, uuids, fixed text). */
  putAscii(s: string, at: number): number {
    this.reserve(at, s.length);
    const bytes = this.bytes;
    for (let i = 0; i < s.length; i++) bytes[at + i] = s.charCodeAt(i);
    return at + s.length;
  }

  /**
   * `JSON.stringify(s)` as UTF-8. Encoded here (names are short: a call into the runtime costs
   * more), and that string is built only when `s` needs an escape, which is rare.
   */
  putJson(s: string, at: number): number {
    this.reserve(at, s.length + 2);
    const bytes = this.bytes;
    let o = at;
    bytes[o++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        // Quote, backslash and control characters are escaped.
        if (c < 0x20 || c === 0x22 || c === 0x5c) return this.put(JSON.stringify(s), at);
        bytes[o++] = c;
      } else if (c < 0x800) {
        bytes[o++] = 0xc0 | (c >> 6);
        bytes[o++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        bytes[o++] = 0xe0 | (c >> 12);
        bytes[o++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[o++] = 0x80 | (c & 0x3f);
      } else {
        const low = s.charCodeAt(i + 1);
        // A lone surrogate is escaped.
        if (c > 0xdbff || !(low >= 0xdc00 && low <= 0xdfff)) return this.put(JSON.stringify(s), at);
        const cp = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        bytes[o++] = 0xf0 | (cp >> 18);
        bytes[o++] = 0x80 | ((cp >> 12) & 0x3f);
        bytes[o++] = 0x80 | ((cp >> 6) & 0x3f);
        bytes[o++] = 0x80 | (cp & 0x3f);
        i++;
      }
    }
    bytes[o++] = 0x22;
    return o;
  }
}

const NAMESPACE = Buffer.from(POINT_ID_NAMESPACE.replaceAll('-', ''), 'hex');
/** Task and heading names, after the namespace bytes. */
const NAMES = new NameBuffer(NAMESPACE);
/** Content hash inputs, from offset 0. */
const CONTENT = new NameBuffer(new Uint8Array(0));

const HEX_DIGITS = '0123456789abcdef';
/** The text of a UUID, written here and read out as one flat string. */
const UUID_TEXT = Buffer.from('00000000-0000-5000-8000-000000000000');

/**
 * UUIDv5 (RFC 4122) of the namespace and the name written after it up to `end`, closed with
 * `,occurrence]` from the second occurrence on and `]` before.
 */
function uuidOf(end: number, occurrence: number): string {
  const close = NAMES.putAscii(']', occurrence > 1 ? NAMES.putAscii(`,${occurrence}`, end) : end);
  const hex = hash('sha1', NAMES.view(close), 'hex');
  // The version (5) is fixed in UUID_TEXT; the variant takes the two top bits of the 17th digit.
  const out = UUID_TEXT;
  for (let i = 0; i < 8; i++) out[i] = hex.charCodeAt(i);
  for (let i = 8; i < 12; i++) out[i + 1] = hex.charCodeAt(i);
  for (let i = 13; i < 16; i++) out[i + 2] = hex.charCodeAt(i);
  const c = hex.charCodeAt(16);
  out[19] = HEX_DIGITS.charCodeAt(8 | ((c <= 0x39 ? c - 0x30 : c - 0x57) & 3));
  for (let i = 17; i < 20; i++) out[i + 3] = hex.charCodeAt(i);
  for (let i = 20; i < 32; i++) out[i + 4] = hex.charCodeAt(i);
  return UUID_TEXT.toString('latin1', 0, 36);
}
