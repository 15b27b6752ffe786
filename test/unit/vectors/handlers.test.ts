import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
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
import { toPointId } from '#shared/ids.ts';
import { PointIdSchema } from '#shared/vectors/schemas.ts';
import { invoke } from '../http/support.ts';

/** The thin Lambda handlers of the vector API, invoked with HTTP API v2 events. */

let dataDir: string;
let server: QdrantServer;
/** A fake EventBridge (PutEvents only): the events the handlers publish, as sent. */
let bus: Server;
const published: Array<{ DetailType: string; Detail: string }> = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-handlers-'));
  server = await startQdrantServer({ dataDir, port: 0 });
  bus = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { Entries } = JSON.parse(Buffer.concat(chunks).toString()) as { Entries: typeof published };
      published.push(...Entries);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({ FailedEntryCount: 0, Entries: Entries.map((_, i) => ({ EventId: `e-${i}` })) }),
      );
    });
  });
  await new Promise<void>((resolve) => bus.listen(0, '127.0.0.1', resolve));
  vi.stubEnv('QDRANT_URL', server.url);
  vi.stubEnv('DEFAULT_COLLECTION', 'default');
  vi.stubEnv('EVENT_BUS_NAME', 'platform');
  vi.stubEnv('AWS_ENDPOINT_URL_EVENTBRIDGE', `http://127.0.0.1:${(bus.address() as AddressInfo).port}`);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  resetConfig();
});

