import { describe, expect, it } from 'vitest';
import type { JobView, MigrationReport } from '#shared/migrations/service.ts';
import { summary } from '../../../scripts/migrate.ts';

/** The summary `npm run migrate` prints when a job ends. */

const job = (dryRun: boolean): JobView =>
  ({
    id: '0123456789abcdef',
    key: 'cli-uploads/tasks.json',
    etag: 'e',
    size: 2048,
    format: 'legacy-tasks',
    vectorSize: 384,
    target: 'tasks',
    collection: 'tasks__0123456789abcdef',
    dryRun,
    status: 'completed',
    plannedRecords: 10,
    chunks: { total: 1, done: 1, failed: 0 },
    counts: { records: 10, written: 9, rejected: 1 },
    reportKey: 'migrations/0123456789abcdef/report.json',
    chunkList: [],
  }) as unknown as JobView;

const report = (dryRun: boolean): MigrationReport =>
  ({
    counts: { points: 9 },
    duplicates: { ids: 0, occurrences: 0, listed: [] },
    verification: {
      countsMatch: true,
      sampled: dryRun ? 0 : 1,
      mismatches: [],
      passed: true,
      ...(dryRun ? {} : { pointsInCollection: 9, minCosine: 1 }),
    },
    ...(dryRun ? {} : { alias: { name: 'tasks', collection: 'tasks__0123456789abcdef' } }),
  }) as unknown as MigrationReport;

describe('the migrate summary', () => {
  it('of a dry run says what would have been written, never that anything was', () => {
    const text = summary(job(true), report(true), 1);
    expect(text).not.toMatch(/written/);
    expect(text).toContain('migration 0123456789abcdef completed (dry run)');
    expect(text).toContain('10 read, 9 accepted, 1 rejected');
    expect(text).toContain('Qdrant untouched');
    expect(text).toContain('tasks unchanged (dry run)');
  });

  it('of a migration says what was written and read back', () => {
    const text = summary(job(false), report(false), 1);
    expect(text).toContain('10 read, 9 written, 1 rejected');
    expect(text).toContain('9 points in the collection, 1 sampled');
  });
});
