import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { createEmbedder } from '#shared/embeddings/index.ts';
import { ConflictError, NotFoundError, UpstreamError, ValidationError } from '#shared/errors.ts';
import { ORIGINAL_ID_KEY } from '#shared/ids.ts';
import { parseWith } from '#shared/validation.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';
import {
  BatchBodySchema,
  CreateCollectionBodySchema,
  DeleteBodySchema,
  SearchBodySchema,
  UpsertBodySchema,
} from '#shared/vectors/schemas.ts';
import { VectorService } from '#shared/vectors/service.ts';

/** The vector service against the embedded Qdrant-compatible server, with the offline embedder. */

let dataDir: string;
let server: QdrantServer;
let qdrant: QdrantClient;
let service: VectorService;

const embedder = createEmbedder({
  provider: 'local',
  model: LOCAL_EMBEDDING_MODEL,
  dimensions: LOCAL_EMBEDDING_DIMENSIONS,
});

// Requests go through the same schemas as the handlers', so defaults and checks apply.
const create = (body: unknown) => service.createCollection(parseWith(CreateCollectionBodySchema, body, ''));
const upsert = (body: unknown) => service.upsert(parseWith(UpsertBodySchema, body, ''));
const search = (body: unknown) => service.search(parseWith(SearchBodySchema, body, ''));
const remove = (body: unknown) => service.deletePoints(parseWith(DeleteBodySchema, body, ''));
const batch = (body: unknown) => service.batch(parseWith(BatchBodySchema, body, ''));

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
  { id: 17, text: 'Plan the backup strategy of the collections', payload: { phase: 3, status: 'todo' } },
];

async function pointsCount(collection: string): Promise<number> {
  return (await service.getCollection(collection)).pointsCount;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-vectors-'));
  server = await startQdrantServer({ dataDir, port: 0 });
  qdrant = getQdrantClient({ url: server.url });
  service = new VectorService({ qdrant, embedder: () => embedder, defaultCollection: 'vectors' });
  await create({ name: 'notes' });
  await upsert({ collection: 'notes', points: tasks });
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('collections', () => {
  it('creates a text collection sized and labelled by the embedder, and refuses a duplicate', async () => {
    expect(await service.getCollection('notes')).toEqual({
      name: 'notes',
      vectorSize: LOCAL_EMBEDDING_DIMENSIONS,
      distance: 'Cosine',
      pointsCount: tasks.length,
      embedding: { model: LOCAL_EMBEDDING_MODEL, dimensions: LOCAL_EMBEDDING_DIMENSIONS },
      status: 'green',
    });
    await expect(create({ name: 'notes', vectorSize: 3 })).rejects.toThrow(ConflictError);
  });

  it('creates a vector-only collection when the size is not the embedder’s', async () => {
    const raw = await create({ name: 'raw-3', vectorSize: 3, distance: 'Dot' });
    expect(raw).toMatchObject({
      name: 'raw-3',
      vectorSize: 3,
      distance: 'Dot',
      pointsCount: 0,
      embedding: null,
    });
  });

  it('lists collections by name with their aliases', async () => {
    await create({ name: 'listed' });
    await qdrant.updateCollectionAliases({
      actions: [{ create_alias: { collection_name: 'listed', alias_name: 'listed-live' } }],
    });
    const list = await service.listCollections();
    expect(list.collections.map((c) => c.name)).toEqual([...list.collections.map((c) => c.name)].sort());
    expect(list.collections.find((c) => c.name === 'listed')).toEqual({
      name: 'listed',
      aliases: ['listed-live'],
    });
    expect(list.aliases).toContainEqual({ alias: 'listed-live', collection: 'listed' });
  });

  it('deletes a collection, then answers 404 for it', async () => {
    await create({ name: 'doomed', vectorSize: 2 });
    expect(await service.deleteCollection('doomed')).toEqual({ name: 'doomed', deleted: true });
    await expect(service.getCollection('doomed')).rejects.toThrow(NotFoundError);
    const err = await service.deleteCollection('doomed').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).issues).toEqual([
      { field: 'collection', reason: '"doomed" does not exist' },
    ]);
  });
});

