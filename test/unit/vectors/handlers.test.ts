import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { handler as batch } from '#functions/vectors/batch/handler.ts';
import { handler as createCollection } from '#functions/vectors/create-collection/handler.ts';
import { handler as deleteCollection } from '#functions/vectors/delete-collection/handler.ts';
import { handler as deletePoints } from '#functions/vectors/delete-points/handler.ts';
import { handler as getCollection } from '#functions/vectors/get-collection/handler.ts';
import { handler as getPoint } from '#functions/vectors/get-point/handler.ts';
import { handler as listCollections } from '#functions/vectors/list-collections/handler.ts';
import { handler as search } from '#functions/vectors/search/handler.ts';
import { handler as upsert } from '#functions/vectors/upsert/handler.ts';
import { manifest } from '#infra/manifest.ts';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { resetConfig } from '#shared/config.ts';
import { invoke } from '../http/support.ts';

/** The thin Lambda handlers of the vector API, invoked with HTTP API v2 events. */

let dataDir: string;
let server: QdrantServer;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-handlers-'));
  server = await startQdrantServer({ dataDir, port: 0 });
  vi.stubEnv('QDRANT_URL', server.url);
  vi.stubEnv('DEFAULT_COLLECTION', 'default');
  resetConfig();
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
  vi.unstubAllEnvs();
  resetConfig();
});

const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body) });

describe('vector handlers', () => {
  it('are the modules the manifest names', async () => {
    const entries = Object.values(manifest.functions).map((f) => f.entry);
    for (const entry of entries) {
      const mod = (await import(`../../../${entry}`)) as { handler?: unknown };
      expect(typeof mod.handler, entry).toBe('function');
    }
  });

  it('create (201 + location), get, list and delete a collection', async () => {
    const created = await invoke(createCollection, json({ name: 'docs' }));
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/api/v1/vectors/collections/docs');
    expect(created.body).toMatchObject({ name: 'docs', vectorSize: 384, distance: 'Cosine', pointsCount: 0 });
    expect((await invoke(createCollection, json({ name: 'docs' }))).status).toBe(409);
    expect((await invoke(createCollection, json({ name: 'bad name' }))).body.error.issues[0].field).toBe(
      'name',
    );

    const info = await invoke(getCollection, { pathParameters: { name: 'docs' } });
    expect(info.body.embedding).toEqual({ model: 'local-hash-v1', dimensions: 384 });
    const list = await invoke(listCollections);
    expect(list.body.collections).toContainEqual({ name: 'docs', aliases: [] });

    expect(
      (await invoke(deleteCollection, { method: 'DELETE', pathParameters: { name: 'docs' } })).body,
    ).toEqual({
      name: 'docs',
      deleted: true,
    });
    const gone = await invoke(getCollection, { pathParameters: { name: 'docs' } });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('NOT_FOUND');
  });

  it('upsert, search, get and delete points through their routes', async () => {
    await invoke(createCollection, json({ name: 'default' }));
    const up = await invoke(
      upsert,
      json({
        points: [
          { id: 'plan-12', text: 'cognitive architecture plan', payload: { v: 12 } },
          { id: 3, text: 'other' },
        ],
      }),
    );
    expect(up).toMatchObject({
      status: 200,
      body: { collection: 'default', upserted: 2, ids: ['plan-12', 3] },
    });

    const found = await invoke(search, json({ text: 'architecture', limit: 1 }));
    expect(found.body.results[0]).toMatchObject({ id: 'plan-12', payload: { v: 12 } });

    const point = await invoke(getPoint, {
      pathParameters: { id: 'plan-12' },
      query: { withVector: 'true' },
    });
    expect(point.status).toBe(200);
    expect(point.body).toMatchObject({ collection: 'default', id: 'plan-12' });
    expect(point.body.vector).toHaveLength(384);
    const badFlag = await invoke(getPoint, {
      pathParameters: { id: 'plan-12' },
      query: { withVector: 'yes' },
    });
    expect(badFlag.body.error.issues[0].field).toBe('query.withVector');

    const byPath = await invoke(deletePoints, {
      method: 'DELETE',
      pathParameters: { id: 'plan-12' },
      query: { collection: 'default' },
    });
    expect(byPath.body).toEqual({ collection: 'default', deleted: 1 });
    expect((await invoke(getPoint, { pathParameters: { id: 'plan-12' } })).status).toBe(404);

    const byBody = await invoke(deletePoints, json({ ids: [3] }));
    expect(byBody.body).toEqual({ collection: 'default', deleted: 1 });
    const neither = await invoke(deletePoints, json({ collection: 'default' }));
    expect(neither.status).toBe(400);
    expect(neither.body.error.issues[0].field).toBe('ids');
    const notJson = await invoke(deletePoints, {
      method: 'POST',
      body: 'ids=3',
      headers: { 'content-type': 'text/plain' },
    });
    expect(notJson.status).toBe(415);
  });

  it('batch answers 200 with per-operation outcomes, 400 only for a bad envelope', async () => {
    const res = await invoke(
      batch,
      json({ operations: [{ type: 'search', text: 'other' }, { type: 'search' }] }),
    );
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['ok', 'error']);
    const envelope = await invoke(batch, json({ operations: 'all of them' }));
    expect(envelope.status).toBe(400);
    expect(envelope.body.error.issues[0].field).toBe('operations');
  });
});
