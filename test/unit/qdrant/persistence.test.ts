import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterEach, describe, expect, it } from 'vitest';
import { startQdrantServer } from '#local/qdrant/server.ts';
import { gaussianVector, prng, startHarness, tempDir } from './harness.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function collectionDirectories(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'collections');
  return (await readdir(root)).filter((name) => !name.startsWith('.')).map((name) => join(root, name));
}

describe('restart', () => {
  for (const compactionBytes of [64 * 1024 * 1024, 1]) {
    const mode = compactionBytes === 1 ? 'snapshot after every write' : 'write-ahead log only';
    it(`keeps collections, points, payloads, aliases and indexes (${mode})`, async () => {
      const h = await startHarness({ compactionBytes });
      cleanups.push(() => h.close());
      const random = prng(3);
      const vectors = Array.from({ length: 40 }, () => gaussianVector(random, 6));
      await h.client.createCollection('keep', {
        vectors: { size: 6, distance: 'Cosine' },
        metadata: { m: 1 },
      });
      await h.client.upsert('keep', {
        points: vectors.map((vector, id) => ({ id, vector, payload: { id, half: id % 2 } })),
      });
      await h.client.delete('keep', { filter: { must: [{ key: 'half', match: { value: 1 } }] } });
      await h.client.setPayload('keep', { points: [0, 2], payload: { marked: true } });
      await h.client.createPayloadIndex('keep', { field_name: 'half', field_schema: 'integer', wait: true });
      await h.client.updateCollectionAliases({
        actions: [{ create_alias: { collection_name: 'keep', alias_name: 'k' } }],
      });
      await h.client.updateCollection('keep', { metadata: { m: 2 } });
      const before = await h.client.scroll('keep', { limit: 100, with_vector: true });
      const query = await h.client.query('k', { query: vectors[5]!, limit: 5, with_payload: true });
      const lastOp = (await h.client.setPayload('keep', { points: [4], payload: { last: 1 } })).operation_id!;

      await h.restart();

      const after = await h.client.scroll('keep', { limit: 100, with_vector: true });
      expect(after.points.filter((p) => p.id !== 4)).toEqual(before.points.filter((p) => p.id !== 4));
      expect(after.points.find((p) => p.id === 4)!.payload).toEqual({ id: 4, half: 0, last: 1 });
      expect(await h.client.query('k', { query: vectors[5]!, limit: 5, with_payload: true })).toEqual(query);
      const info = await h.client.getCollection('keep');
      expect(info.points_count).toBe(20);
      expect(info.config.metadata).toEqual({ m: 2 });
      expect(info.payload_schema).toEqual({ half: { data_type: 'integer', points: 20 } });
      const next = await h.client.upsert('keep', { points: [{ id: 100, vector: vectors[0]! }] });
      expect(next.operation_id!).toBeGreaterThan(lastOp);
    });
  }

  it('refuses a data directory already in use, and removes leftovers of interrupted creations', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const server = await startQdrantServer({ dataDir: dir.path });
    await expect(startQdrantServer({ dataDir: dir.path })).rejects.toThrow(/already open/);
    await server.close();
    await mkdir(join(dir.path, 'collections', '.new-interrupted'));
    const again = await startQdrantServer({ dataDir: dir.path });
    cleanups.push(() => again.close());
    expect(await readdir(join(dir.path, 'collections'))).toEqual([]);
  });
});

async function startChild(
  dataDir: string,
  compactionBytes: number,
): Promise<{ child: ChildProcess; url: string }> {
  const script = join(import.meta.dirname, 'fixtures', 'serve.ts');
  // The project's Node (the one running the tests), so that SIGKILL hits the server itself.
  const child = spawn(process.execPath, [script, dataDir, String(compactionBytes)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server child exited early (${code})`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
  });
  return { child, url };
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('kill -9', () => {
  it('keeps every acknowledged write, and recovers from a torn log tail', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const { child, url } = await startChild(dir.path, 16 * 1024);
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) await kill9(child);
    });
    const client = new QdrantClient({ url, checkCompatibility: false });
    await expect(startQdrantServer({ dataDir: dir.path })).rejects.toThrow(/in use by process/);

    const random = prng(9);
    const dim = 16;
    const expected = new Map<number, { vector: number[]; payload: Record<string, unknown> }>();
    await client.createCollection('crash', { vectors: { size: dim, distance: 'Dot' } });
    await client.updateCollectionAliases({
      actions: [{ create_alias: { collection_name: 'crash', alias_name: 'c' } }],
    });
    for (let batch = 0; batch < 8; batch++) {
      const points = Array.from({ length: 50 }, (_, i) => {
        const id = batch * 50 + i;
        const vector = gaussianVector(random, dim).map((x) => Math.fround(x));
        return { id, vector, payload: { batch, id } };
      });
      const result = await client.upsert('c', { wait: batch % 2 === 0, points });
      expect(result.status).toBe('completed');
      for (const p of points) expected.set(p.id, { vector: p.vector, payload: p.payload });
      if (batch % 3 === 2) {
        await client.delete('crash', { filter: { must: [{ key: 'batch', match: { value: batch - 1 } }] } });
        for (const [id, p] of expected) if (p.payload.batch === batch - 1) expected.delete(id);
        await client.setPayload('crash', { points: [batch * 50], payload: { touched: batch } });
        expected.get(batch * 50)!.payload.touched = batch;
      }
    }
    // Written as the process dies: either entirely there afterwards or not at all.
    const inFlight = client
      .upsert('crash', { points: [{ id: 9999, vector: new Array(dim).fill(0.5) }] })
      .catch(() => null);
    await kill9(child);
    await inFlight;

    const [collectionDir] = await collectionDirectories(dir.path);
    const snapshot = await stat(join(collectionDir!, 'snapshot.bin'));
    expect(snapshot.size).toBeGreaterThan(0);

    const check = async () => {
      const server = await startQdrantServer({ dataDir: dir.path });
      try {
        const restarted = new QdrantClient({ url: server.url, checkCompatibility: false });
        const all = await restarted.scroll('c', { limit: 10_000, with_vector: true });
        const byId = new Map(all.points.map((p) => [p.id, p]));
        for (const [id, p] of expected) {
          // Vectors come back as the shortest decimals of their float32 values.
          const point = byId.get(id);
          expect(point, `point ${id}`).toBeDefined();
          expect((point!.vector as number[]).map((x) => Math.fround(x))).toEqual(p.vector);
          expect(point!.payload).toEqual(p.payload);
        }
        const extra = all.points.filter((p) => !expected.has(p.id as number)).map((p) => p.id);
        expect(extra.length === 0 || (extra.length === 1 && extra[0] === 9999)).toBe(true);
        return restarted;
      } finally {
        await server.close();
      }
    };
    await check();

    // A record cut short by the crash, appended by hand: ignored, and later writes still land.
    await appendFile(join(collectionDir!, 'wal.log'), Buffer.from([200, 1, 0, 0, 7, 7, 7]));
    const server = await startQdrantServer({ dataDir: dir.path });
    const restarted = new QdrantClient({ url: server.url, checkCompatibility: false });
    await restarted.upsert('crash', {
      points: [{ id: 7777, vector: new Array(dim).fill(1), payload: { late: true } }],
    });
    expected.set(7777, { vector: new Array(dim).fill(1), payload: { late: true } });
    await server.close();
    await check();
  });
});
