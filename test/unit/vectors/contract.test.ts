import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { createEmbedder } from '#shared/embeddings/index.ts';
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
import { Contract, recordExchanges, SPEC_PATH } from '../qdrant/openapi.ts';

/**
 * Every request the platform's vector service sends to Qdrant, and every answer it gets back
 * (errors included), conforms to Qdrant 1.19's official OpenAPI document.
 */
describe.skipIf(!existsSync(SPEC_PATH))(
  `the vector service speaks Qdrant's published API (skipped when ${SPEC_PATH} is absent: the reference spec lives beside the checkout)`,
  () => {
    let dataDir: string;
    let server: QdrantServer;
    let service: VectorService;
    let recorder: ReturnType<typeof recordExchanges>;

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'vp-contract-'));
      server = await startQdrantServer({ dataDir, port: 0 });
      recorder = recordExchanges(() => server.url);
      const embedder = createEmbedder({
        provider: 'local',
        model: LOCAL_EMBEDDING_MODEL,
        dimensions: LOCAL_EMBEDDING_DIMENSIONS,
      });
      service = new VectorService({
        qdrant: getQdrantClient({ url: server.url }),
        embedder: () => embedder,
        defaultCollection: 'vectors',
      });
    });

    afterAll(async () => {
      recorder?.restore();
      await server?.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('conforms across every operation, successes and errors', async () => {
      const attempt = async (op: () => Promise<unknown>) => op().catch((err: unknown) => err);
      await service.createCollection(parseWith(CreateCollectionBodySchema, { name: 'notes' }, ''));
      await attempt(() =>
        service.createCollection(parseWith(CreateCollectionBodySchema, { name: 'notes' }, '')),
      );
      await service.createCollection(
        parseWith(CreateCollectionBodySchema, { name: 'raw', vectorSize: 3, distance: 'Euclid' }, ''),
      );
      await service.upsert(
        parseWith(
          UpsertBodySchema,
          {
            collection: 'notes',
            points: [
              { id: 'task-1', text: 'Configure the SMTP relay', payload: { phase: 1, tags: ['email'] } },
              { id: 7, text: 'Migrate the legacy vectors', payload: { phase: 2 } },
            ],
          },
          '',
        ),
      );
      await service.upsert(
        parseWith(UpsertBodySchema, { collection: 'raw', points: [{ id: 1, vector: [1, 2, 3] }] }, ''),
      );
      await service.search(
        parseWith(
          SearchBodySchema,
          {
            collection: 'notes',
            text: 'legacy vectors',
            filter: { must: [{ key: 'phase', range: { gte: 1 } }] },
            limit: 5,
            offset: 0,
            scoreThreshold: 0.01,
            withVector: true,
          },
          '',
        ),
      );
      await attempt(() =>
        service.search(parseWith(SearchBodySchema, { collection: 'raw', vector: [1, 2], limit: 1 }, '')),
      );
      await attempt(() =>
        service.search(parseWith(SearchBodySchema, { collection: 'nope', vector: [1] }, '')),
      );
      await service.batch(
        parseWith(
          BatchBodySchema,
          {
            collection: 'raw',
            operations: [
              { type: 'upsert', points: [{ id: 2, vector: [3, 2, 1] }] },
              { type: 'search', vector: [1, 1, 1], limit: 2 },
            ],
          },
          '',
        ),
      );
      await service.getPoint({ collection: 'notes', id: 'task-1', withVector: true });
      await attempt(() => service.getPoint({ collection: 'notes', id: 'missing', withVector: false }));
      await service.deletePoints(parseWith(DeleteBodySchema, { collection: 'notes', ids: ['task-1'] }, ''));
      await service.deletePoints(
        parseWith(DeleteBodySchema, { collection: 'raw', filter: { must: [{ has_id: [1] }] } }, ''),
      );
      await service.listCollections();
      await service.getCollection('raw');
      await service.deleteCollection('raw');
      await attempt(() => service.deleteCollection('raw'));

      const contract = new Contract();
      expect(recorder.exchanges.length).toBeGreaterThan(15);
      expect(recorder.exchanges.flatMap((exchange) => contract.check(exchange))).toEqual([]);
      // The vector contract is Qdrant's /points/query: the removed search endpoints are never used.
      expect(recorder.exchanges.some((e) => e.path.endsWith('/points/search'))).toBe(false);
      expect(recorder.exchanges.some((e) => e.path.endsWith('/points/query'))).toBe(true);
    });
  },
);
