import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, gaussianVector, type Harness, prng, startHarness } from './harness.ts';
import { Contract, recordExchanges, SPEC_PATH } from './openapi.ts';

/**
 * Every request the real client sends to the embedded server, and every answer (successes and
 * errors), is validated against Qdrant 1.19's official OpenAPI document.
 */
describe.skipIf(!existsSync(SPEC_PATH))(
  `OpenAPI contract (skipped when ${SPEC_PATH} is absent: the reference spec lives beside the checkout)`,
  () => {
    let h: Harness;
    let contract: Contract;
    let recorder: ReturnType<typeof recordExchanges>;

    beforeAll(async () => {
      contract = new Contract();
      h = await startHarness();
      recorder = recordExchanges(() => h.server.url);
    });

    afterAll(async () => {
      recorder.restore();
      await h.close();
    });

    /** Runs `scenario` and checks the exchanges it produced. */
    async function conforms(scenario: () => Promise<void>): Promise<void> {
      const start = recorder.exchanges.length;
      await scenario();
      const recorded = recorder.exchanges.slice(start);
      expect(recorded.length).toBeGreaterThan(0);
      expect(recorded.flatMap((exchange) => contract.check(exchange))).toEqual([]);
    }

    it('recognizes a body that breaks the schema (the check can fail)', () => {
      const problems = contract.check({
        method: 'POST',
        path: '/collections/x/points/query',
        status: 200,
        requestBody: { limit: 'ten' },
        responseBody: { result: { points: [{ id: -1, score: 'high' }] }, status: 'ok', time: 0 },
      });
      expect(problems).toHaveLength(2);
    });

    it('service and collection endpoints', async () => {
      await conforms(async () => {
        await h.client.versionInfo();
        await h.client.createCollection('books', {
          vectors: { size: 4, distance: 'Cosine', on_disk: false },
          hnsw_config: { m: 8 },
          optimizers_config: { max_optimization_threads: 'auto' as never },
          wal_config: { wal_capacity_mb: 16 },
          metadata: { source: 'contract' },
        });
        await h.client.createCollection('other', { vectors: { size: 4, distance: 'Manhattan' } });
        await h.client.getCollections();
        await h.client.getCollection('books');
        await h.client.collectionExists('books');
        await h.client.updateCollection('books', {
          metadata: { more: [1, 2] },
          optimizers_config: { indexing_threshold: 0 },
        });
        await h.client.createPayloadIndex('books', {
          field_name: 'genre',
          field_schema: 'keyword',
          wait: true,
        });
        await h.client.createPayloadIndex('books', {
          field_name: 'title',
          field_schema: { type: 'text', tokenizer: 'word', lowercase: true },
        });
        await h.client.getCollection('books');
        await h.client.deletePayloadIndex('books', 'title');
        await failure(h.client.createCollection('books', { vectors: { size: 4, distance: 'Cosine' } }));
        await failure(h.client.createCollection('zero', { vectors: { size: 0, distance: 'Cosine' } }));
        await failure(h.client.getCollection('missing'));
        await h.client.deleteCollection('other');
        await h.client.deleteCollection('other');
      });
    });

    it('point endpoints', async () => {
      const random = prng(1);
      await conforms(async () => {
        await h.client.upsert('books', {
          wait: true,
          points: Array.from({ length: 30 }, (_, id) => ({
            id: id % 10 === 9 ? `0000000${id % 10}-1111-4222-8333-444444444444` : id,
            vector: gaussianVector(random, 4),
            payload: { genre: id % 2 === 0 ? 'sf' : 'crime', year: 1990 + id, tags: ['a', `t${id}`] },
          })),
        });
        await h.client.upsert('books', {
          batch: {
            ids: [100, 101],
            vectors: [gaussianVector(random, 4), gaussianVector(random, 4)],
            payloads: [{ genre: 'sf' }, null],
          },
        });
        await h.client.retrieve('books', { ids: [1, 2, 404], with_payload: ['genre'], with_vector: true });
        await h.client.api().getPoint({ collection_name: 'books', id: 3 });
        await failure(h.client.api().getPoint({ collection_name: 'books', id: 404 }));
        await h.client.scroll('books', {
          limit: 7,
          filter: { must: [{ key: 'genre', match: { value: 'sf' } }] },
        });
        await h.client.scroll('books', {
          offset: 5,
          limit: 3,
          with_payload: { exclude: ['tags'] },
          with_vector: true,
        });
        await h.client.count('books', {
          filter: { must_not: [{ key: 'year', range: { lt: 2000 } }] },
          exact: true,
        });
        await h.client.setPayload('books', { points: [1, 2], payload: { read: true } });
        await h.client.setPayload('books', {
          filter: { must: [{ has_id: [3] }] },
          payload: { x: 1 },
          key: 'meta',
        });
        await h.client.overwritePayload('books', { points: [4], payload: { genre: 'poetry' } });
        await h.client.deletePayload('books', { points: [1], keys: ['read'] });
        await h.client.clearPayload('books', { points: [5] });
        await h.client.delete('books', { points: [6] });
        await h.client.delete('books', { filter: { must: [{ key: 'year', range: { gte: 2018 } }] } });
        await failure(h.client.upsert('books', { points: [{ id: 'bad-id', vector: [1, 2, 3, 4] }] }));
        await failure(h.client.upsert('books', { points: [{ id: 1, vector: [1, 2] }] }));
        await failure(h.client.setPayload('books', { points: [404], payload: { a: 1 } }));
        await failure(
          h.client.count('books', { filter: { must: [{ key: 'year', range: { gte: 'x' } }] } as never }),
        );
      });
    });

    it('query endpoints', async () => {
      const random = prng(2);
      await conforms(async () => {
        await h.client.query('books', {
          query: gaussianVector(random, 4),
          with_payload: true,
          with_vector: true,
        });
        await h.client.query('books', {
          query: { nearest: gaussianVector(random, 4) },
          filter: { should: [{ key: 'genre', match: { any: ['sf', 'crime'] } }] },
          limit: 3,
          offset: 2,
          score_threshold: -1,
          params: { exact: true },
        });
        await h.client.query('books', { query: 2, limit: 2 });
        await h.client.query('books', { limit: 2, with_payload: ['genre'] });
        await h.client.queryBatch('books', {
          searches: [
            { query: gaussianVector(random, 4), limit: 2 },
            { query: 3, limit: 1, with_payload: true },
          ],
        });
        await failure(h.client.query('books', { query: [1, 2], limit: 1 }));
        await failure(h.client.query('books', { query: gaussianVector(random, 4), limit: 0 }));
        await failure(h.client.query('books', { query: 404 }));
      });
    });

    it('alias endpoints', async () => {
      await conforms(async () => {
        await h.client.updateCollectionAliases({
          actions: [{ create_alias: { collection_name: 'books', alias_name: 'library' } }],
        });
        await h.client.getAliases();
        await h.client.getCollectionAliases('books');
        await h.client.query('library', { query: [1, 0, 0, 0], limit: 1 });
        await h.client.updateCollectionAliases({
          actions: [
            { rename_alias: { old_alias_name: 'library', new_alias_name: 'shelf' } },
            { delete_alias: { alias_name: 'nothing' } },
          ],
        });
        await failure(
          h.client.updateCollectionAliases({
            actions: [{ create_alias: { collection_name: 'missing', alias_name: 'x' } }],
          }),
        );
        await h.client.deleteCollection('books');
        await h.client.getAliases();
      });
    });
  },
);
