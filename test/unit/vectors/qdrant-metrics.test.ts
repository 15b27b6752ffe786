import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { metrics } from '#shared/powertools.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';

/** The dashboard's Qdrant figures: every call's latency, and the calls Qdrant failed. */
describe('Qdrant call metrics', () => {
  let dataDir: string;
  let server: QdrantServer;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-qdrant-metrics-'));
    server = await startQdrantServer({ dataDir, port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  afterEach(() => vi.restoreAllMocks());

  const recorded = () => {
    const spy = vi.spyOn(metrics, 'addMetric');
    return () => spy.mock.calls.map(([name, unit, value]) => ({ name, unit, value }));
  };

  it('records the latency of each call, and no error for an answer about the request (404)', async () => {
    const calls = recorded();
    const client = getQdrantClient({ url: server.url });
    await client.getCollections();
    await expect(client.getCollection('absent')).rejects.toMatchObject({ status: 404 });
    const seen = calls();
    expect(seen.map((c) => [c.name, c.unit])).toEqual([
      ['QdrantCallLatency', 'Milliseconds'],
      ['QdrantCallLatency', 'Milliseconds'],
    ]);
    for (const { value } of seen) expect(value).toBeGreaterThan(0);
  });

  it('counts an error when Qdrant cannot be reached, and passes the error on unchanged', async () => {
    const calls = recorded();
    // Port 9 (discard) is closed on loopback: the connection is refused.
    const unreachable = getQdrantClient({ url: 'http://127.0.0.1:9' });
    const failure = unreachable.getCollections();
    await expect(failure).rejects.toThrow();
    expect(calls().map((c) => c.name)).toEqual(['QdrantCallLatency', 'QdrantCallErrors']);
    expect(calls()[1]).toMatchObject({ unit: 'Count', value: 1 });
  });
});
