import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  failure,
  gaussianVector,
  type Harness,
  type Metric,
  prng,
  referenceSearch,
  startHarness,
} from './harness.ts';
import { Contract, recordExchanges, SPEC_PATH } from './openapi.ts';

let h: Harness;
let recorder: ReturnType<typeof recordExchanges>;
beforeAll(async () => {
  h = await startHarness();
  recorder = recordExchanges(() => h.server.url);
});
afterAll(async () => {
  recorder.restore();
  await h.close();
});

describe('service endpoints', () => {
  it('answers the version (1.19, checked by the client) and the health probes', async () => {
    const version = await h.client.versionInfo();
    expect(version.title).toBe('qdrant - vector search engine');
    expect(version.version).toMatch(/^1\.19\./);
    for (const probe of ['healthz', 'livez', 'readyz'] as const) {
      const response = await fetch(`${h.server.url}/${probe}`);
      expect(response.status).toBe(200);
    }
  });

  it('answers unknown routes with 404 and wrong methods with 405, in the error envelope', async () => {
    const missing = await fetch(`${h.server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { status: { error: string } }).status.error).toMatch(/^Not found/);
    const wrongMethod = await fetch(`${h.server.url}/collections`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
  });

  it('rejects malformed JSON with a 400', async () => {
    await h.client.createCollection('json', { vectors: { size: 2, distance: 'Dot' } });
    const response = await fetch(`${h.server.url}/collections/json/points/scroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"limit": ',
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { status: { error: string } }).status.error).toMatch(
      /^Format error in JSON body: /,
    );
  });
});

describe('collections', () => {
  it('creates, describes, lists, updates and deletes', async () => {
    expect(
      await h.client.createCollection('life', {
        vectors: { size: 4, distance: 'Cosine' },
        hnsw_config: { m: 32 },
        optimizers_config: { indexing_threshold: 0 },
        metadata: { owner: 'plans', version: 1 },
      }),
    ).toBe(true);
    const info = await h.client.getCollection('life');
    expect(info.status).toBe('green');
    expect(info.points_count).toBe(0);
    expect(info.config.params.vectors).toEqual({ size: 4, distance: 'Cosine' });
    expect(info.config.hnsw_config.m).toBe(32);
    expect(info.config.optimizer_config.indexing_threshold).toBe(0);
    expect(info.config.metadata).toEqual({ owner: 'plans', version: 1 });
    expect((await h.client.getCollections()).collections).toContainEqual({ name: 'life' });
    expect(await h.client.collectionExists('life')).toEqual({ exists: true });
    expect(await h.client.collectionExists('other')).toEqual({ exists: false });

    expect(
      await h.client.updateCollection('life', { metadata: { version: 2, owner: null, extra: true } }),
    ).toBe(true);
    expect((await h.client.getCollection('life')).config.metadata).toEqual({ version: 2, extra: true });

    expect(await h.client.deleteCollection('life')).toBe(true);
    expect(await h.client.deleteCollection('life')).toBe(false);
    expect(await h.client.collectionExists('life')).toEqual({ exists: false });
  });

  it("answers Qdrant's errors and status codes", async () => {
    await h.client.createCollection('dup', { vectors: { size: 2, distance: 'Dot' } });
    expect(
      await failure(h.client.createCollection('dup', { vectors: { size: 2, distance: 'Dot' } })),
    ).toEqual({
      status: 409,
      error: 'Wrong input: Collection `dup` already exists!',
    });
    expect(await failure(h.client.getCollection('ghost'))).toEqual({
      status: 404,
      error: "Not found: Collection `ghost` doesn't exist!",
    });
    expect(await failure(h.client.count('ghost'))).toEqual({
      status: 404,
      error: "Not found: Collection `ghost` doesn't exist!",
    });
    expect(
      (await failure(h.client.createCollection('zero', { vectors: { size: 0, distance: 'Dot' } }))).status,
    ).toBe(422);
    const badDistance = await failure(
      h.client.createCollection('bad', { vectors: { size: 2, distance: 'cosine' as 'Cosine' } }),
    );
    expect(badDistance.status).toBe(400);
    expect(badDistance.error).toContain('unknown variant `cosine`');
    const named = await failure(
      h.client.createCollection('named', { vectors: { text: { size: 2, distance: 'Dot' } } }),
    );
    expect(named.status).toBe(400);
    expect(
      (await failure(h.client.createCollection('a/b', { vectors: { size: 2, distance: 'Dot' } }))).status,
    ).toBe(422);
  });

  it('records payload indexes in the payload schema', async () => {
    await h.client.createCollection('indexed', { vectors: { size: 2, distance: 'Dot' } });
    await h.client.upsert('indexed', {
      points: [
        { id: 1, vector: [1, 0], payload: { status: 'done', n: 1 } },
        { id: 2, vector: [0, 1], payload: { n: 2.5 } },
      ],
    });
    const result = await h.client.createPayloadIndex('indexed', {
      field_name: 'status',
      field_schema: 'keyword',
      wait: true,
    });
    expect(result.status).toBe('completed');
    expect(typeof result.operation_id).toBe('number');
    await h.client.createPayloadIndex('indexed', { field_name: 'n', wait: true });
    const schema = (await h.client.getCollection('indexed')).payload_schema;
    expect(schema).toEqual({
      status: { data_type: 'keyword', points: 1 },
      n: { data_type: 'integer', points: 2 },
    });
    await h.client.deletePayloadIndex('indexed', 'n');
    expect(Object.keys((await h.client.getCollection('indexed')).payload_schema)).toEqual(['status']);
  });
});

