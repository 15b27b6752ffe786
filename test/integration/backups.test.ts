import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import type { BackupRecord, RestoreRecord } from '#shared/backups/model.ts';
import type { RestoreView } from '#shared/backups/service.ts';
import type { LoggedEvent } from '#shared/events/log.ts';
import { uuidV5 } from '#shared/ids.ts';
import { apiCaller, eventually, tokenFor } from './support.ts';

/**
 * The backup manager end to end on the local runtime, through the coordinator API, the backups
 * queue, the local S3 (multipart uploads) and the bus: a backup, the collection deleted, the
 * restore through a migration behind the alias, and every point back (ids of the three kinds,
 * payloads, vectors within float32 rounding); then the refusals a bad request gets.
 */

let dataDir: string;
let runtime: LocalRuntime;
let qdrant: QdrantClient;
const call = apiCaller(
  () => runtime.apiUrl,
  tokenFor(() => runtime),
);

/** Generous: the worker, a migration's planner and its workers are cold on a busy machine. */
const SLOW = 120_000;
const DIM = 384;
const NAME = 'backup_notes';
/** More than one scroll page (1000), with ids of every kind the platform keeps. */
const POINTS = 1_500;

function pointOf(i: number) {
  const id = i % 3 === 0 ? i : i % 3 === 1 ? uuidV5(`uuid-${i}`) : `legacy_task_${i}`;
  const vector = Array.from(
    { length: DIM },
    (_, d) => Math.sin(i * 7.3 + d * 0.37) + (d === i % DIM ? 2 : 0),
  );
  return {
    id,
    vector,
    payload: { n: i, title: `note ${i}`, tags: ['a', `t${i % 5}`], nested: { ok: i % 2 === 0 } },
  };
}

async function action(name: string, input: unknown = {}) {
  return call('POST', `/api/v1/managers/backup/actions/${name}`, input);
}

async function allPoints(collection: string) {
  const points = new Map<string | number, { payload: Record<string, unknown>; vector: number[] }>();
  let offset: string | number | undefined;
  do {
    const page = await qdrant.scroll(collection, {
      limit: 500,
      with_payload: true,
      with_vector: true,
      ...(offset === undefined ? {} : { offset }),
    });
    for (const p of page.points) {
      points.set(p.id, { payload: p.payload ?? {}, vector: p.vector as number[] });
    }
    const next = page.next_page_offset;
    offset = typeof next === 'string' || typeof next === 'number' ? next : undefined;
  } while (offset !== undefined);
  return points;
}

async function finishedBackup(id: string): Promise<BackupRecord> {
  return eventually(
    `backup ${id} to end`,
    async () => {
      const { body } = await action('get', { id });
      const backup = body.result.backup as BackupRecord;
      return backup.status === 'completed' || backup.status === 'failed' ? backup : undefined;
    },
    SLOW,
  );
}

async function finishedRestore(id: string): Promise<RestoreView> {
  return eventually(
    `restore ${id} to end`,
    async () => {
      const { body } = await action('get', { id });
      const restore = body.result.restore as RestoreView;
      return restore.status === 'completed' || restore.status === 'failed' ? restore : undefined;
    },
    SLOW,
  );
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-backups-'));
  runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false });
  qdrant = new QdrantClient({ url: runtime.qdrantUrl, checkCompatibility: false });
  const created = await call('POST', '/api/v1/vectors/collections', { name: NAME, vectorSize: DIM });
  expect(created.status).toBe(201);
  for (let i = 0; i < POINTS; i += 500) {
    const points = Array.from({ length: Math.min(500, POINTS - i) }, (_, k) => pointOf(i + k));
    const upserted = await call('POST', '/api/v1/vectors/upsert', { collection: NAME, points });
    expect(upserted.status).toBe(200);
  }
}, SLOW);

