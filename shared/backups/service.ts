import { NotFoundError } from '../errors.ts';
import type { PublicJob } from '../migrations/service.ts';
import { resolveCollections } from './collections.ts';
import { type BackupContext, type BackupDeps, createContext } from './context.ts';
import {
  BACKUP_PK,
  type BackupConfig,
  type BackupMessage,
  type BackupRecord,
  type BackupTrigger,
  RESTORE_PK,
  type RestoreInput,
  type RestoreRecord,
  runIdAt,
  SCHEDULE_PK,
  SCHEDULE_SK,
} from './model.ts';
import { applyRetention, failBackup, runBackup } from './run-backup.ts';
import { checkRestore, failRestore, runRestore } from './run-restore.ts';

export type { BackupDeps } from './context.ts';

/**
 * Backups of collections (and of the plan registry) to the exports bucket, and restores of them
 * through a migration. Asking (an action, the schedule) writes a pending record and sends one
 * message to the backups queue; its worker runs it (`run-backup.ts`, `run-restore.ts`), so the
 * long part never runs inside a contract call.
 */

/** A restore as the API shows it: its record, and the migration that writes it once started. */
export interface RestoreView extends RestoreRecord {
  migration?: Pick<PublicJob, 'status' | 'collection' | 'counts' | 'reportKey' | 'error'>;
  /** Every point of the backup written and verified, and the alias switched. */
  restored?: boolean;
}

export class BackupService {
  readonly #ctx: BackupContext;

  constructor(deps: BackupDeps) {
    this.#ctx = createContext(deps);
  }

  /** A pending backup of `collections` (unknown names are refused now), queued for the worker. */
  async requestBackup(collections: string[], trigger: BackupTrigger, by: string): Promise<BackupRecord> {
    if (collections.length > 0) await resolveCollections(this.#ctx.deps.qdrant, collections);
    const now = this.#ctx.now().toISOString();
    const record: BackupRecord = {
      id: runIdAt(this.#ctx.now()),
      status: 'pending',
      trigger,
      by,
      requested: collections,
      createdAt: now,
      updatedAt: now,
    };
    await this.#ctx.deps.state.put(BACKUP_PK, record.id, record);
    await this.#send({ kind: 'backup', backupId: record.id });
    return record;
  }

  /** A pending restore, checked now (404, 409 or 400 naming the field), queued for the worker. */
  async requestRestore(input: RestoreInput, by: string): Promise<RestoreRecord> {
    const target = input.target ?? input.collection;
    await checkRestore(this.#ctx, { backupId: input.backupId, collection: input.collection, target });
    const now = this.#ctx.now().toISOString();
    const record: RestoreRecord = {
      id: runIdAt(this.#ctx.now()),
      backupId: input.backupId,
      collection: input.collection,
      target,
      by,
      status: 'pending',
      plansRequested: input.plans,
      createdAt: now,
      updatedAt: now,
    };
    await this.#ctx.deps.state.put(RESTORE_PK, record.id, record);
    await this.#send({ kind: 'restore', restoreId: record.id });
    return record;
  }

  /**
   * The schedule's run: a backup of the configured collections when scheduling is on and the last
   * one the schedule asked for is `everyHours` old (or there was none).
   */
  async scheduled(config: BackupConfig): Promise<BackupRecord | undefined> {
    if (!config.scheduleEnabled) return undefined;
    const { state } = this.#ctx.deps;
    const last = await state.get<{ at: string }>(SCHEDULE_PK, SCHEDULE_SK);
    const now = this.#ctx.now();
    if (last && now.getTime() - Date.parse(last.value.at) < config.everyHours * 3_600_000) return undefined;
    // Written first: two overlapping runs do not both ask (the second finds it fresh).
    await state.put(SCHEDULE_PK, SCHEDULE_SK, { at: now.toISOString() });
    return this.requestBackup(config.collections, 'schedule', 'schedule');
  }

  /** One message of the backups queue (see `run-backup.ts`, `run-restore.ts`). */
  async run(message: BackupMessage, config: BackupConfig): Promise<BackupRecord | RestoreRecord> {
    return message.kind === 'backup'
      ? runBackup(this.#ctx, message.backupId, config)
      : runRestore(this.#ctx, message.restoreId);
  }

  /** Its last delivery failed: the backup or restore ends failed with `reason`. */
  async failed(message: BackupMessage, reason: string): Promise<void> {
    if (message.kind === 'backup') await failBackup(this.#ctx, message.backupId, reason);
    else await failRestore(this.#ctx, message.restoreId, reason);
  }

  /** Applies the retention policy now (also done after every backup). */
  applyRetention(config: BackupConfig): Promise<string[]> {
    return applyRetention(this.#ctx, config);
  }

  /** The latest backups and restores first. */
  async list(limit: number): Promise<{ backups: BackupRecord[]; restores: RestoreRecord[] }> {
    const { state } = this.#ctx.deps;
    const [backups, restores] = await Promise.all([
      state.list<BackupRecord>(BACKUP_PK, { reverse: true, limit }),
      state.list<RestoreRecord>(RESTORE_PK, { reverse: true, limit }),
    ]);
    const settled = await Promise.all(
      restores.map(async ({ value }) =>
        value.status === 'migrating' ? (await this.#settle(value)).record : value,
      ),
    );
    return { backups: backups.map((i) => i.value), restores: settled };
  }

  /** A backup, or a restore with its migration's progress. */
  async get(id: string): Promise<{ backup: BackupRecord } | { restore: RestoreView }> {
    const { state } = this.#ctx.deps;
    const backup = await state.get<BackupRecord>(BACKUP_PK, id);
    if (backup) return { backup: backup.value };
    const restore = await state.get<RestoreRecord>(RESTORE_PK, id);
    if (!restore) {
      throw new NotFoundError(`no backup or restore "${id}"`, [
        { field: 'input.id', reason: 'no such backup or restore' },
      ]);
    }
    const { record, job } = await this.#settle(restore.value);
    if (!job) return { restore: record };
    return {
      restore: {
        ...record,
        migration: {
          status: job.status,
          collection: job.collection,
          counts: job.counts,
          ...(job.reportKey ? { reportKey: job.reportKey } : {}),
          ...(job.error ? { error: job.error } : {}),
        },
        restored: record.status === 'completed',
      },
    };
  }

  /**
   * A restore whose migration has ended takes its outcome, stored once: `completed` when every
   * point of the backup was written and none rejected, else `failed` with the reason.
   */
  async #settle(record: RestoreRecord): Promise<{ record: RestoreRecord; job?: PublicJob }> {
    if (!record.jobId) return { record };
    const job = await this.#ctx.deps.migrations().get(record.jobId);
    if (record.status !== 'migrating' || (job.status !== 'completed' && job.status !== 'failed'))
      return { record, job };
    const complete =
      job.status === 'completed' && job.counts.written === record.points && job.counts.rejected === 0;
    const settled: RestoreRecord = {
      ...record,
      status: complete ? 'completed' : 'failed',
      updatedAt: this.#ctx.now().toISOString(),
      ...(complete
        ? {}
        : {
            error:
              job.error ??
              `the migration wrote ${job.counts.written} of the backup's ${record.points} points (${job.counts.rejected} rejected)`,
          }),
    };
    await this.#ctx.deps.state.put(RESTORE_PK, record.id, settled);
    return { record: settled, job };
  }

  async #send(message: BackupMessage): Promise<void> {
    await this.#ctx.deps.queue.send([{ body: message }]);
  }
}