describe('upsert and search', () => {
  it('finds the expected nearest point for a text query, with the caller’s ids', async () => {
    const found = await search({ collection: 'notes', text: 'migrate the task vectors to qdrant', limit: 2 });
    expect(found.collection).toBe('notes');
    expect(found.results).toHaveLength(2);
    expect(found.results[0]).toMatchObject({ id: 'task-2', payload: { phase: 2, text: tasks[1]!.text } });
    expect(found.results[0]!.payload).not.toHaveProperty(ORIGINAL_ID_KEY);
    expect(found.results[0]!.score).toBeGreaterThan(found.results[1]!.score!);
    const integer = await search({ collection: 'notes', text: 'backup strategy', limit: 1 });
    expect(integer.results[0]!.id).toBe(17);
  });

  it('applies filters, score thresholds and offsets', async () => {
    const filtered = await search({
      collection: 'notes',
      text: 'email',
      filter: { must: [{ key: 'status', match: { value: 'todo' } }] },
    });
    expect(filtered.results.map((r) => r.id).sort()).toEqual([17, 'task-2', 'task-3'].sort());
    const strict = await search({ collection: 'notes', text: 'email', scoreThreshold: 0.99 });
    expect(strict.results).toEqual([]);
    const all = await search({ collection: 'notes', text: 'email', limit: 4 });
    const page = await search({ collection: 'notes', text: 'email', limit: 2, offset: 1 });
    expect(page.results.map((r) => r.id)).toEqual(all.results.slice(1, 3).map((r) => r.id));
  });

  it('answers ids without payload, and vectors on request', async () => {
    const bare = await search({ collection: 'notes', text: 'SMTP relay', limit: 1, withPayload: false });
    expect(bare.results[0]).toEqual({ id: 'task-1', score: expect.any(Number) });
    const withVector = await search({ collection: 'notes', text: 'SMTP relay', limit: 1, withVector: true });
    expect(withVector.results[0]!.vector).toHaveLength(LOCAL_EMBEDDING_DIMENSIONS);
  });

  it('keeps a caller’s `text` payload field rather than overwriting it', async () => {
    await create({ name: 'own-text' });
    await upsert({
      collection: 'own-text',
      points: [{ id: 1, text: 'embedded words', payload: { text: 'shown' } }],
    });
    const point = await service.getPoint({ collection: 'own-text', id: '1', withVector: false });
    expect(point).toEqual({ collection: 'own-text', id: 1, payload: { text: 'shown' } });
  });

  it('upserts vectors, and replaces a point written twice', async () => {
    await create({ name: 'vec', vectorSize: 3, distance: 'Dot' });
    const result = await upsert({
      collection: 'vec',
      points: [
        { id: 1, vector: [1, 0, 0], payload: { v: 1 } },
        { id: 'a', vector: [0, 1, 0] },
      ],
    });
    expect(result).toEqual({ collection: 'vec', upserted: 2, ids: [1, 'a'] });
    await upsert({ collection: 'vec', points: [{ id: 1, vector: [0, 0, 1], payload: { v: 2 } }] });
    expect(await pointsCount('vec')).toBe(2);
    const found = await search({ collection: 'vec', vector: [0, 0, 1], limit: 1 });
    expect(found.results[0]).toMatchObject({ id: 1, score: 1, payload: { v: 2 } });
  });

  it('writes to the default collection when none is named', async () => {
    await create({ name: 'vectors', vectorSize: 2 });
    await upsert({ points: [{ id: 5, vector: [1, 1] }] });
    expect(await pointsCount('vectors')).toBe(1);
    expect((await search({ vector: [1, 1] })).collection).toBe('vectors');
  });

  it('answers scores as numbers, also those beyond 2^53 the client parses as BigInt', async () => {
    await create({ name: 'dot', vectorSize: 2, distance: 'Dot' });
    await upsert({ collection: 'dot', points: [{ id: 1, vector: [1e9, 1e9] }] });
    const [hit] = (await search({ collection: 'dot', vector: [1e9, 1e9] })).results;
    expect(typeof hit!.score).toBe('number');
    expect(hit!.score).toBeGreaterThan(1.99e18);
  });

  it('answers a score that overflowed float32 as null, as Qdrant does, never as 0', async () => {
    await create({ name: 'huge', vectorSize: 2, distance: 'Dot' });
    await upsert({
      collection: 'huge',
      points: [
        { id: 1, vector: [1e30, 1e30] },
        { id: 2, vector: [1, 1] },
      ],
    });
    const { results } = await search({ collection: 'huge', vector: [1e30, 1e30] });
    expect(results.map((r) => [r.id, r.score])).toEqual([
      [1, null],
      [2, expect.any(Number)],
    ]);
  });

  it('reports Qdrant’s reason for a bad filter under the field `filter`', async () => {
    const err = await search({
      collection: 'notes',
      text: 'email',
      filter: { must: [{ key: 'status' }] },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]!.field).toBe('filter');
    expect((err as ValidationError).issues[0]!.reason.length).toBeGreaterThan(0);
  });
});

