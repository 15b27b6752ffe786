import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { DEFAULT_CHUNK_BYTES } from '../migrations/model.ts';
import { PLAN_PK } from '../plans/service.ts';
import { isCollection } from './collections.ts';
import type { BackupContext } from './context.ts';
import {
  BACKUP_PK,
  type BackupRecord,
  type CollectionBackup,
  RESTORE_PK,
  type RestoreRecord,
  restoreKey,
} from './model.ts';
import { type Digest, gunzipped } from './streams.ts';

/** A restore that cannot go on (retrying will not help): it ends failed with this reason. */
class RestoreError extends Error {}

/**
 * What a restore of `collection` from `backupId` into `target` would restore, or the error that
 * refuses it: the backup must be completed and hold the collection, and `target` must be free
 * for an alias (absent, or an alias already). Checked when asked, and again when run.
 */
export async function checkRestore(
  ctx: BackupContext,
  input: { backupId: string; collection: string; target: string },
): Promise<{ backup: BackupRecord; entry: CollectionBackup }> {
  const item = await ctx.deps.state.get<BackupRecord>(BACKUP_PK, input.backupId);
  if (!item) {
    throw new NotFoundError(`no backup "${input.backupId}"`, [
      { field: 'input.backupId', reason: 'no such backup (deleted by the retention policy, or never made)' },
    ]);
  }
  const backup = item.value;
  if (backup.status !== 'completed') {
    throw new ConflictError(
      `backup "${backup.id}" is ${backup.status}: only a completed backup can be restored`,
      [{ field: 'input.backupId', reason: `the backup is ${backup.status}` }],
    );
  }
  const entry = backup.collections?.find((c) => c.name === input.collection);
  if (!entry) {
    throw new NotFoundError(`backup "${backup.id}" holds no collection "${input.collection}"`, [
      {
        field: 'input.collection',
        reason: `must be one of: ${(backup.collections ?? []).map((c) => c.name).join(', ') || '(none)'}`,
      },
    ]);
  }
  if (input.target.includes('__')) {
    throw ValidationError.field(
      'input.target',
      `"${input.target}" contains "__" (a migration's versions are named so): give a target without it`,
    );
  }
  // The migration creates cosine collections: another distance would come back changed.
  if (entry.vectors.distance !== 'Cosine') {
    throw ValidationError.field(
      'input.collection',
      `"${entry.name}" uses ${entry.vectors.distance} distance; a restore (a migration) creates Cosine collections only`,
    );
  }
  if (await isCollection(ctx.deps.qdrant, input.target)) {
    throw new ConflictError(
      `"${input.target}" is a collection, not an alias: a restore switches an alias of that name. Delete the collection, or restore under another target`,
      [{ field: 'input.target', reason: `"${input.target}" is an existing collection` }],
    );
  }
  return { backup, entry };
}

/**
 * Runs a pending restore: the backup's gzipped JSONL is decompressed into a plain object (a
 * migration reads byte ranges, which a gzip stream has none of) while its sha256 is checked
 * against the manifest, then handed to a migration into `target` (a fresh collection, verified,
 * then switched behind the alias) that rejects nothing: one bad record fails it, alias untouched.
 * A redelivered message finds the migration started and does nothing more.
 */
export async function runRestore(ctx: BackupContext, id: string): Promise<RestoreRecord> {
  const item = await ctx.deps.state.get<RestoreRecord>(RESTORE_PK, id);
  if (!item) throw new NotFoundError(`no restore "${id}"`);
  let record = item.value;
  if (record.status !== 'pending' && record.status !== 'decompressing') return record;
  try {
    const { backup, entry } = await checkRestore(ctx, record).catch((err: unknown) => {
      throw new RestoreError((err as Error).message);
    });
    const key = restoreKey(id, entry.name);
    record = await save(ctx, { ...record, status: 'decompressing', key, points: entry.points });
    const digest = await decompress(ctx, entry.key, key);
    if (digest.sha256 !== entry.sha256 || digest.bytes !== entry.bytes) {
      throw new RestoreError(
        `${entry.key} does not match the backup's manifest (sha256 ${digest.sha256}, ${digest.bytes} bytes; expected ${entry.sha256}, ${entry.bytes} bytes)`,
      );
    }
    const plans = record.plansRequested ? await restorePlans(ctx, backup) : undefined;
    const { job } = await ctx.deps.migrations().start({
      key,
      collection: record.target,
      dryRun: false,
      rejectThreshold: 0,
      chunkBytes: DEFAULT_CHUNK_BYTES,
    });
    record = await save(ctx, { ...record, status: 'migrating', jobId: job.id, ...(plans ? { plans } : {}) });
    await ctx.publish('RestoreStarted', {
      restoreId: id,
      backupId: record.backupId,
      collection: record.collection,
      target: record.target,
      jobId: job.id,
      points: entry.points,
    });
    return record;
  } catch (err) {
    if (!(err instanceof RestoreError)) throw err;
    return fail(ctx, record, err.message);
  }
}

