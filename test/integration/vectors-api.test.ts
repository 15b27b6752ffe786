import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { itWhere, testTarget, whereLocal, whereLocalEmbedder } from './target.ts';

/**
 * The vector API end to end: real manifest, real handlers, embedded Qdrant, over HTTP. Portable:
 * on a deployed stage (`npm run test:deployed`) the same checks run against its API, with the
 * collections named in the run's namespace. Which texts are nearest to a text query is the
 * hashing embedder's notion (`local-hash-v1`, shared words): those checks run where the platform
 * embeds with it (`whereLocalEmbedder`); model and dimensions are compared with `target.embedding`.
 */

let dataDir: string;
let runtime: LocalRuntime;

const target = testTarget(() => runtime);
const { call } = target;
const NOTES = target.name('notes');
const RAW = target.name('raw');

const tasks = [
  {
    id: 'task-1',
    text: 'Configure the SMTP relay for outgoing email',
    payload: { phase: 1, status: 'done' },
  },
  {
    id: 'task-2',
    text: 'Write the Qdrant migration for legacy task vectors',
    payload: { phase: 2, status: 'todo' },
  },
  { id: 'task-3', text: 'Add a dashboard for email delivery metrics', payload: { phase: 3, status: 'todo' } },
  {
    id: 17,
    text: 'Définir la stratégie de sauvegarde des collections',
    payload: { phase: 3, status: 'todo' },
  },
];

beforeAll(async () => {
  if (!target.local) return;
  dataDir = await mkdtemp(join(tmpdir(), 'vp-api-'));
  runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true });
});

