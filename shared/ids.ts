import { hash } from 'node:crypto';

/**
 * Point ids. Qdrant accepts only unsigned integers and UUIDs; every other caller id (legacy
 * `dep_name_version`, `1.2.3`…) is mapped to a deterministic UUIDv5 so that retries and re-runs
 * never duplicate a point. The original id is kept in the payload under `ORIGINAL_ID_KEY`.
 */

/** Namespace for the platform's UUIDv5 ids (fixed forever: changing it re-keys every point). */
export const POINT_ID_NAMESPACE = '6f1d3c5e-8b0a-5d7e-9c4f-2a1b3c4d5e6f';
export const ORIGINAL_ID_KEY = '_original_id';

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const UINT_RE = /^(0|[1-9][0-9]*)$/;

export type PointId = string | number;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

const namespaceBytes = new Map<string, Buffer>();

function bytesOf(namespace: string): Buffer {
  let bytes = namespaceBytes.get(namespace);
  if (!bytes) {
    bytes = Buffer.from(namespace.replaceAll('-', ''), 'hex');
    if (bytes.length !== 16) throw new Error(`invalid UUID namespace: ${namespace}`);
    namespaceBytes.set(namespace, bytes);
  }
  return bytes;
}

/** Reused for names that surely fit (≤ 3 UTF-8 bytes per UTF-16 unit); safe: `hash` is synchronous. */
const scratch = Buffer.alloc(16 + 3 * 1024);

/**
 * RFC 4122 version 5 (SHA-1) UUID of `name` in `namespace`. On hot paths (a plan's every task, an
 * export's every record), so: namespace bytes decoded once, the one-shot `hash`, and no buffer
 * allocated per call for ordinary names.
 */
export function uuidV5(name: string, namespace: string = POINT_ID_NAMESPACE): string {
  const ns = bytesOf(namespace);
  let input: Buffer;
  if (name.length <= 1024) {
    ns.copy(scratch, 0);
    input = scratch.subarray(0, 16 + scratch.write(name, 16, 'utf8'));
  } else {
    input = Buffer.concat([ns, Buffer.from(name, 'utf8')]);
  }
  const digest = hash('sha1', input, 'buffer');
  digest[6] = (digest[6]! & 0x0f) | 0x50;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = digest.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface MappedId {
  /** The id sent to Qdrant. */
  id: PointId;
  /** The caller's id when it had to be mapped, otherwise undefined. */
  original?: string;
}

/**
 * Maps a caller id to a Qdrant id. Safe integers ≥ 0 and UUIDs pass through (UUIDs lower-cased);
 * a decimal string within the safe range becomes that integer; any other non-empty string maps
 * to UUIDv5. Throws on empty ids and on numbers that are not unsigned safe integers.
 */
export function toPointId(raw: string | number): MappedId {
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw < 0)
      throw new RangeError('must be an unsigned integer or a string');
    return { id: raw };
  }
  const trimmed = raw.trim();
  if (trimmed === '') throw new RangeError('must not be empty');
  if (isUuid(trimmed)) return { id: canonicalUuid(trimmed) };
  if (UINT_RE.test(trimmed) && Number.isSafeInteger(Number(trimmed))) return { id: Number(trimmed) };
  return { id: uuidV5(trimmed), original: raw };
}

function canonicalUuid(value: string): string {
  const hex = value.replaceAll('-', '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
