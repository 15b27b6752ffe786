/**
 * Splits items into groups of at most `maxCount` items and `maxBytes` total (by `sizeOf`), in
 * order, as SQS SendMessageBatch and EventBridge PutEvents require (10 entries, 256 KiB).
 * An item larger than `maxBytes` goes alone, and the service's own answer names the problem.
 */
export function groupForBatch<T>(
  items: readonly T[],
  maxCount: number,
  maxBytes: number,
  sizeOf: (item: T) => number,
): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length === maxCount || bytes + size > maxBytes)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