describe('points', () => {
  const uuid = 'fa38d572-4f1e-4a76-9c47-7a3c7b5a1f00';

  beforeAll(async () => {
    await h.client.createCollection('pts', { vectors: { size: 3, distance: 'Dot' } });
    await h.client.createCollection('cos', { vectors: { size: 2, distance: 'Cosine' } });
  });

  it('upserts in list and batch form, normalizes UUIDs and retrieves', async () => {
    const first = await h.client.upsert('pts', {
      wait: true,
      points: [{ id: 10, vector: [0.1, 0.2, 0.3], payload: { kind: 'a', n: 1 } }],
    });
    expect(first.status).toBe('completed');
    // The simple (unhyphenated) UUID form is accepted by Qdrant, though outside the spec's format.
    const simple = await fetch(`${h.server.url}/collections/pts/points?wait=true`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        points: [{ id: uuid.toUpperCase().replaceAll('-', ''), vector: [1, 2, 3], payload: null }],
      }),
    });
    expect(simple.status).toBe(200);
    const second = await h.client.upsert('pts', {
      wait: false,
      batch: {
        ids: [2, 3],
        vectors: [
          [1, 1, 1],
          [2, 2, 2],
        ],
        payloads: [{ kind: 'b' }, null],
      },
    });
    expect(second.status).toBe('completed');
    expect(second.operation_id!).toBeGreaterThan(first.operation_id!);

    const records = await h.client.retrieve('pts', { ids: [uuid, 10, 99, 2], with_vector: true });
    expect(records).toEqual([
      { id: uuid, payload: {}, vector: [1, 2, 3] },
      { id: 10, payload: { kind: 'a', n: 1 }, vector: [0.1, 0.2, 0.3] },
      { id: 2, payload: { kind: 'b' }, vector: [1, 1, 1] },
    ]);
    const point = await h.client.api().getPoint({ collection_name: 'pts', id: 3 });
    expect(point.data.result).toEqual({ id: 3, payload: {}, vector: [2, 2, 2] });
    expect(await failure(h.client.api().getPoint({ collection_name: 'pts', id: 404 }))).toEqual({
      status: 404,
      error: 'Not found: No point with id 404 found',
    });
  });

  it('stores Cosine vectors normalized, as Qdrant returns them', async () => {
    await h.client.upsert('cos', { points: [{ id: 1, vector: [3, 4] }] });
    const [record] = await h.client.retrieve('cos', { ids: [1], with_vector: true, with_payload: false });
    expect(record).toEqual({ id: 1, vector: [0.6, 0.8] });
  });

  it('rejects bad ids and vectors with 400 and writes nothing', async () => {
    const before = (await h.client.count('pts')).count;
    expect(await failure(h.client.upsert('pts', { points: [{ id: 'plan-1', vector: [1, 2, 3] }] }))).toEqual({
      status: 400,
      error:
        'Format error in JSON body: value plan-1 is not a valid point ID, valid values are either an unsigned integer or a UUID',
    });
    expect(await failure(h.client.upsert('pts', { points: [{ id: 5, vector: [1, 2] }] }))).toEqual({
      status: 400,
      error: 'Wrong input: Vector dimension error: expected dim: 3, got 2',
    });
    expect(
      (await failure(h.client.upsert('pts', { points: [{ id: 5, vector: { image: [1, 2, 3] } }] }))).error,
    ).toBe('Wrong input: Not existing vector name error: image');
    expect(
      (await failure(h.client.upsert('pts', { batch: { ids: [7, 8], vectors: [[1, 2, 3]] } }))).status,
    ).toBe(422);
    expect((await h.client.count('pts')).count).toBe(before);
  });

  it('scrolls in id order with pagination, filters and selectors', async () => {
    await h.client.createCollection('scroll', { vectors: { size: 2, distance: 'Euclid' } });
    const ids = [
      5,
      1,
      'aaaaaaaa-0000-4000-8000-000000000000',
      3,
      2,
      4,
      '00000000-0000-4000-8000-000000000009',
    ];
    await h.client.upsert('scroll', {
      points: ids.map((id, i) => ({
        id,
        vector: [i, i],
        payload: { i, even: i % 2 === 0, meta: { a: i, b: 'x' } },
      })),
    });
    const seen: unknown[] = [];
    let offset: string | number | undefined | null;
    do {
      const page = await h.client.scroll('scroll', { limit: 3, ...(offset == null ? {} : { offset }) });
      expect(page.points.length).toBeLessThanOrEqual(3);
      seen.push(...page.points.map((p) => p.id));
      offset = page.next_page_offset as string | number | null;
    } while (offset != null);
    expect(seen).toEqual([
      1,
      2,
      3,
      4,
      5,
      '00000000-0000-4000-8000-000000000009',
      'aaaaaaaa-0000-4000-8000-000000000000',
    ]);

    const filtered = await h.client.scroll('scroll', {
      filter: { must: [{ key: 'even', match: { value: true } }] },
      with_payload: { include: ['meta.a'] },
      with_vector: true,
    });
    expect(filtered.points).toEqual([
      { id: 2, payload: { meta: { a: 4 } }, vector: [4, 4] },
      { id: 5, payload: { meta: { a: 0 } }, vector: [0, 0] },
      { id: '00000000-0000-4000-8000-000000000009', payload: { meta: { a: 6 } }, vector: [6, 6] },
      { id: 'aaaaaaaa-0000-4000-8000-000000000000', payload: { meta: { a: 2 } }, vector: [2, 2] },
    ]);
    expect(filtered.next_page_offset).toBeNull();
    const bare = await h.client.scroll('scroll', { limit: 1, with_payload: false });
    expect(bare.points).toEqual([{ id: 1 }]);
    expect(bare.next_page_offset).toBe(2);

    expect(
      (await h.client.count('scroll', { filter: { must: [{ key: 'i', range: { gte: 3 } }] } })).count,
    ).toBe(4);
    expect((await h.client.count('scroll', { exact: true })).count).toBe(7);
    expect(
      (await failure(h.client.count('scroll', { filter: { must: [{ nonsense: 1 }] } as never }))).status,
    ).toBe(400);
  });

  it('deletes by ids and by filter', async () => {
    await h.client.createCollection('del', { vectors: { size: 2, distance: 'Dot' } });
    await h.client.upsert('del', {
      points: Array.from({ length: 10 }, (_, id) => ({ id, vector: [id, 1], payload: { n: id } })),
    });
    await h.client.delete('del', { points: [1, 2, 999] });
    await h.client.delete('del', { filter: { must: [{ key: 'n', range: { gte: 7 } }] } });
    const left = await h.client.scroll('del', { limit: 100, with_payload: false });
    expect(left.points.map((p) => p.id)).toEqual([0, 3, 4, 5, 6]);
    const hits = await h.client.query('del', { query: [1, 0], limit: 10 });
    expect(hits.points.map((p) => p.id)).toEqual([6, 5, 4, 3, 0]);
  });

  it('honours update_mode and update_filter on upsert', async () => {
    await h.client.createCollection('modes', { vectors: { size: 2, distance: 'Dot' } });
    await h.client.upsert('modes', {
      points: [
        { id: 1, vector: [1, 0], payload: { v: 1, locked: true } },
        { id: 2, vector: [1, 0], payload: { v: 1, locked: false } },
      ],
    });
    await h.client.upsert('modes', {
      update_mode: 'insert_only',
      points: [
        { id: 2, vector: [0, 1], payload: { v: 2 } },
        { id: 3, vector: [0, 1], payload: { v: 2 } },
      ],
    });
    await h.client.upsert('modes', {
      update_mode: 'update_only',
      points: [
        { id: 3, vector: [0, 1], payload: { v: 3 } },
        { id: 4, vector: [0, 1], payload: { v: 3 } },
      ],
    });
    await h.client.upsert('modes', {
      update_filter: { must: [{ key: 'locked', match: { value: false } }] },
      points: [
        { id: 1, vector: [0, 1], payload: { v: 4 } },
        { id: 2, vector: [0, 1], payload: { v: 4 } },
        { id: 5, vector: [0, 1], payload: { v: 4 } },
      ],
    });
    const records = await h.client.scroll('modes', { limit: 10 });
    expect(records.points.map((p) => [p.id, p.payload?.v])).toEqual([
      [1, 1],
      [2, 4],
      [3, 3],
      [5, 4],
    ]);
  });

  it('sets, overwrites, deletes and clears payload', async () => {
    await h.client.createCollection('pay', { vectors: { size: 2, distance: 'Dot' } });
    await h.client.upsert('pay', {
      points: [
        { id: 1, vector: [1, 0], payload: { a: 1, nested: { x: 1 } } },
        { id: 2, vector: [0, 1], payload: { a: 2 } },
      ],
    });
    await h.client.setPayload('pay', { points: [1], payload: { b: 'two' } });
    await h.client.setPayload('pay', { points: [1], payload: { y: 2 }, key: 'nested' });
    await h.client.setPayload('pay', {
      filter: { must: [{ key: 'a', match: { value: 2 } }] },
      payload: { tag: 'f' },
    });
    let records = await h.client.retrieve('pay', { ids: [1, 2] });
    expect(records.map((r) => r.payload)).toEqual([
      { a: 1, nested: { x: 1, y: 2 }, b: 'two' },
      { a: 2, tag: 'f' },
    ]);
    await h.client.deletePayload('pay', { points: [1], keys: ['nested.x', 'b'] });
    await h.client.overwritePayload('pay', { points: [2], payload: { only: true } });
    records = await h.client.retrieve('pay', { ids: [1, 2] });
    expect(records.map((r) => r.payload)).toEqual([{ a: 1, nested: { y: 2 } }, { only: true }]);
    await h.client.clearPayload('pay', { points: [1, 2] });
    records = await h.client.retrieve('pay', { ids: [1, 2] });
    expect(records.map((r) => r.payload)).toEqual([{}, {}]);
    expect(await failure(h.client.setPayload('pay', { points: [1, 77], payload: { z: 1 } }))).toEqual({
      status: 404,
      error: 'Not found: No point with id 77 found',
    });
    expect(
      await failure(h.client.setPayload('pay', { points: [1], payload: { z: 1 }, key: 'a..b' })),
    ).toEqual({
      status: 400,
      error: 'Wrong input: Invalid key path: a..b',
    });
    // Nothing of the failed requests was applied.
    expect((await h.client.retrieve('pay', { ids: [1] }))[0]!.payload).toEqual({});
    const versions = (await h.client.query('pay', { query: [1, 1] })).points.map((p) => p.version);
    expect(Math.min(...versions)).toBeGreaterThan(0);
  });
});