afterAll(async () => {
  if (!target.local) {
    await target.removeCollections([NOTES, RAW]);
    return;
  }
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe(`vector API over HTTP on ${target.label}`, () => {
  it('answers health, version and status', async () => {
    expect(await call('GET', '/api/v1/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const version = await call('GET', '/api/v1/version');
    expect(version.status).toBe(200);
    expect(version.body.embedding).toMatchObject(target.embedding);
    const status = await call('GET', '/api/v1/status');
    expect(status.status).toBe(200);
    expect(JSON.stringify(status.body)).not.toContain('error');
  });

  it('creates a text collection and refuses a duplicate', async () => {
    const created = await call('POST', '/api/v1/vectors/collections', { name: NOTES });
    expect(created.status).toBe(201);
    const again = await call('POST', '/api/v1/vectors/collections', { name: NOTES });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('CONFLICT');
    const info = await call('GET', `/api/v1/vectors/collections/${NOTES}`);
    // Text collections take the platform's embedder, the one GET /version reports.
    expect(info.body).toMatchObject({
      name: NOTES,
      vectorSize: target.embedding.dimensions,
      distance: 'Cosine',
    });
    expect(info.body.embedding).toMatchObject(target.embedding);
  });

  it('upserts text and finds a point by its own text, under the caller’s id and payload', async () => {
    const upserted = await call('POST', '/api/v1/vectors/upsert', { collection: NOTES, points: tasks });
    expect(upserted).toMatchObject({ status: 200, body: { upserted: 4 } });

    // The same text embeds to the same vector, whatever the embedder: the point itself comes first.
    const found = await call('POST', '/api/v1/vectors/search', {
      collection: NOTES,
      text: tasks[1]!.text,
      limit: 2,
    });
    expect(found.status).toBe(200);
    expect(found.body.results).toHaveLength(2);
    expect(found.body.results[0]).toMatchObject({ id: 'task-2', payload: { phase: 2 } });
    for (const result of found.body.results) expect(result.payload).not.toHaveProperty('_original_id');
  });

  itWhere(
    whereLocalEmbedder(target, 'which point is nearest to a paraphrase is the hashing embedder’s ranking'),
    'finds the expected nearest point by meaning of its words',
    async () => {
      const found = await call('POST', '/api/v1/vectors/search', {
        collection: NOTES,
        text: 'migrate the task vectors to qdrant',
        limit: 2,
      });
      expect(found.status).toBe(200);
      expect(found.body.results[0].id).toBe('task-2');
      expect(found.body.results[0].payload).toMatchObject({ phase: 2 });
      expect(found.body.results[0].payload).not.toHaveProperty('_original_id');

      const accented = await call('POST', '/api/v1/vectors/search', {
        collection: NOTES,
        text: 'definir strategie sauvegarde',
        limit: 1,
      });
      expect(accented.body.results[0].id).toBe(17);
    },
  );

  it('filters, thresholds and pages search results', async () => {
    const filtered = await call('POST', '/api/v1/vectors/search', {
      collection: NOTES,
      text: 'email',
      filter: { must: [{ key: 'status', match: { value: 'todo' } }] },
      limit: 10,
    });
    expect(filtered.body.results.map((r: { id: unknown }) => r.id)).not.toContain('task-1');
    const strict = await call('POST', '/api/v1/vectors/search', {
      collection: NOTES,
      text: 'email',
      scoreThreshold: 0.99,
    });
    expect(strict.body.results).toEqual([]);
    const page = await call('POST', '/api/v1/vectors/search', {
      collection: NOTES,
      text: 'email',
      limit: 1,
      offset: 1,
    });
    expect(page.body.results).toHaveLength(1);
  });

  it('retrieves and deletes by the caller’s own id', async () => {
    const point = await call('GET', `/api/v1/vectors/task-3?collection=${NOTES}`);
    expect(point).toMatchObject({ status: 200, body: { id: 'task-3', payload: { phase: 3 } } });
    expect((await call('DELETE', `/api/v1/vectors/task-3?collection=${NOTES}`)).status).toBe(200);
    expect((await call('GET', `/api/v1/vectors/task-3?collection=${NOTES}`)).status).toBe(404);
    const byFilter = await call('POST', '/api/v1/vectors/delete', {
      collection: NOTES,
      filter: { must: [{ key: 'phase', match: { value: 1 } }] },
    });
    expect(byFilter.status).toBe(200);
    expect((await call('GET', `/api/v1/vectors/task-1?collection=${NOTES}`)).status).toBe(404);
    expect((await call('GET', `/api/v1/vectors/task-2?collection=${NOTES}`)).status).toBe(200);
  });

  it('rejects bad input with the field and the reason, and stores nothing from it', async () => {
    await call('POST', '/api/v1/vectors/collections', { name: RAW, vectorSize: 3, distance: 'Dot' });
    const ok = await call('POST', '/api/v1/vectors/upsert', {
      collection: RAW,
      points: [{ id: 1, vector: [1, 0, 0] }],
    });
    expect(ok.status).toBe(200);

    const badDim = await call('POST', '/api/v1/vectors/upsert', {
      collection: RAW,
      points: [
        { id: 2, vector: [0, 1, 0] },
        { id: 3, vector: [0, 1] },
      ],
    });
    expect(badDim.status).toBe(400);
    expect(JSON.stringify(badDim.body.error)).toContain('points.1.vector');
    expect((await call('GET', `/api/v1/vectors/2?collection=${RAW}`)).status).toBe(404);

    const textInVectorOnly = await call('POST', '/api/v1/vectors/upsert', {
      collection: RAW,
      points: [{ id: 4, text: 'hello' }],
    });
    expect(textInVectorOnly.status).toBe(400);

    const both = await call('POST', '/api/v1/vectors/upsert', { collection: RAW, points: [{ id: 5 }] });
    expect(both.status).toBe(400);
    expect(JSON.stringify(both.body.error)).toContain('points.0');

    const unknown = await call('POST', '/api/v1/vectors/search', {
      collection: target.name('nope'),
      vector: [1, 0, 0],
    });
    expect(unknown.status).toBe(404);

    const badJson = await call('POST', '/api/v1/vectors/search', '{"collection":');
    expect(badJson.status).toBe(400);
    expect(badJson.body.error.issues[0].field).toBe('body');

    const badLimit = await call('POST', '/api/v1/vectors/search', {
      collection: RAW,
      vector: [1, 0, 0],
      limit: 0,
    });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.issues[0].field).toBe('limit');

    const tooBig = await call('POST', '/api/v1/vectors/upsert', 'x'.repeat(7 * 1024 * 1024));
    expect(tooBig.status).toBe(413);

    const info = await call('GET', `/api/v1/vectors/collections/${RAW}`);
    expect(info.body.pointsCount).toBe(1);
  });

  it('runs a batch and reports each operation on its own', async () => {
    const res = await call('POST', '/api/v1/vectors/batch', {
      collection: RAW,
      operations: [
        { type: 'upsert', points: [{ id: 9, vector: [0, 0, 1] }] },
        { type: 'search', vector: [0, 0, 1], limit: 1 },
        { type: 'search', vector: [0, 1], limit: 1 },
      ],
    });
    expect(res.status).toBe(200);
    const [upsert, search, bad] = res.body.results;
    expect(upsert).toMatchObject({ index: 0, status: 'ok' });
    expect(search).toMatchObject({ index: 1, status: 'ok' });
    expect(search.result.results[0].id).toBe(9);
    expect(bad).toMatchObject({ index: 2, status: 'error' });
  });

  it('answers hostile ids, numbers and nesting with 400s naming the field, never a 500', async () => {
    const upsertText = (points: string) => `{"collection":"${RAW}","points":[${points}]}`;
    for (const id of ['-1', '""', '" "', '1e308', '18446744073709551616']) {
      const points = `{"id":30,"vector":[1,0,0]},{"id":31,"vector":[1,0,0]},{"id":32,"vector":[1,0,0]},{"id":${id},"vector":[1,0,0]}`;
      const res = await call('POST', '/api/v1/vectors/upsert', upsertText(points));
      expect(res.status, id).toBe(400);
      expect(res.body.error.issues.map((i: { field: string }) => i.field)).toEqual(['points.3.id']);
      const batched = await call(
        'POST',
        '/api/v1/vectors/batch',
        `{"collection":"${RAW}","operations":[{"type":"upsert","points":[${points}]}]}`,
      );
      expect(batched.status).toBe(200);
      expect(batched.body.results[0].error.issues[0].field).toBe('points.3.id');
    }

    const huge = await call('POST', '/api/v1/vectors/upsert', upsertText('{"id":33,"vector":[1e39,0,0]}'));
    expect(huge.status).toBe(400);
    expect(huge.body.error.issues[0].field).toBe('points.0.vector');

    const deep = `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`;
    const nested = await call(
      'POST',
      '/api/v1/vectors/upsert',
      upsertText(`{"id":34,"vector":[1,0,0],"payload":${deep}}`),
    );
    expect(nested.status).toBe(400);
    expect(nested.body.error.issues[0].field).toBe('points.0.payload');

    // Dot product 2e18: the Qdrant client parses it as BigInt.
    await call('POST', '/api/v1/vectors/upsert', {
      collection: RAW,
      points: [{ id: 35, vector: [1e9, 1e9, 0] }],
    });
    const found = await call('POST', '/api/v1/vectors/search', {
      collection: RAW,
      vector: [1e9, 1e9, 0],
      limit: 1,
    });
    expect(found.status).toBe(200);
    expect(found.body.results[0]).toMatchObject({ id: 35, score: expect.closeTo(2e18, -16) });
    await call('POST', '/api/v1/vectors/delete', { collection: RAW, ids: [35] });
  });

  it('answers unrouted requests in the error shape: 404, or 405 with the path’s methods', async () => {
    const unknown = await call('GET', '/api/v1/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'NOT_FOUND', issues: [{ field: 'path' }] });
    const health = await call('POST', '/api/v1/health', {});
    expect(health.status).toBe(405);
    expect(health.headers.get('allow')).toBe('GET, OPTIONS');
    expect(health.body.error).toMatchObject({ code: 'METHOD_NOT_ALLOWED', issues: [{ field: 'method' }] });
    // `/vectors/collections` is also a point id to the `/vectors/{id}` routes.
    const collections = await call('PUT', '/api/v1/vectors/collections', {});
    expect(collections.headers.get('allow')?.split(', ').sort()).toEqual([
      'DELETE',
      'GET',
      'OPTIONS',
      'POST',
    ]);
  });

  itWhere(
    whereLocal('restarts the runtime'),
    'keeps collections across a restart on the same data folder',
    async () => {
      await runtime.stop();
      runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true });
      const found = await call('POST', '/api/v1/vectors/search', {
        collection: NOTES,
        text: 'migrate the task vectors to qdrant',
        limit: 1,
      });
      expect(found.body.results[0].id).toBe('task-2');
      const list = await call('GET', '/api/v1/vectors/collections');
      expect(list.body.collections.map((c: { name: string }) => c.name).sort()).toEqual(['notes', 'raw']);
    },
  );
});