describe('ids', () => {
  it('round-trips string ids: get and delete by the caller’s original id', async () => {
    await create({ name: 'ids' });
    const uuid = '8F14E45F-CEEA-467F-A0E6-7B1E0B3B3F6A';
    await upsert({
      collection: 'ids',
      points: [
        { id: 'dep_name_1.2.3', text: 'legacy dependency id' },
        { id: '42', text: 'integer given as a string' },
        { id: uuid, text: 'a uuid' },
      ],
    });
    const legacy = await service.getPoint({ collection: 'ids', id: 'dep_name_1.2.3', withVector: false });
    expect(legacy).toEqual({
      collection: 'ids',
      id: 'dep_name_1.2.3',
      payload: { text: 'legacy dependency id' },
    });
    // Decimal strings are stored as integers and UUIDs canonically: both come back in that form.
    expect((await service.getPoint({ collection: 'ids', id: '42', withVector: false })).id).toBe(42);
    expect((await service.getPoint({ collection: 'ids', id: uuid, withVector: true })).vector).toHaveLength(
      LOCAL_EMBEDDING_DIMENSIONS,
    );
    expect((await search({ collection: 'ids', text: 'a uuid', limit: 1 })).results[0]!.id).toBe(
      uuid.toLowerCase(),
    );

    expect(await remove({ collection: 'ids', ids: ['dep_name_1.2.3', 'never-written'] })).toEqual({
      collection: 'ids',
      deleted: 1,
    });
    await expect(
      service.getPoint({ collection: 'ids', id: 'dep_name_1.2.3', withVector: false }),
    ).rejects.toThrow(NotFoundError);
    expect(await pointsCount('ids')).toBe(2);
  });

  it('deletes by filter and answers how many matched', async () => {
    await create({ name: 'by-filter', vectorSize: 2 });
    await upsert({
      collection: 'by-filter',
      points: [1, 2, 3].map((id) => ({ id, vector: [id, 1], payload: { keep: id === 2 } })),
    });
    const deleted = await remove({
      collection: 'by-filter',
      filter: { must: [{ key: 'keep', match: { value: false } }] },
    });
    expect(deleted).toEqual({ collection: 'by-filter', deleted: 2 });
    expect(await pointsCount('by-filter')).toBe(1);
  });

  it('answers 404 naming the collection for points of an unknown collection', async () => {
    await expect(service.getPoint({ collection: 'nope', id: '1', withVector: false })).rejects.toMatchObject({
      statusCode: 404,
      issues: [{ field: 'collection' }],
    });
    await expect(search({ collection: 'nope', vector: [1] })).rejects.toThrow(NotFoundError);
    await expect(upsert({ collection: 'nope', points: [{ id: 1, vector: [1] }] })).rejects.toThrow(
      NotFoundError,
    );
  });
});