afterAll(async () => {
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('backup and restore on the local runtime', () => {
  let backupId: string;
  let before: Awaited<ReturnType<typeof allPoints>>;

  it(
    'backs up a collection to the exports bucket (gzipped JSONL and a manifest with checksums)',
    async () => {
      before = await allPoints(NAME);
      expect(before.size).toBe(POINTS);
      const { status, body } = await action('backup', { collections: [NAME] });
      expect(status).toBe(200);
      const pending = body.result.backup as BackupRecord;
      expect(pending).toMatchObject({ status: 'pending', trigger: 'action', requested: [NAME] });
      backupId = pending.id;

      const backup = await finishedBackup(backupId);
      expect(backup.error).toBeUndefined();
      expect(backup.status).toBe('completed');
      expect(backup.collections).toEqual([
        expect.objectContaining({
          name: NAME,
          collection: NAME,
          points: POINTS,
          vectors: { size: DIM, distance: 'Cosine' },
          sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        }),
      ]);
      const events = await eventually('BackupCompleted in the event log', async () => {
        const { body: log } = await call('GET', '/api/v1/events?type=BackupCompleted');
        const found = (log.events as LoggedEvent[]).find((e) => e.detail.backupId === backupId);
        return found;
      });
      expect(events.detail).toMatchObject({ points: POINTS, trigger: 'action' });
    },
    SLOW,
  );

  it('refuses to restore onto a name that is still a collection (409 naming it)', async () => {
    const { status, body } = await action('restore', { backupId, collection: NAME });
    expect(status).toBe(409);
    expect(body.error.message).toContain(`"${NAME}" is a collection, not an alias`);
    expect(body.error.issues).toEqual([
      { field: 'input.target', reason: `"${NAME}" is an existing collection` },
    ]);
  });

  it(
    'restores it after the collection is deleted: every id, payload and vector comes back behind the alias',
    async () => {
      const deleted = await call('DELETE', `/api/v1/vectors/collections/${NAME}`);
      expect(deleted.status).toBe(200);
      const { status, body } = await action('restore', { backupId, collection: NAME });
      expect(status).toBe(200);
      const asked = body.result.restore as RestoreRecord;
      expect(asked).toMatchObject({ status: 'pending', target: NAME, backupId });

      const restore = await finishedRestore(asked.id);
      expect(restore.error).toBeUndefined();
      expect(restore.migration).toMatchObject({
        status: 'completed',
        counts: { written: POINTS, rejected: 0 },
      });
      expect(restore.restored).toBe(true);
      expect(restore.status).toBe('completed');
      // Stored once settled: the list shows it too.
      const listed = (await action('list', {})).body.result.restores as RestoreRecord[];
      expect(listed.find((r) => r.id === asked.id)).toMatchObject({
        status: 'completed',
        jobId: restore.jobId,
      });
      const { aliases } = await qdrant.getAliases();
      expect(aliases).toContainEqual({ alias_name: NAME, collection_name: restore.migration!.collection });

      const after = await allPoints(NAME);
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      for (const [id, point] of before) {
        const back = after.get(id)!;
        expect(back.payload, `payload of ${id}`).toEqual(point.payload);
        expect(back.vector).toHaveLength(DIM);
        const worst = Math.max(...point.vector.map((x, d) => Math.abs(x - back.vector[d]!)));
        expect(worst, `vector of ${id}`).toBeLessThan(1e-6);
      }
    },
    SLOW,
  );

  it('answers bad requests with the field and the reason', async () => {
    const unknownBackup = await action('restore', {
      backupId: '20000101T000000Z-00000000',
      collection: NAME,
    });
    expect(unknownBackup.status).toBe(404);
    expect(unknownBackup.body.error.issues[0].field).toBe('input.backupId');

    const badId = await action('restore', { backupId: 'yesterday', collection: NAME });
    expect(badId.status).toBe(400);
    expect(badId.body.error.issues[0].field).toBe('input.backupId');

    const notInBackup = await action('restore', { backupId, collection: 'other' });
    expect(notInBackup.status).toBe(404);
    expect(notInBackup.body.error.issues).toEqual([
      { field: 'input.collection', reason: `must be one of: ${NAME}` },
    ]);

    const badTarget = await action('restore', { backupId, collection: NAME, target: 'a__b' });
    expect(badTarget.status).toBe(400);
    expect(badTarget.body.error.issues[0].field).toBe('input.target');

    const unknownCollection = await action('backup', { collections: ['nowhere'] });
    expect(unknownCollection.status).toBe(404);
    expect(unknownCollection.body.error.issues).toEqual([
      { field: 'input.collections', reason: 'not found: nowhere' },
    ]);

    const repeated = await action('backup', { collections: [NAME, NAME] });
    expect(repeated.status).toBe(400);
    expect(repeated.body.error.issues[0].field).toBe('input.collections');

    const reader = await call(
      'POST',
      '/api/v1/managers/backup/actions/list',
      {},
      {
        authorization: `Bearer ${await runtime.issueToken({ groups: ['readonly'] })}`,
      },
    );
    expect(reader.status).toBe(403);
  });
});
