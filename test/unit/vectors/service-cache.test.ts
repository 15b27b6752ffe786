import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { createEmbedder } from '#shared/embeddings/index.ts';
import { NotFoundError, ValidationError } from '#shared/errors.ts';
import { parseWith } from '#shared/validation.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';
import { SearchBodySchema } from '#shared/vectors/schemas.ts';
import { VectorService } from '#shared/vectors/service.ts';

/**
 * The vector search skips the collection-info round trip once it knows a collection's size. A
 * collection changed behind its back (another process, another Lambda) must still get exactly
 * the answers a search without that knowledge gives.
 */

let dataDir: string;
let server: QdrantServer;
let qdrant: QdrantClient;
/** Another writer: its own client, so the service's client sees none of its changes. */
let other: QdrantClient;

const embedder = createEmbedder({
  provider: 'local',
  model: LOCAL_EMBEDDING_MODEL,
  dimensions: LOCAL_EMBEDDING_DIMENSIONS,
});

/** A service per request, as the handlers build them. */
const service = () => new VectorService({ qdrant, embedder: () => embedder, defaultCollection: 'vectors' });
const search = (body: unknown) => service().search(parseWith(SearchBodySchema, body, ''));
const unit = (size: number) => Array.from({ length: size }, (_, i) => (i === 0 ? 1 : 0));

async function recreate(name: string, size: number, distance: 'Cosine' | 'Dot') {
  await other.deleteCollection(name);
  await other.createCollection(name, { vectors: { size, distance } });
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the search to fail'),
    (err: unknown) => err,
  );
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-search-cache-'));
  server = await startQdrantServer({ dataDir, port: 0 });
  qdrant = getQdrantClient({ url: server.url });
  other = new QdrantClient({ url: server.url, checkCompatibility: false });
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('vector search with a known collection size', () => {
  it('reads the collection info once, not on every search', async () => {
    await other.createCollection('known', { vectors: { size: 4, distance: 'Cosine' } });
    await other.upsert('known', { wait: true, points: [{ id: 1, vector: unit(4) }] });
    const info = vi.spyOn(qdrant, 'getCollection');
    try {
      for (let i = 0; i < 3; i++) {
        expect((await search({ collection: 'known', vector: unit(4) })).results).toMatchObject([{ id: 1 }]);
      }
      expect(info).toHaveBeenCalledTimes(1);
    } finally {
      info.mockRestore();
    }
  });

  it('answers a vector of the old size with the field and the new size after a recreation', async () => {
    await other.createCollection('resized', { vectors: { size: 4, distance: 'Cosine' } });
    await search({ collection: 'resized', vector: unit(4) });
    await recreate('resized', 8, 'Cosine');

    const err = await failure(search({ collection: 'resized', vector: unit(4) }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([
      { field: 'vector', reason: 'has 4 dimensions; collection "resized" holds vectors of 8' },
    ]);
    await other.upsert('resized', { wait: true, points: [{ id: 7, vector: unit(8) }] });
    expect((await search({ collection: 'resized', vector: unit(8) })).results).toMatchObject([{ id: 7 }]);
  });

  it('accepts a vector of the new size at once after a recreation', async () => {
    await other.createCollection('grown', { vectors: { size: 4, distance: 'Cosine' } });
    await search({ collection: 'grown', vector: unit(4) });
    await recreate('grown', 6, 'Dot');
    await other.upsert('grown', { wait: true, points: [{ id: 3, vector: unit(6) }] });
    expect((await search({ collection: 'grown', vector: unit(6) })).results).toMatchObject([
      { id: 3, score: 1 },
    ]);
  });

  it('answers 404 naming the collection once it was deleted elsewhere', async () => {
    await other.createCollection('gone', { vectors: { size: 4, distance: 'Cosine' } });
    await search({ collection: 'gone', vector: unit(4) });
    await other.deleteCollection('gone');

    const err = await failure(search({ collection: 'gone', vector: unit(4) }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).issues).toEqual([{ field: 'collection', reason: '"gone" does not exist' }]);
  });

  it('still reports Qdrant’s reason for a bad filter under `filter`', async () => {
    await other.createCollection('filtered', { vectors: { size: 4, distance: 'Cosine' } });
    await search({ collection: 'filtered', vector: unit(4) });

    const err = await failure(
      search({ collection: 'filtered', vector: unit(4), filter: { must: [{ key: 'a', range: 'x' }] } }),
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((issue) => issue.field)).toEqual(['filter']);
  });
});