/** Marks a restore failed after its last delivery failed (the queue dead-letters the message). */
export async function failRestore(ctx: BackupContext, id: string, reason: string): Promise<void> {
  const item = await ctx.deps.state.get<RestoreRecord>(RESTORE_PK, id);
  if (!item || (item.value.status !== 'pending' && item.value.status !== 'decompressing')) return;
  await fail(ctx, item.value, reason);
}

async function fail(ctx: BackupContext, record: RestoreRecord, reason: string): Promise<RestoreRecord> {
  if (record.key) await ctx.deps.objects.delete(record.key);
  const failed = await save(ctx, { ...record, status: 'failed', error: reason });
  await ctx.publish('RestoreFailed', {
    restoreId: record.id,
    backupId: record.backupId,
    collection: record.collection,
    target: record.target,
    reason,
  });
  return failed;
}

async function save(ctx: BackupContext, record: RestoreRecord): Promise<RestoreRecord> {
  const next = { ...record, updatedAt: ctx.now().toISOString() };
  await ctx.deps.state.put(RESTORE_PK, record.id, next);
  return next;
}

async function decompress(ctx: BackupContext, from: string, to: string): Promise<Digest> {
  const { body, done } = gunzipped(await ctx.deps.objects.stream(from));
  try {
    const [, digest] = await Promise.all([ctx.deps.objects.upload(to, body, 'application/x-ndjson'), done]);
    return digest;
  } catch (err) {
    body.destroy();
    // A corrupt gzip stream cannot be fixed by a retry.
    if ((err as { code?: string }).code?.startsWith('Z_')) {
      throw new RestoreError(`${from} is not a readable gzip stream: ${(err as Error).message}`);
    }
    throw err;
  }
}

/**
 * Writes back the plans of the backup the registry no longer has (their summary and outline
 * items); a plan still registered is kept as it is, newer than the backup's.
 */
async function restorePlans(
  ctx: BackupContext,
  backup: BackupRecord,
): Promise<{ restored: string[]; kept: string[] }> {
  const { state } = ctx.deps;
  const key = backup.plans?.key;
  if (!key) return { restored: [], kept: [] };
  const { body, done } = gunzipped(await ctx.deps.objects.stream(key));
  const items: Array<{ pk: string; sk: string; value: unknown }> = [];
  let rest = '';
  for await (const chunk of body) {
    const lines = (rest + (chunk as Buffer).toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line !== '') items.push(JSON.parse(line) as (typeof items)[number]);
  }
  await done;
  const plans = items.filter((i) => i.pk === PLAN_PK).map((i) => i.sk);
  const restored: string[] = [];
  const kept: string[] = [];
  for (const planId of plans) {
    if (await state.get(PLAN_PK, planId)) {
      kept.push(planId);
      continue;
    }
    // Outline items first: a plan is listed once its summary is written, and reads its outline.
    for (const item of items) {
      if (item.pk !== PLAN_PK && item.sk.startsWith(`${planId}#`))
        await state.put(item.pk, item.sk, item.value);
    }
    const summary = items.find((i) => i.pk === PLAN_PK && i.sk === planId)!;
    await state.put(PLAN_PK, planId, summary.value);
    restored.push(planId);
  }
  return { restored, kept };
}
