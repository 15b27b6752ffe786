import type { Readable } from 'node:stream';
import { NotFoundError } from '../errors.ts';
import { OUTLINE_PK, PLAN_PK } from '../plans/service.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';
import { type NamedCollection, resolveCollections } from './collections.ts';
import type { BackupContext } from './context.ts';
import {
  BACKUP_FORMAT,
  BACKUP_PK,
  type BackupManifest,
  type BackupRecord,
  type CollectionBackup,
  collectionKey,
  manifestKey,
  plansKey,
  type Retention,
  type StateBackup,
} from './model.ts';
import { expiredBackups } from './retention.ts';
import { type Digest, gzipped } from './streams.ts';

const DEFAULT_PAGE_SIZE = 1_000;
/** The state a restore needs besides the collections: the plan registry (`shared/plans/`). */
const STATE_PARTITIONS = [PLAN_PK, OUTLINE_PK];

/** A backup that cannot be made as asked (retrying will not help): it ends failed with this reason. */
class BackupError extends Error {}

/**
 * Runs a pending backup: each collection scrolled page by page into gzipped JSONL streamed to S3,
 * then the plan registry, then the manifest; the record completed, BackupCompleted published, and
 * the retention policy applied. A redelivered message finds the backup completed and does
 * nothing; one that finds it running (its worker died) runs it again over the same keys.
 */
export async function runBackup(ctx: BackupContext, id: string, retention: Retention): Promise<BackupRecord> {
  const item = await ctx.deps.state.get<BackupRecord>(BACKUP_PK, id);
  if (!item) throw new NotFoundError(`no backup "${id}"`);
  if (item.value.status === 'completed' || item.value.status === 'failed') return item.value;
  const started = ctx.now();
  let record = await save(ctx, { ...item.value, status: 'running', startedAt: started.toISOString() });
  try {
    const targets = await resolveCollections(ctx.deps.qdrant, record.requested);
    const collections: CollectionBackup[] = [];
    for (const target of targets) {
      collections.push(await backupCollection(ctx, id, target));
      // Recorded as they are stored: a backup that fails later deletes what it wrote.
      record = await save(ctx, { ...record, collections: [...collections] });
    }
    const plans = await backupState(ctx, id);
    const completedAt = ctx.now();
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      id,
      createdAt: record.createdAt,
      completedAt: completedAt.toISOString(),
      collections,
      plans,
    };
    await ctx.deps.objects.put(manifestKey(id), JSON.stringify(manifest, null, 2), 'application/json');
    const points = collections.reduce((n, c) => n + c.points, 0);
    const seconds = Math.max((completedAt.getTime() - started.getTime()) / 1000, 0.001);
    record = await save(ctx, {
      ...record,
      status: 'completed',
      completedAt: manifest.completedAt,
      manifestKey: manifestKey(id),
      collections,
      plans,
      pointsPerSecond: Math.round(points / seconds),
    });
    await ctx.publish('BackupCompleted', {
      backupId: id,
      trigger: record.trigger,
      manifestKey: manifestKey(id),
      collections: collections.map((c) => ({ name: c.name, points: c.points, bytes: c.bytes })),
      points,
    });
  } catch (err) {
    if (!(err instanceof BackupError || err instanceof NotFoundError)) throw err;
    record = await fail(ctx, record, err.message);
  }
  await applyRetention(ctx, retention);
  return record;
}

async function fail(ctx: BackupContext, record: BackupRecord, reason: string): Promise<BackupRecord> {
  await deleteObjects(ctx, record);
  const failed = await save(ctx, { ...record, status: 'failed', error: reason });
  await ctx.publish('BackupFailed', { backupId: record.id, trigger: record.trigger, reason });
  return failed;
}

/** Marks a backup failed after its last delivery failed (the queue dead-letters the message). */
export async function failBackup(ctx: BackupContext, id: string, reason: string): Promise<void> {
  const item = await ctx.deps.state.get<BackupRecord>(BACKUP_PK, id);
  if (!item || item.value.status === 'completed' || item.value.status === 'failed') return;
  await fail(ctx, item.value, reason);
}

async function save(ctx: BackupContext, record: BackupRecord): Promise<BackupRecord> {
  const next = { ...record, updatedAt: ctx.now().toISOString() };
  await ctx.deps.state.put(BACKUP_PK, record.id, next);
  return next;
}

