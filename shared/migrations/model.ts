import { createHash } from 'node:crypto';
import * as z from 'zod';
import { type ExportFormat, ExportFormatSchema } from '../exports/formats.ts';
import type { RecordReject } from '../exports/records.ts';
import type { PointId } from '../ids.ts';
import { CollectionNameSchema } from '../vectors/schemas.ts';

/**
 * The migration job model: what a job, its chunks and its messages look like, and where they are
 * kept. A job lives in the state store under the partition `migration#<jobId>` (the `job` item
 * and one `chunk#<index>` item per chunk), is listed in `migrations` and, until it is seen ended,
 * in `migrations#active`; the per-chunk point lists and the report are objects under
 * `migrations/<jobId>/` in the exports bucket.
 */

export const DEFAULT_REJECT_THRESHOLD = 0.05;
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;
/** A chunk stays far below a worker's memory and a 180 s visibility timeout. */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;
export const MIN_CHUNK_BYTES = 1024;

/** S3's limit on a key, in bytes of UTF-8. */
const MAX_KEY_BYTES = 1024;

/**
 * Why `key` cannot name an export, or undefined. Beyond what S3 requires (UTF-8, 1024 bytes),
 * control characters are refused (S3's XML listings cannot carry most of them) and so are `.`/`..`
 * segments (HTTP clients and file-backed stores resolve them to another key).
 */
function exportKeyProblem(key: string): string | undefined {
  if (key === '') return 'must be an object key in the exports bucket';
  // In a `u` regex a surrogate pair is one code point: `\p{Cs}` matches lone surrogates only.
  if (/\p{Cs}/u.test(key)) return 'must be valid Unicode (it holds a lone surrogate)';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)
    return `must be at most ${MAX_KEY_BYTES} bytes in UTF-8`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'must not contain control characters (NUL, line breaks…)';
  if (key.split('/').some((s) => s === '.' || s === '..')) return 'must not have "." or ".." path segments';
  if (key.startsWith('migrations/')) return 'must not be a migration artifact';
  return undefined;
}

const ExportKeySchema = z.string().superRefine((key, ctx) => {
  const problem = exportKeyProblem(key);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const CreateMigrationBodySchema = z.strictObject({
  key: ExportKeySchema,
  collection: CollectionNameSchema.refine((name) => !name.includes('__'), 'must not contain "__"'),
  format: ExportFormatSchema.optional(),
  dryRun: z.boolean().default(false),
  rejectThreshold: z.number().min(0).max(1).default(DEFAULT_REJECT_THRESHOLD),
  chunkBytes: z.int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES).default(DEFAULT_CHUNK_BYTES),
});
export type CreateMigrationBody = z.infer<typeof CreateMigrationBodySchema>;

/** A queue message: a pointer to a byte range, never the records themselves. */
export const ChunkMessageSchema = z.strictObject({
  jobId: z.string().regex(/^[0-9a-f]{16}$/),
  chunkIndex: z.int().min(0),
  start: z.int().min(0),
  end: z.int().min(1),
});
export type ChunkMessage = z.infer<typeof ChunkMessageSchema>;

/**
 * What the stalled-jobs sweep is invoked with: EventBridge's Scheduled Event (its `time`), or a
 * schedule's constant input, which may set the threshold.
 */
export const StalledSweepEventSchema = z.looseObject({
  time: z.iso.datetime({ offset: true }).optional(),
  stalledAfterSeconds: z.int().positive().optional(),
});

export const JobPathSchema = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, 'must be a migration id') });

export const ListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

export type JobStatus = 'planning' | 'running' | 'finalizing' | 'completed' | 'failed' | 'rolled-back';

export interface Counts {
  /** Records the workers parsed (the planner's count once every chunk is recorded). */
  records: number;
  /** Records upserted (or, in a dry run, that would have been). */
  written: number;
  rejected: number;
}

