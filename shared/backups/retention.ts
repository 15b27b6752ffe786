import type { BackupRecord, Retention } from './model.ts';

const DAY_MS = 86_400_000;

/**
 * The backups the retention policy deletes: completed backups beyond the newest `keepLast`, and
 * those older than `maxAgeDays`; the newest completed backup is always kept (an age limit never
 * leaves none). Failed backups (their objects are gone already) go once they are older than the
 * oldest completed backup kept. Backups still pending or running are never touched.
 */
export function expiredBackups(
  records: readonly BackupRecord[],
  retention: Retention,
  now: Date,
): BackupRecord[] {
  const byNewest = [...records].sort((a, b) =>
    a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0,
  );
  const completed = byNewest.filter((r) => r.status === 'completed');
  const tooOld = (r: BackupRecord) =>
    retention.maxAgeDays > 0 && now.getTime() - Date.parse(r.createdAt) > retention.maxAgeDays * DAY_MS;
  const expired = completed.filter((r, i) => i > 0 && (i >= retention.keepLast || tooOld(r)));
  const kept = completed.filter((r) => !expired.includes(r));
  const oldestKept = kept.at(-1)?.createdAt;
  const failed = byNewest.filter(
    (r) => r.status === 'failed' && oldestKept !== undefined && r.createdAt < oldestKept,
  );
  return [...expired, ...failed];
}
