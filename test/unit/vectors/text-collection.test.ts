import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { createEmbedder } from '#shared/embeddings/index.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';
import { VectorService } from '#shared/vectors/service.ts';
import { TextCollection } from '#shared/vectors/text-collection.ts';

let dataDir: string;
let server: QdrantServer;
let qdrant: QdrantClient;

const embedder = createEmbedder({
  provider: 'local',
  model: LOCAL_EMBEDDING_MODEL,
  dimensions: LOCAL_EMBEDDING_DIMENSIONS,
});

const collectionNamed = (name: string) =>
  new TextCollection({
    name,
    vectors: () => new VectorService({ qdrant, embedder: () => embedder, defaultCollection: 'vectors' }),
    qdrant: () => qdrant,
  });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-text-collection-'));
  server = await startQdrantServer({ dataDir, port: 0 });
  qdrant = getQdrantClient({ url: server.url });
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('TextCollection', () => {
  it('answers nothing before its first write, then creates the collection for the embedder', async () => {
    const texts = collectionNamed('texts-new');
    expect(await texts.nearestTo('anything', { limit: 3, minScore: 0 })).toEqual([]);
    expect(await texts.neighbours(['a'], { limit: 3, minScore: 0 })).toEqual(new Map());
    expect(await texts.has(['a'])).toEqual(new Set());
    await texts.remove(['a']);

    await texts.put([{ id: 'a', text: 'parse yaml documents', payload: { kind: 'x' } }]);
    const info = await qdrant.getCollection('texts-new');
    expect(info.config.params.vectors).toMatchObject({
      size: LOCAL_EMBEDDING_DIMENSIONS,
      distance: 'Cosine',
    });
    expect(await texts.has(['a', 'b'])).toEqual(new Set(['a']));
  });

  it('finds the closest texts, with their payloads and ids, best first and above the threshold', async () => {
    const texts = collectionNamed('texts-near');
    await texts.put([
      { id: 'yaml', text: 'yaml parser for configuration files', payload: { n: 1 } },
      { id: 'toml', text: 'toml parser for configuration files', payload: { n: 2 } },
      { id: 'http', text: 'http client with retries and timeouts', payload: { n: 3 } },
    ]);
    const found = await texts.nearestTo('a parser of yaml configuration', { limit: 3, minScore: 0.2 });
    expect(found[0]).toMatchObject({ id: 'yaml', payload: { n: 1 } });
    expect(found.map((f) => f.id)).not.toContain('http');
    for (const f of found) expect(f.score).toBeGreaterThanOrEqual(0.2);

    const filtered = await texts.nearestTo('a parser of yaml configuration', {
      limit: 3,
      minScore: 0,
      filter: { must: [{ key: 'n', match: { value: 2 } }] },
    });
    expect(filtered.map((f) => f.id)).toEqual(['toml']);
  });

  it('gives each stored id its neighbours without itself, and forgets removed items', async () => {
    const texts = collectionNamed('texts-neighbours');
    await texts.put([
      { id: 'lodash', text: 'lodash utility functions' },
      { id: 'lodash-es', text: 'lodash es utility functions' },
      { id: 'pg', text: 'postgres database driver' },
    ]);
    const near = await texts.neighbours(['lodash', 'pg', 'missing'], { limit: 2, minScore: 0.5 });
    expect([...near.keys()].sort()).toEqual(['lodash', 'pg']);
    expect(near.get('lodash')!.map((n) => n.id)).toEqual(['lodash-es']);
    expect(near.get('pg')).toEqual([]);

    await texts.remove(['lodash-es']);
    expect((await texts.neighbours(['lodash'], { limit: 2, minScore: 0.5 })).get('lodash')).toEqual([]);
    expect(await texts.has(['lodash', 'lodash-es'])).toEqual(new Set(['lodash']));
  });
});
