import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CollectionNameSchema } from '../vectors/schemas.ts';

/**
 * The backup model: what a backup and a restore are, where they are kept and what their queue
 * messages say. A backup is one run over some collections (and the plan registry); its objects
 * are under `backups/<id>/` in the exports bucket, its record in the state partition `backup`.
 * A restore is the migration of one collection of a backup; its record is in `restore`, the
 * decompressed JSONL it migrates under `restores/<id>/`. Neither prefix is `exports/`, so no
 * upload notification starts a migration of its own.
 */

/** Sortable by time: `20261203T101500Z-a1b2c3d4`. */
const RUN_ID_RE = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;
export const BackupIdSchema = z.string().regex(RUN_ID_RE, 'must be a backup id (20261203T101500Z-a1b2c3d4)');
export const RestoreIdSchema = z
  .string()
  .regex(RUN_ID_RE, 'must be a restore id (20261203T101500Z-a1b2c3d4)');

/** A new id for a backup or a restore made at `at`; ids sort as their times do. */
export function runIdAt(at: Date): string {
  const compact = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${compact}-${randomBytes(4).toString('hex')}`;
}

export const BACKUP_PK = 'backup';
export const RESTORE_PK = 'restore';
/** When the schedule last asked for a backup (sort key in `backup-schedule`). */
export const SCHEDULE_PK = 'backup-schedule';
export const SCHEDULE_SK = 'last';

export const backupPrefix = (id: string): string => `backups/${id}/`;
export const manifestKey = (id: string): string => `${backupPrefix(id)}manifest.json`;
export const collectionKey = (id: string, name: string): string =>
  `${backupPrefix(id)}collections/${name}.jsonl.gz`;
export const plansKey = (id: string): string => `${backupPrefix(id)}plans.jsonl.gz`;
export const restoreKey = (id: string, name: string): string => `restores/${id}/${name}.jsonl`;

export const BACKUP_FORMAT = 'vector-platform-backup/1';

/** One collection in a backup. */
export interface CollectionBackup {
  /** The name it is known by (an alias when one points at it) and restored to by default. */
  name: string;
  /** The Qdrant collection read (the alias's collection at the time). */
  collection: string;
  key: string;
  points: number;
  /** Bytes stored (gzip) and their sha256, hex. */
  bytes: number;
  sha256: string;
  vectors: { size: number; distance: string };
  /** The embedder the collection records (model, dimensions), when it records one. */
  embedding?: { model: string; dimensions: number };
  /** Qdrant's collection configuration as read: what a restore cannot carry over is visible here. */
  config: Record<string, unknown>;
}

/** The plan registry (state partitions of `shared/plans/`), one `{pk, sk, value}` per line. */
export interface StateBackup {
  key: string;
  partitions: string[];
  items: number;
  bytes: number;
  sha256: string;
}

/** `backups/<id>/manifest.json`. */
export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  id: string;
  createdAt: string;
  completedAt: string;
  collections: CollectionBackup[];
  plans: StateBackup;
}

export type BackupStatus = 'pending' | 'running' | 'completed' | 'failed';
export type BackupTrigger = 'action' | 'schedule';

export interface BackupRecord {
  id: string;
  status: BackupStatus;
  trigger: BackupTrigger;
  by: string;
  /** Asked for; empty: every collection. */
  requested: string[];
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  completedAt?: string;
  manifestKey?: string;
  collections?: CollectionBackup[];
  plans?: StateBackup;
  /** Points per second of the whole run (scroll, compression and upload). */
  pointsPerSecond?: number;
  error?: string;
}

/** `migrating` until its migration ends: then `completed` (every point written, alias switched) or `failed`. */
export type RestoreStatus = 'pending' | 'decompressing' | 'migrating' | 'completed' | 'failed';

export interface RestoreRecord {
  id: string;
  backupId: string;
  /** The collection's name in the backup. */
  collection: string;
  /** The alias the migration switches. */
  target: string;
  by: string;
  status: RestoreStatus;
  createdAt: string;
  updatedAt: string;
  /** The plain JSONL the migration reads. */
  key?: string;
  /** The migration job that writes, verifies and switches. */
  jobId?: string;
  points?: number;
  /** Asked to write back the backup's plans the registry no longer has. */
  plansRequested: boolean;
  /** Plans of the backup written back because they were missing, and those kept as they were. */
  plans?: { restored: string[]; kept: string[] };
  error?: string;
}

/** A message of the backups queue: the record says the rest. */
export const BackupMessageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('backup'), backupId: BackupIdSchema }),
  z.strictObject({ kind: z.literal('restore'), restoreId: RestoreIdSchema }),
]);
export type BackupMessage = z.infer<typeof BackupMessageSchema>;

const collectionsField = z
  .array(CollectionNameSchema)
  .max(100)
  .refine((names) => new Set(names).size === names.length, 'must not repeat a collection');

export const BackupInputSchema = z.strictObject({
  /** Absent: the manager's configured `collections` (empty there: every collection). */
  collections: collectionsField.min(1).optional(),
});

export const RestoreInputSchema = z.strictObject({
  backupId: BackupIdSchema,
  collection: CollectionNameSchema,
  /** The alias to restore into; the collection's name by default. */
  target: CollectionNameSchema.refine((name) => !name.includes('__'), 'must not contain "__"').optional(),
  /** Also write back the backup's plans that the registry no longer has. */
  plans: z.boolean().default(false),
});
export type RestoreInput = z.output<typeof RestoreInputSchema>;

export const GetInputSchema = z.strictObject({
  id: z.string().regex(RUN_ID_RE, 'must be a backup or restore id'),
});
export const ListInputSchema = z.strictObject({ limit: z.int().min(1).max(100).default(20) });

/** How many completed backups are kept, and for how long. */
export interface Retention {
  /** Completed backups kept, newest first. */
  keepLast: number;
  /** Completed backups older than this many days are deleted (the newest is always kept); 0: no age limit. */
  maxAgeDays: number;
}

export const BackupConfigSchema = z.strictObject({
  /** What a backup covers when it names none; empty: every collection (and alias). */
  collections: collectionsField.default([]),
  /** Completed backups kept, newest first. */
  keepLast: z.int().min(1).max(1_000).default(7),
  /** Completed backups older than this many days are deleted (the newest is always kept); 0: no age limit. */
  maxAgeDays: z.int().min(0).max(3_650).default(0),
  /** The schedule asks for a backup when the last one it asked for is this old. */
  everyHours: z
    .int()
    .min(1)
    .max(24 * 31)
    .default(24),
  scheduleEnabled: z.boolean().default(true),
});
export type BackupConfig = z.output<typeof BackupConfigSchema>;

/**
 * The backups queue and its worker, as the deployment must declare them (the manifest reads
 * these): the worker marks a run failed on its last receive, and the visibility timeout must
 * outlast the worker.
 */
export const BACKUP_WORKER_TIMEOUT_SECONDS = 900;
export const BACKUP_QUEUE = { maxReceiveCount: 3, visibilityTimeoutSeconds: 960 } as const;
