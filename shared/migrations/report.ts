import type { ExportFormat } from '../exports/formats.ts';
import type { RecordReject } from '../exports/records.ts';
import type { PointId } from '../ids.ts';
import { type Counts, type JobRecord, MAX_REPORTED_DUPLICATES, MAX_REPORTED_REJECTS } from './model.ts';

/** The report of an ended job, kept at `migrations/<jobId>/report.json` in the exports bucket. */
export interface MigrationReport {
  jobId: string;
  key: string;
  etag: string;
  format?: ExportFormat;
  target: string;
  collection: string;
  dryRun: boolean;
  status: 'completed' | 'failed' | 'rolled-back';
  reason?: string;
  counts: Counts & { points: number; plannedRecords: number; rejectRatio: number; rejectThreshold: number };
  rejects: { total: number; listed: RecordReject[] };
  duplicates: { ids: number; occurrences: number; listed: Duplicate[] };
  verification: Verification;
  alias?: { name: string; collection: string; previous?: string };
  /** A failed migration's collection: deleted, or kept for a redrive. */
  cleanup?: Cleanup;
  /** Set when the alias was switched back to the collection it served before. */
  rolledBack?: { at: string; collection: string };
  timings: { startedAt?: string; completedAt: string; seconds: number; recordsPerSecond: number };
}

/** Records of one export that map to the same point: the last occurrence is the one kept. */
export interface Duplicate {
  id: PointId;
  /** The ids the records carry (e.g. the legacy `TaskId`): one, or several that map alike (`"7"`, `7`). */
  sourceIds: Array<string | number>;
  offsets: number[];
}

export interface Verification {
  countsMatch: boolean;
  pointsInCollection?: number;
  sampled: number;
  minCosine?: number;
  mismatches: Array<{ id: PointId; offset: number; reason: string }>;
  passed: boolean;
}

export interface Cleanup {
  collection: string;
  action: 'delete' | 'keep';
  reason: string;
}

/** What the finalizer found, or why the job ends without verification. */
export interface Outcome {
  reason?: string;
  rejects: RecordReject[];
  duplicates?: Duplicate[];
  points?: number;
  verification?: Verification;
  rejectRatio?: number;
}

export function buildReport(
  job: JobRecord,
  outcome: Outcome,
  end: {
    reason: string | undefined;
    alias: MigrationReport['alias'];
    cleanup: Cleanup | undefined;
    completedAt: string;
  },
): MigrationReport {
  const { reason, alias, cleanup, completedAt } = end;
  const seconds = job.startedAt ? (Date.parse(completedAt) - Date.parse(job.startedAt)) / 1000 : 0;
  const duplicates = outcome.duplicates ?? [];
  return {
    jobId: job.id,
    key: job.key,
    etag: job.etag,
    ...(job.format ? { format: job.format } : {}),
    target: job.target,
    collection: job.collection,
    dryRun: job.dryRun,
    status: reason === undefined ? 'completed' : 'failed',
    ...(reason ? { reason } : {}),
    counts: {
      ...job.counts,
      points: outcome.points ?? 0,
      plannedRecords: job.plannedRecords,
      rejectRatio: outcome.rejectRatio ?? (job.counts.records ? job.counts.rejected / job.counts.records : 0),
      rejectThreshold: job.rejectThreshold,
    },
    rejects: { total: job.counts.rejected, listed: outcome.rejects.slice(0, MAX_REPORTED_REJECTS) },
    duplicates: {
      ids: duplicates.length,
      occurrences: duplicates.reduce((n, d) => n + d.offsets.length, 0),
      listed: duplicates.slice(0, MAX_REPORTED_DUPLICATES),
    },
    verification: outcome.verification ?? { countsMatch: false, sampled: 0, mismatches: [], passed: false },
    ...(alias ? { alias } : {}),
    ...(cleanup ? { cleanup } : {}),
    timings: {
      ...(job.startedAt ? { startedAt: job.startedAt } : {}),
      completedAt,
      seconds,
      recordsPerSecond: seconds > 0 ? Math.round(job.counts.records / seconds) : job.counts.records,
    },
  };
}
