import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QdrantEngine } from '#local/qdrant/engine.ts';
import { failure, type Harness, startHarness, tempDir } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await h.client.createCollection('c', { vectors: { size: 2, distance: 'Dot' } });
  await h.client.upsert('c', { points: [{ id: 1, vector: [1, 0], payload: { a: 1, n: 2 } }] });
});
afterAll(async () => {
  await h.close();
});

describe('payload index field names', () => {
  it('must be JSON paths (400, as Qdrant deserializes them), and collection info keeps working', async () => {
    for (const fieldName of ['', 'a..b', '.a', 'a.', 'a b', '[0]']) {
      expect(
        await failure(h.client.createPayloadIndex('c', { field_name: fieldName, field_schema: 'keyword' })),
      ).toEqual({
        status: 400,
        error: `Format error in JSON body: Invalid json path: '${fieldName}' at field_name`,
      });
    }
    const info = await h.client.getCollection('c');
    expect(info.payload_schema).toEqual({});
    await h.client.createPayloadIndex('c', { field_name: 'a', field_schema: 'integer', wait: true });
    await h.client.createPayloadIndex('c', {
      field_name: '"x y".z[0][]',
      field_schema: 'keyword',
      wait: true,
    });
    expect(Object.keys((await h.client.getCollection('c')).payload_schema).sort()).toEqual([
      '"x y".z[0][]',
      'a',
    ]);
  });

  it('may be `__proto__`, which stays a field of the schema', async () => {
    await h.client.createPayloadIndex('c', {
      field_name: '__proto__',
      field_schema: { type: 'integer', lookup: true },
      wait: true,
    });
    const schema = (await h.client.getCollection('c')).payload_schema;
    expect(Object.getOwnPropertyDescriptor(schema, '__proto__')?.value).toEqual({
      data_type: 'integer',
      params: { type: 'integer', lookup: true },
      points: 0,
    });
  });

  it('logged before names were checked never make collection info fail', async () => {
    const dir = await tempDir();
    const engine = await QdrantEngine.open({ dataDir: dir.path });
    try {
      await engine.createCollection('old', { vectors: { single: { size: 2, distance: 'Dot' } } });
      const collection = engine.collection('old');
      await collection.upsert([{ id: 1, vector: [1, 0], payload: { a: 1 } }]);
      for (const field of ['', 'a[0][1]', 'a..b']) await collection.createIndex(field, 'keyword');
      expect(engine.info('old').payload_schema).toEqual({
        '': { data_type: 'keyword', points: 0 },
        'a[0][1]': { data_type: 'keyword', points: 0 },
        'a..b': { data_type: 'keyword', points: 0 },
      });
    } finally {
      await engine.close();
      await dir.cleanup();
    }
  });
});

describe('integer index parameters', () => {
  it("refuse `lookup` and `range` both false (422, Qdrant's validation)", async () => {
    expect(
      await failure(
        h.client.createPayloadIndex('c', {
          field_name: 'n',
          field_schema: { type: 'integer', lookup: false, range: false },
        }),
      ),
    ).toEqual({
      status: 422,
      error:
        "Validation error in JSON body: [field_schema.lookup: the 'lookup' and 'range' capabilities can't be both disabled]",
    });
    expect(
      (
        await failure(
          h.client.createPayloadIndex('c', {
            field_name: 'n',
            field_schema: { type: 'integer', lookup: 'no' as unknown as boolean },
          }),
        )
      ).error,
    ).toBe(
      'Format error in JSON body: data did not match any variant of untagged enum PayloadFieldSchema at field_schema',
    );
    await h.client.createPayloadIndex('c', {
      field_name: 'n',
      field_schema: { type: 'integer', lookup: false, range: true },
      wait: true,
    });
    expect((await h.client.getCollection('c')).payload_schema.n?.points).toBe(1);
  });
});
