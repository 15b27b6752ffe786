import { createServer } from 'node:net';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterEach, describe, expect, it } from 'vitest';
import { lockDataDirectory } from '#local/data-lock.ts';
import { startQdrantServer } from '#local/qdrant/server.ts';
import { tempDir } from './harness.ts';

/** The embedded server run from a worker thread (as the local runtime runs it). */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function directory(): Promise<string> {
  const dir = await tempDir('qdrant-worker-');
  cleanups.push(dir.cleanup);
  return dir.path;
}

describe('startQdrantServer({ worker: true })', () => {
  it('serves the API, keeps the data on close and releases the directory', async () => {
    const dataDir = await directory();
    const server = await startQdrantServer({ dataDir, worker: true });
    const client = new QdrantClient({ url: server.url, checkCompatibility: false });
    await client.createCollection('kept', { vectors: { size: 2, distance: 'Dot' } });
    await client.upsert('kept', { wait: true, points: [{ id: 1, vector: [1, 2], payload: { a: 1 } }] });
    await expect(lockDataDirectory(dataDir)).rejects.toThrow(/in use by process/);

    await server.close();
    await server.close();
    await (await lockDataDirectory(dataDir)).release();

    // The same directory opens again, in this thread, with the point written by the worker.
    const again = await startQdrantServer({ dataDir });
    cleanups.push(() => again.close());
    const reopened = new QdrantClient({ url: again.url, checkCompatibility: false });
    expect(await reopened.retrieve('kept', { ids: [1] })).toMatchObject([{ id: 1, payload: { a: 1 } }]);
  });

  it('refuses a directory another worker of this process serves', async () => {
    const dataDir = await directory();
    const server = await startQdrantServer({ dataDir, worker: true });
    cleanups.push(() => server.close());
    await expect(startQdrantServer({ dataDir, worker: true })).rejects.toThrow(
      /already open in this process/,
    );
  });

  it('rejects with the reason when the worker cannot start', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => busy.close(() => resolve())));
    const { port } = busy.address() as { port: number };
    const dataDir = await directory();

    await expect(startQdrantServer({ dataDir, port, worker: true })).rejects.toThrow(/EADDRINUSE/);
    // The failed start released everything: the directory can be served right away.
    const server = await startQdrantServer({ dataDir, worker: true });
    cleanups.push(() => server.close());
    await expect(lockDataDirectory(dataDir)).rejects.toThrow(/in use by process/);
  });
});