export interface JobRecord {
  id: string;
  key: string;
  etag: string;
  size: number;
  format?: ExportFormat;
  /** The alias the migration switches. */
  target: string;
  /** The fresh collection the migration writes into: `<target>__<id>`. */
  collection: string;
  vectorSize?: number;
  dryRun: boolean;
  rejectThreshold: number;
  chunkBytes: number;
  status: JobStatus;
  /** Every chunk's message was sent (a planner that stopped before that is resumed by a repeat). */
  dispatched?: boolean;
  /** Planned records and chunks. */
  plannedRecords: number;
  chunks: { total: number; done: number; failed: number };
  /** Chunks whose outcome is counted, and chunks that failed for good (bitmaps, see bits.ts). */
  doneBits: string;
  failedBits: string;
  counts: Counts;
  /** Records the planner could not hand to a worker (larger than a worker may hold). */
  planRejects: RecordReject[];
  /** Where the alias pointed before this migration switched it (for rollback). */
  previousCollection?: string;
  /** What verification found (set when the job ends verified or not; the report lists the mismatches). */
  verification?: VerificationSummary;
  /** The switch this migration made once verified (`name` pointed at `collection`); none for a dry run. */
  alias?: { name: string; collection: string; previous?: string };
  reportKey?: string;
  error?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  completedAt?: string;
  /** What happened beyond the normal course (a stall resumed, the collection cleaned up), oldest first. */
  history?: HistoryEntry[];
}

/** The report's verification as the job keeps it: the mismatches counted, not listed. */
export interface VerificationSummary {
  passed: boolean;
  /** The collection holds as many points as distinct ids were written. */
  countsMatch: boolean;
  pointsInCollection?: number;
  /** Points read back and compared with the export. */
  sampled: number;
  minCosine?: number;
  mismatches: number;
}

export interface HistoryEntry {
  at: string;
  message: string;
}

/** History entries kept per job (the oldest go first): the job item stays small. */
export const MAX_HISTORY = 50;

export type ChunkStatus = 'pending' | 'done' | 'failed';

export interface ChunkRecord {
  index: number;
  start: number;
  end: number;
  plannedRecords: number;
  status: ChunkStatus;
  counts?: Counts;
  /** The first rejects of the chunk (all are counted). */
  rejects?: RecordReject[];
  error?: string;
  ms?: number;
}

/** What a worker leaves in S3 for the finalizer: every point it wrote, and its verification sample. */
export interface ChunkPoints {
  /**
   * `[point id, byte offset, source id]` of each written record, in document order (files of
   * workers that predate source ids hold the first two).
   */
  points: Array<[PointId, number, (string | number)?]>;
  sample: Array<{ id: PointId; offset: number; vector: number[] }>;
}

/** Rejects kept per chunk and per report (all are counted). */
export const MAX_REJECTS_PER_CHUNK = 50;
export const MAX_REPORTED_REJECTS = 1000;
export const MAX_REPORTED_DUPLICATES = 1000;

export const jobPk = (id: string): string => `migration#${id}`;
export const JOB_SK = 'job';
export const chunkSk = (index: number): string => `chunk#${String(index).padStart(8, '0')}`;
export const CHUNK_PREFIX = 'chunk#';
/** One item per job in this partition, so jobs can be listed. */
export const INDEX_PK = 'migrations';
/** One item per job that may not have ended (sort key: its id), so stalled jobs are found without a scan. */
export const ACTIVE_PK = 'migrations#active';
/** The latest instant a JavaScript Date holds, in ms. */
const MAX_TIME = 8_640_000_000_000_000;
/** Sort keys that order the newest job first, so a page of the latest jobs is one bounded read. */
export const indexSk = (createdAt: string, id: string): string =>
  `${String(MAX_TIME - Date.parse(createdAt)).padStart(17, '0')}#${id}`;
export const chunkPointsKey = (id: string, index: number): string =>
  `migrations/${id}/chunks/${String(index).padStart(8, '0')}.json`;
export const reportKey = (id: string): string => `migrations/${id}/report.json`;

/**
 * The job id: the same object version (key + ETag) migrated to the same target the same way is the
 * same job, so a re-notified upload or a repeated request finds the job instead of starting another.
 */
export function jobIdOf(input: { key: string; etag: string; target: string; dryRun: boolean }): string {
  return createHash('sha256')
    .update(JSON.stringify([input.key, input.etag.replaceAll('"', ''), input.target, input.dryRun]))
    .digest('hex')
    .slice(0, 16);
}

/** The target of an upload: its file name without extension, as a collection name, or the default. */
export function targetOfKey(key: string, fallback: string): string {
  const base = key.slice(key.lastIndexOf('/') + 1).replace(/\.(jsonl|ndjson|json)$/i, '');
  const name = base
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/_{2,}/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 200);
  return name === '' ? fallback : name;
}