describe('bad input changes nothing', () => {
  it('rejects a wrong dimension naming every bad point, and writes none of the request', async () => {
    await create({ name: 'strict', vectorSize: 3 });
    await upsert({ collection: 'strict', points: [{ id: 1, vector: [1, 0, 0] }] });
    const err = await upsert({
      collection: 'strict',
      points: [
        { id: 2, vector: [0, 1, 0] },
        { id: 3, vector: [0, 1] },
        { id: 4, vector: [0, 1, 0, 0] },
      ],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.field)).toEqual([
      'points.1.vector',
      'points.2.vector',
    ]);
    expect((err as ValidationError).issues[0]!.reason).toMatch(
      /has 2 dimensions; collection "strict" holds vectors of 3/,
    );
    expect(await pointsCount('strict')).toBe(1);
    await expect(search({ collection: 'strict', vector: [1, 0] })).rejects.toMatchObject({
      issues: [{ field: 'vector' }],
    });
  });

  it('refuses text for a vector-only collection, naming the field and the models', async () => {
    await create({ name: 'vector-only', vectorSize: 3 });
    const err = await upsert({
      collection: 'vector-only',
      points: [
        { id: 1, vector: [1, 2, 3] },
        { id: 2, text: 'hello' },
      ],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]!.field).toBe('points.1.text');
    expect((err as ValidationError).message).toMatch(/no embedding model/);
    expect((err as ValidationError).message).toContain(LOCAL_EMBEDDING_MODEL);
    expect(await pointsCount('vector-only')).toBe(0);
  });

  it('refuses text for a collection embedded with another model (400 naming both models)', async () => {
    await qdrant.createCollection('openai-notes', {
      vectors: { size: LOCAL_EMBEDDING_DIMENSIONS, distance: 'Cosine' },
      metadata: { embedding: { model: 'text-embedding-3-small', dimensions: LOCAL_EMBEDDING_DIMENSIONS } },
    });
    const err = await upsert({ collection: 'openai-notes', points: [{ id: 1, text: 'hello' }] }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]!.field).toBe('points.0.text');
    expect((err as ValidationError).message).toContain('"text-embedding-3-small"');
    expect((err as ValidationError).message).toContain(`"${LOCAL_EMBEDDING_MODEL}"`);
    await expect(search({ collection: 'openai-notes', text: 'hello' })).rejects.toMatchObject({
      issues: [{ field: 'text' }],
    });
    expect(await pointsCount('openai-notes')).toBe(0);
  });

  it('names an over-long text by its point', async () => {
    const err = await upsert({
      collection: 'notes',
      points: [
        { id: 'ok', text: 'fine' },
        { id: 'long', text: 'word '.repeat(10_000) },
      ],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]!.field).toBe('points.1.text');
    expect(await pointsCount('notes')).toBe(tasks.length);
  });
});

describe('batch', () => {
  it('runs operations in order, reporting each on its own', async () => {
    await create({ name: 'batch', vectorSize: 3 });
    const { results } = await batch({
      collection: 'batch',
      operations: [
        { type: 'upsert', points: [{ id: 9, vector: [0, 0, 1] }] },
        { type: 'search', vector: [0, 0, 1], limit: 1 },
        { type: 'search', vector: [0, 1], limit: 1 },
        {
          type: 'upsert',
          points: [
            { id: 10, vector: [1, 0, 0] },
            { id: 10, vector: [0, 1, 0] },
          ],
        },
        { type: 'delete', ids: [9] },
        { type: 'search', collection: 'notes', text: 'SMTP relay', limit: 1 },
      ],
    });
    expect(results[0]).toEqual({
      index: 0,
      type: 'upsert',
      status: 'ok',
      result: { collection: 'batch', upserted: 1, ids: [9] },
    });
    expect(results[1]).toMatchObject({
      index: 1,
      type: 'search',
      status: 'ok',
      result: { results: [{ id: 9 }] },
    });
    expect(results[2]).toMatchObject({
      index: 2,
      status: 'error',
      error: { code: 'VALIDATION_ERROR', issues: [{ field: 'vector' }] },
    });
    expect(results[3]).toMatchObject({
      index: 3,
      status: 'error',
      error: { issues: [{ field: 'points.1.id', reason: 'duplicates points.0.id (same point id)' }] },
    });
    expect(results[4]).toMatchObject({
      index: 4,
      type: 'delete',
      status: 'error',
      error: { issues: [{ field: 'type' }] },
    });
    expect(results[5]).toMatchObject({
      index: 5,
      status: 'ok',
      result: { collection: 'notes', results: [{ id: 'task-1' }] },
    });
    // The failed upsert wrote nothing.
    expect(await pointsCount('batch')).toBe(1);
  });
});

describe('Qdrant unavailable', () => {
  it('answers a retryable UpstreamError that names no address', async () => {
    const down = new VectorService({
      qdrant: getQdrantClient({ url: 'http://127.0.0.1:1' }),
      embedder: () => embedder,
      defaultCollection: 'vectors',
    });
    const err = await down.listCollections().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/^Qdrant is unreachable/);
    expect((err as Error).message).not.toContain('127.0.0.1');
  });
});