afterAll(async () => {
  await server?.close();
  await new Promise<void>((resolve) => bus?.close(() => resolve()));
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
    // Deleting is audited: CollectionDeleted, with who asked (the test's administrator token).
    const deleted = published
      .filter((e) => e.DetailType === 'CollectionDeleted')
      .map((e) => JSON.parse(e.Detail));
    expect(deleted).toEqual([
      expect.objectContaining({
        collection: 'docs',
        actor: { id: 'tester', role: 'admin', sourceIp: '127.0.0.1' },
      }),
    ]);
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

describe('vector handlers: hostile input is a 400, never a 500', () => {
  beforeAll(async () => {
    const raw = await invoke(createCollection, json({ name: 'raw', vectorSize: 2, distance: 'Dot' }));
    expect(raw.status).toBe(201);
  });

  const vector = [0.5, 0.25];
  const fieldsOf = (error: { issues?: Array<{ field: string }> }) => error.issues?.map((i) => i.field);

  it('answers ids that map to no point id with 400 naming them, in upserts and in batches', async () => {
    for (const bad of [-1, '', ' ', 1e308, 2 ** 64]) {
      const points = [1, 2, 3, bad].map((id) => ({ id, vector }));
      const res = await invoke(upsert, json({ collection: 'raw', points }));
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(fieldsOf(res.body.error)).toEqual(['points.3.id']);

      const batched = await invoke(
        batch,
        json({ collection: 'raw', operations: [{ type: 'upsert', points }] }),
      );
      expect(batched.status).toBe(200);
      expect(batched.body.results[0]).toMatchObject({ index: 0, status: 'error' });
      expect(batched.body.results[0].error.code).toBe('VALIDATION_ERROR');
      expect(fieldsOf(batched.body.results[0].error)).toEqual(['points.3.id']);
    }
  });

  it('answers any JSON value as an id with 200 or a 400 naming its path, never a 500', async () => {
    const id = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.double(), fc.constantFrom(-1, '', ' ', 2 ** 64));
    const others = [100, 101, 102];
    await fc.assert(
      fc.asyncProperty(id, fc.nat(others.length), fc.boolean(), async (value, at, inBatch) => {
        const valid = PointIdSchema.safeParse(value).success;
        // A valid id equal to another point's is a duplicate, answered (and tested) apart.
        fc.pre(!valid || !others.includes(toPointId(value as string | number).id as number));
        const points = others.map((n) => ({ id: n as unknown, vector }));
        points.splice(at, 0, { id: value, vector });
        const res = inBatch
          ? await invoke(batch, json({ collection: 'raw', operations: [{ type: 'upsert', points }] }))
          : await invoke(upsert, json({ collection: 'raw', points }));
        const error = inBatch ? res.body.results[0].error : res.body.error;
        expect(res.status).toBe(inBatch || valid ? 200 : 400);
        if (valid) expect(error).toBeUndefined();
        // Some ids break two rules (-2^53 is neither safe nor unsigned): each names the same field.
        else expect(new Set(fieldsOf(error))).toEqual(new Set([`points.${at}.id`]));
      }),
      { numRuns: 60 },
    );
  });

  it('answers numbers beyond 2^53 (the client reads them as BigInt): scores, vector components', async () => {
    // Dot product 2e18: written in plain digits by Qdrant, which the client parses as BigInt.
    const stored = await invoke(upsert, json({ collection: 'raw', points: [{ id: 7, vector: [1e9, 1e9] }] }));
    expect(stored.status).toBe(200);
    const res = await invoke(search, json({ collection: 'raw', vector: [1e9, 1e9], limit: 1 }));
    expect(res.status).toBe(200);
    expect(res.body.results[0].id).toBe(7);
    expect(res.body.results[0].score).toBeGreaterThan(1.99e18);
    expect(res.body.results[0].score).toBeLessThan(2.01e18);

    await invoke(upsert, json({ collection: 'raw', points: [{ id: 11, vector: [1e17, 0] }] }));
    const point = await invoke(getPoint, {
      pathParameters: { id: '11' },
      query: { collection: 'raw', withVector: 'true' },
    });
    expect(point.status).toBe(200);
    expect(point.body.vector).toEqual([Math.fround(1e17), 0]);
  });

  it('refuses vector components float32 cannot hold, and keeps the largest it can', async () => {
    const big = await invoke(upsert, json({ collection: 'raw', points: [{ id: 8, vector: [1e39, 0] }] }));
    expect(big.status).toBe(400);
    expect(fieldsOf(big.body.error)).toEqual(['points.0.vector']);
    const query = await invoke(search, json({ collection: 'raw', vector: [0, -1e39] }));
    expect(query.status).toBe(400);
    expect(fieldsOf(query.body.error)).toEqual(['vector']);

    const max = 3.4028234663852886e38;
    expect(
      (await invoke(upsert, json({ collection: 'raw', points: [{ id: 9, vector: [max, 0] }] }))).status,
    ).toBe(200);
    const point = await invoke(getPoint, {
      pathParameters: { id: '9' },
      query: { collection: 'raw', withVector: 'true' },
    });
    expect(point.body.vector).toEqual([max, 0]);
  });

  it('refuses a payload nested thousands of levels deep with 400, and stays readable', async () => {
    const levels = 3000;
    const payload = `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    const body = `{"collection":"raw","points":[{"id":10,"vector":[1,1],"payload":${payload}}]}`;
    const res = await invoke(upsert, { method: 'POST', body });
    expect(res.status).toBe(400);
    expect(fieldsOf(res.body.error)).toEqual(['points.0.payload']);
    expect(res.body.error.message).toMatch(/deeper than 64 levels/);
    const batched = await invoke(batch, {
      method: 'POST',
      body: `{"collection":"raw","operations":[${body.replace('{', '{"type":"upsert",')}]}`,
    });
    expect(fieldsOf(batched.body.results[0].error)).toEqual(['points.0.payload']);
    // Nothing unreadable was stored: searches returning payloads still answer.
    expect((await invoke(search, json({ collection: 'raw', vector: [1, 1], limit: 100 }))).status).toBe(200);
  });

  it('refuses a filter nested thousands of levels deep with 400', async () => {
    const clauses = 3000;
    const filter = `${'{"must":['.repeat(clauses)}{"key":"a","match":{"value":1}}${']}'.repeat(clauses)}`;
    const searched = await invoke(search, {
      method: 'POST',
      body: `{"collection":"raw","vector":[1,1],"filter":${filter}}`,
    });
    expect(searched.status).toBe(400);
    expect(fieldsOf(searched.body.error)).toEqual(['filter']);
    const deleted = await invoke(deletePoints, {
      method: 'POST',
      body: `{"collection":"raw","filter":${filter}}`,
    });
    expect(deleted.status).toBe(400);
    expect(fieldsOf(deleted.body.error)).toEqual(['filter']);
  });
});
