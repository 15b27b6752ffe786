import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await h.client.createCollection('v', { vectors: { size: 2, distance: 'Dot' } });
  await h.client.upsert('v', { points: [{ id: 1, vector: [0.5, 1], payload: { a: 1 } }] });
});
afterAll(async () => {
  await h.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; result: unknown }> {
  const response = await fetch(`${h.server.url}/collections/v/points${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, result: ((await response.json()) as { result?: unknown }).result };
}

describe('with_vectors, the alias Qdrant accepts for with_vector', () => {
  it('returns the vectors from query, scroll and retrieve', async () => {
    const point = { id: 1, vector: [0.5, 1] };
    expect(await post('/query', { query: [1, 0], with_vectors: true })).toEqual({
      status: 200,
      result: { points: [{ ...point, version: 0, score: 0.5 }] },
    });
    expect(await post('/query/batch', { searches: [{ with_vectors: true }] })).toEqual({
      status: 200,
      result: [{ points: [{ ...point, version: 0, score: 0 }] }],
    });
    expect(await post('/scroll', { with_vectors: true, with_payload: false })).toEqual({
      status: 200,
      result: { points: [point], next_page_offset: null },
    });
    expect(await post('', { ids: [1], with_vectors: true, with_payload: false })).toEqual({
      status: 200,
      result: [point],
    });
    expect((await post('/scroll', { with_vectors: true, with_vector: true })).status).toBe(400);
  });
});

describe('search params', () => {
  it('refuse hnsw_ef 0 with a 422', async () => {
    expect((await post('/query', { query: [1, 0], params: { hnsw_ef: 0 } })).status).toBe(422);
    expect((await post('/query', { query: [1, 0], params: { hnsw_ef: 16 } })).status).toBe(200);
  });
});