describe('query', () => {
  const dim = 8;
  const random = prng(11);
  const points = Array.from({ length: 300 }, (_, i) => ({
    id: i % 37 === 0 ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : i,
    vector: gaussianVector(random, dim),
  }));
  const payloadOf = (i: number) => ({ group: i % 3, tag: `t${i % 5}` });

  for (const metric of ['Cosine', 'Dot', 'Euclid', 'Manhattan'] as Metric[]) {
    it(`${metric}: ranks, filters, pages and thresholds like the reference`, async () => {
      const name = `q-${metric}`;
      await h.client.createCollection(name, { vectors: { size: dim, distance: metric } });
      await h.client.upsert(name, {
        points: points.map((p, i) => ({ id: p.id, vector: p.vector, payload: payloadOf(i) })),
      });
      const group = new Map(points.map((p, i) => [p.id, payloadOf(i).group]));
      for (let q = 0; q < 3; q++) {
        const query = gaussianVector(random, dim);
        const all = referenceSearch(metric, points, query, { limit: points.length });
        const threshold = all[20]!.score;
        const cases = [
          { request: { query }, expected: { limit: 10 } },
          { request: { query: { nearest: query }, limit: 5, offset: 7 }, expected: { limit: 5, offset: 7 } },
          { request: { query, limit: 50, score_threshold: threshold }, expected: { limit: 50, threshold } },
          {
            request: { query, limit: 8, filter: { must: [{ key: 'group', match: { value: 1 } }] } },
            expected: { limit: 8, keep: (id: number | string) => group.get(id) === 1 },
          },
        ];
        for (const { request, expected } of cases) {
          const result = await h.client.query(name, { ...request, with_payload: true });
          const reference = referenceSearch(metric, points, query, expected);
          expect(result.points.map((p) => p.id)).toEqual(reference.map((p) => p.id));
          result.points.forEach((p, i) => {
            expect(Math.fround(p.score)).toBeCloseTo(reference[i]!.score, 4);
            expect(p.payload).toEqual(payloadOf(points.findIndex((x) => x.id === p.id)));
          });
        }
      }
    });
  }

  it('queries by point id (excluding that point), in batch, and without a query (id order)', async () => {
    const name = 'q-Cosine';
    const byId = await h.client.query(name, { query: 5, limit: 4 });
    const reference = referenceSearch('Cosine', points, points[5]!.vector, {
      limit: 5,
      keep: (id) => id !== 5,
    });
    expect(byId.points.map((p) => p.id)).toEqual(reference.slice(0, 4).map((p) => p.id));
    expect(await failure(h.client.query(name, { query: 100_000 }))).toEqual({
      status: 404,
      error: 'Not found: No point with id 100000 found',
    });

    const queries = [gaussianVector(random, dim), gaussianVector(random, dim)];
    const batch = await h.client.queryBatch(name, {
      searches: [
        { query: queries[0], limit: 3 },
        {
          query: { nearest: queries[1] },
          limit: 2,
          filter: { must: [{ key: 'tag', match: { value: 't1' } }] },
        },
      ],
    });
    const single = await Promise.all([
      h.client.query(name, { query: queries[0], limit: 3 }),
      h.client.query(name, {
        query: queries[1],
        limit: 2,
        filter: { must: [{ key: 'tag', match: { value: 't1' } }] },
      }),
    ]);
    expect(batch).toEqual(single);

    const listing = await h.client.query(name, { limit: 3, offset: 1 });
    expect(listing.points.map((p) => [p.id, p.score])).toEqual([
      [2, 0],
      [3, 0],
      [4, 0],
    ]);
  });

  it('rejects bad queries', async () => {
    const name = 'q-Dot';
    expect(await failure(h.client.query(name, { query: [1, 2] }))).toEqual({
      status: 400,
      error: `Wrong input: Vector dimension error: expected dim: ${dim}, got 2`,
    });
    expect(await failure(h.client.query(name, { query: new Array(dim).fill(0), limit: 0 }))).toEqual({
      status: 422,
      error: 'Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]',
    });
    expect(
      (await failure(h.client.query(name, { query: new Array(dim).fill(0), using: 'text' }))).error,
    ).toBe('Wrong input: Not existing vector name error: text');
    const batch = await failure(
      h.client.queryBatch(name, { searches: [{ query: new Array(dim).fill(0) }, { query: [1] }] }),
    );
    expect(batch.status).toBe(400);
  });
});