async function backupCollection(
  ctx: BackupContext,
  id: string,
  target: NamedCollection,
): Promise<CollectionBackup> {
  const { qdrant } = ctx.deps;
  const info = await qdrantCall({ collection: target.collection }, () =>
    qdrant.getCollection(target.collection),
  );
  const vectors = info.config.params.vectors as { size?: unknown; distance?: unknown } | undefined;
  if (typeof vectors?.size !== 'number' || typeof vectors.distance !== 'string') {
    throw new BackupError(
      `collection "${target.name}" has named vectors: a backup takes one dense vector per point`,
    );
  }
  const metadata = (info.config as { metadata?: Record<string, unknown> | null }).metadata;
  const embedding = metadata?.embedding as { model?: unknown; dimensions?: unknown } | undefined;
  let points = 0;
  const pageSize = ctx.deps.pageSize ?? DEFAULT_PAGE_SIZE;
  // One page in memory at a time: the next is asked for when the compressor wants more.
  async function* lines(): AsyncGenerator<Buffer> {
    let offset: string | number | undefined;
    do {
      const page = await qdrantCall({ collection: target.collection }, () =>
        qdrant.scroll(target.collection, {
          limit: pageSize,
          with_payload: true,
          with_vector: true,
          ...(offset === undefined ? {} : { offset }),
        }),
      );
      let text = '';
      for (const point of page.points) {
        if (!Array.isArray(point.vector) || typeof point.vector[0] !== 'number') {
          throw new BackupError(`collection "${target.name}": point ${point.id} has no dense vector`);
        }
        // The record shape the migration's parser takes: `id`, `vector`, the rest under `payload`.
        text += `${JSON.stringify({ id: point.id, vector: point.vector, payload: point.payload ?? {} })}\n`;
        points += 1;
      }
      yield Buffer.from(text);
      const next = page.next_page_offset;
      offset = typeof next === 'string' || typeof next === 'number' ? next : undefined;
    } while (offset !== undefined);
  }
  const key = collectionKey(id, target.name);
  const digest = await uploadGzipped(ctx, key, lines());
  return {
    name: target.name,
    collection: target.collection,
    key,
    points,
    ...digest,
    vectors: { size: vectors.size, distance: vectors.distance },
    ...(typeof embedding?.model === 'string' && typeof embedding.dimensions === 'number'
      ? { embedding: { model: embedding.model, dimensions: embedding.dimensions } }
      : {}),
    config: info.config as unknown as Record<string, unknown>,
  };
}

/** The plan registry's items, one `{pk, sk, value}` JSON line each. */
async function backupState(ctx: BackupContext, id: string): Promise<StateBackup> {
  let items = 0;
  const { state } = ctx.deps;
  async function* lines(): AsyncGenerator<Buffer> {
    for (const pk of STATE_PARTITIONS) {
      const list = await state.list<unknown>(pk);
      for (const item of list) {
        items += 1;
        yield Buffer.from(`${JSON.stringify({ pk, sk: item.sk, value: item.value })}\n`);
      }
    }
  }
  const key = plansKey(id);
  const digest = await uploadGzipped(ctx, key, lines());
  return { key, partitions: STATE_PARTITIONS, items, ...digest };
}

async function uploadGzipped(
  ctx: BackupContext,
  key: string,
  source: AsyncIterable<Buffer>,
): Promise<Digest> {
  const { body, done } = gzipped(source);
  try {
    const [, digest] = await Promise.all([ctx.deps.objects.upload(key, body, 'application/gzip'), done]);
    return digest;
  } catch (err) {
    (body as Readable).destroy();
    throw err;
  }
}

/** Deletes the backups the retention policy no longer keeps: objects first, then their record. */
export async function applyRetention(ctx: BackupContext, retention: Retention): Promise<string[]> {
  const records = (await ctx.deps.state.list<BackupRecord>(BACKUP_PK)).map((i) => i.value);
  const expired = expiredBackups(records, retention, ctx.now());
  for (const record of expired) {
    await deleteObjects(ctx, record);
    await ctx.deps.state.delete(BACKUP_PK, record.id);
  }
  return expired.map((r) => r.id);
}

/** Every object a backup may have written (a failed one may have written some of them). */
async function deleteObjects(ctx: BackupContext, record: BackupRecord): Promise<void> {
  const keys = new Set([
    manifestKey(record.id),
    plansKey(record.id),
    ...(record.collections ?? []).map((c) => c.key),
    ...record.requested.map((name) => collectionKey(record.id, name)),
  ]);
  for (const key of keys) await ctx.deps.objects.delete(key);
}
