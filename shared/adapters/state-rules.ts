import { ValidationError } from '../errors.ts';

/**
 * Key rules shared by every StateStore, so that a key accepted locally is accepted by DynamoDB:
 * non-empty, well-formed Unicode (a lone surrogate has no UTF-8 form), within DynamoDB's key sizes.
 */
const MAX_PK_BYTES = 2048;
const MAX_SK_BYTES = 1024;
/** In `u` mode a paired surrogate is one code point; only a lone one is of category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

function checkPart(name: string, value: unknown, maxBytes: number): void {
  if (typeof value !== 'string' || value === '')
    throw ValidationError.field(name, 'must be a non-empty string');
  if (LONE_SURROGATE.test(value)) throw ValidationError.field(name, 'must be well-formed Unicode');
  if (Buffer.byteLength(value) > maxBytes)
    throw ValidationError.field(name, `must be at most ${maxBytes} bytes`);
}

export function checkPartitionKey(pk: string): void {
  checkPart('pk', pk, MAX_PK_BYTES);
}

export function checkKey(pk: string, sk: string): void {
  checkPart('pk', pk, MAX_PK_BYTES);
  checkPart('sk', sk, MAX_SK_BYTES);
}

/** The item attribute holding its expiry (epoch seconds): the state table's TTL attribute. */
export const EXPIRES_AT_ATTRIBUTE = 'expiresAt';

/** Whether an item written with `expiresAt` (epoch seconds) has expired by now. */
export function isExpired(expiresAt: unknown, nowMs = Date.now()): boolean {
  return typeof expiresAt === 'number' && expiresAt * 1000 <= nowMs;
}

export function checkExpiresAt(expiresAt: number | undefined): void {
  if (expiresAt !== undefined && (!Number.isSafeInteger(expiresAt) || expiresAt < 1)) {
    throw ValidationError.field('expiresAt', 'must be a positive whole number of epoch seconds');
  }
}

export function checkListOptions(options: { prefix?: string; limit?: number }): void {
  if (
    options.prefix !== undefined &&
    (typeof options.prefix !== 'string' || LONE_SURROGATE.test(options.prefix))
  ) {
    throw ValidationError.field('prefix', 'must be a well-formed string');
  }
  if (options.limit !== undefined && (!Number.isSafeInteger(options.limit) || options.limit < 1)) {
    throw ValidationError.field('limit', 'must be a positive integer');
  }
}

export function conflictMessage(pk: string, sk: string, expected: number, found: number): string {
  return `state ${pk}/${sk}: expected version ${expected}, found ${found}`;
}

/** Orders sort keys as DynamoDB does: by their UTF-8 bytes. */
export function compareSortKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