describe('aliases', () => {
  it('switch atomically, resolve everywhere, and go away with their collection', async () => {
    await h.client.createCollection('v1', { vectors: { size: 2, distance: 'Dot' } });
    await h.client.createCollection('v2', { vectors: { size: 2, distance: 'Dot' } });
    await h.client.upsert('v1', { points: [{ id: 1, vector: [1, 0] }] });
    await h.client.upsert('v2', { points: [{ id: 2, vector: [1, 0] }] });
    await h.client.updateCollectionAliases({
      actions: [{ create_alias: { collection_name: 'v1', alias_name: 'live' } }],
    });
    const top = async () => (await h.client.query('live', { query: [1, 0], limit: 1 })).points[0]!.id;
    expect(await top()).toBe(1);
    expect((await h.client.getCollection('live')).points_count).toBe(1);

    // One bad action: nothing is applied.
    const refused = await failure(
      h.client.updateCollectionAliases({
        actions: [
          { delete_alias: { alias_name: 'live' } },
          { create_alias: { collection_name: 'v2', alias_name: 'live' } },
          { create_alias: { collection_name: 'missing', alias_name: 'other' } },
        ],
      }),
    );
    expect(refused).toEqual({ status: 404, error: "Not found: Collection `missing` doesn't exist!" });
    expect(await top()).toBe(1);

    await h.client.updateCollectionAliases({
      actions: [
        { delete_alias: { alias_name: 'live' } },
        { create_alias: { collection_name: 'v2', alias_name: 'live' } },
        { create_alias: { collection_name: 'v1', alias_name: 'previous' } },
      ],
    });
    expect(await top()).toBe(2);
    await h.client.upsert('live', { points: [{ id: 3, vector: [2, 0] }] });
    expect((await h.client.count('v2')).count).toBe(2);

    await h.client.updateCollectionAliases({
      actions: [{ rename_alias: { old_alias_name: 'previous', new_alias_name: 'rollback' } }],
    });
    expect((await h.client.getCollectionAliases('v1')).aliases).toEqual([
      { alias_name: 'rollback', collection_name: 'v1' },
    ]);
    expect(
      (
        await failure(
          h.client.updateCollectionAliases({
            actions: [{ rename_alias: { old_alias_name: 'nope', new_alias_name: 'x' } }],
          }),
        )
      ).status,
    ).toBe(404);
    expect(
      await failure(
        h.client.updateCollectionAliases({
          actions: [{ create_alias: { collection_name: 'v1', alias_name: 'v2' } }],
        }),
      ),
    ).toEqual({ status: 409, error: 'Wrong input: Collection `v2` already exists!' });
    expect(
      (await failure(h.client.createCollection('live', { vectors: { size: 2, distance: 'Dot' } }))).status,
    ).toBe(400);

    await h.client.deleteCollection('v2');
    const aliases = (await h.client.getAliases()).aliases;
    expect(aliases).toEqual([{ alias_name: 'rollback', collection_name: 'v1' }]);
    expect(await h.client.collectionExists('live')).toEqual({ exists: false });
  });
});

// Runs last: everything the tests above sent and received, checked against Qdrant's OpenAPI.
describe.skipIf(!existsSync(SPEC_PATH))(`OpenAPI contract (skipped without ${SPEC_PATH})`, () => {
  it('every request accepted and every answer given above conforms', () => {
    const contract = new Contract();
    expect(recorder.exchanges.length).toBeGreaterThan(100);
    expect(recorder.exchanges.flatMap((exchange) => contract.check(exchange))).toEqual([]);
  });
});
