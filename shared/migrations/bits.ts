/**
 * Small helpers of the migration job: a compact set of chunk indexes (kept in the job item, so
 * that counting a chunk's outcome is idempotent without one write per chunk elsewhere), the
 * cosine similarity used by verification, and a bounded parallel loop.
 */

/** A set of small non-negative integers as a base64 bitmap (1 bit per chunk: 100k chunks ≈ 17 KB). */
export function hasBit(bits: string, index: number): boolean {
  const bytes = Buffer.from(bits, 'base64');
  const byte = bytes[index >> 3];
  return byte !== undefined && (byte & (1 << (index & 7))) !== 0;
}

export function withBit(bits: string, index: number, on: boolean): string {
  const current = Buffer.from(bits, 'base64');
  const bytes = Buffer.alloc(Math.max(current.length, (index >> 3) + 1));
  current.copy(bytes);
  if (on) bytes[index >> 3]! |= 1 << (index & 7);
  else bytes[index >> 3]! &= ~(1 << (index & 7));
  return bytes.toString('base64');
}

/** Cosine similarity; two zero vectors are identical, a zero and a non-zero one are not. */
export function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return -1;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  if (na === 0 || nb === 0) return na === nb ? 1 : 0;
  return dot / Math.sqrt(na * nb);
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const run = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}
