import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { FileStateStore } from '#shared/adapters/index.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { createEmbedder } from '#shared/embeddings/index.ts';
import { CreateMigrationBodySchema, type JobRecord } from '#shared/migrations/model.ts';
import { type MigrationDeps, MigrationService } from '#shared/migrations/service.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';
import { MemoryBus, MemoryObjects, MemoryQueue } from './harness.ts';

/**
 * What the migration service tests run on: the embedded Qdrant (one per test file), and a fresh
 * in-memory object store, queue and bus and file state store per test. The adapters are live
 * bindings: read them inside tests, after `useMigrationWorld()` has set them up.
 */

export const DIM = LOCAL_EMBEDDING_DIMENSIONS;
export const embedder = createEmbedder({ provider: 'local', model: LOCAL_EMBEDDING_MODEL, dimensions: DIM });

let dataDir: string;
let server: QdrantServer;
let testNo = 0;
export let qdrant: QdrantClient;
export let objects: MemoryObjects;
export let queue: MemoryQueue;
export let bus: MemoryBus;
export let state: FileStateStore;

export function useMigrationWorld(): void {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-migrations-'));
    server = await startQdrantServer({ dataDir: join(dataDir, 'qdrant'), port: 0 });
    qdrant = getQdrantClient({ url: server.url });
  });

  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    objects = new MemoryObjects();
    queue = new MemoryQueue();
    bus = new MemoryBus();
    state = new FileStateStore({ dir: join(dataDir, `state-${++testNo}`) });
  });
}

export interface Overrides {
  qdrant?: QdrantClient;
  /** The service's clock (its writes' `updatedAt`). */
  now?: () => Date;
}

export function deps(overrides: Overrides = {}): MigrationDeps {
  return {
    ...(overrides.now ? { now: overrides.now } : {}),
    objects,
    queue,
    bus,
    state,
    qdrant: overrides.qdrant ?? qdrant,
    embedder: () => embedder,
    eventSource: 'test',
    maxReceiveCount: 3,
    retryDelaysMs: [1, 1],
  };
}

type Adapter = 'objects' | 'queue' | 'bus' | 'state' | 'qdrant' | 'embedder';

/** A service whose adapters outside `granted` throw when touched, as in a function without that access. */
export function grantedOnly(granted: Adapter[]): MigrationService {
  const all = deps();
  const refuse = (name: string) => () => {
    throw new Error(`${name} touched without access`);
  };
  const out = { ...all, embedder: granted.includes('embedder') ? all.embedder : refuse('embedder') };
  for (const name of ['objects', 'queue', 'bus', 'state', 'qdrant'] as const) {
    if (!granted.includes(name)) Object.defineProperty(out, name, { get: refuse(name) });
  }
  return new MigrationService(out);
}

export function service(overrides: Overrides = {}): MigrationService {
  return new MigrationService(deps(overrides));
}

export const body = (key: string, collection: string, extra: Record<string, unknown> = {}) =>
  CreateMigrationBodySchema.parse({ key, collection, chunkBytes: 20_000, ...extra });

/**
 * Delivers every queued message (and any sent meanwhile) to the worker once, last chunk first:
 * the order in which parallel workers finish must not decide which duplicate wins.
 */
export async function runWorkers(svc = service()): Promise<void> {
  for (let batch = queue.drain(); batch.length > 0; batch = queue.drain()) {
    for (const message of batch.reverse()) await svc.processChunk(message, 1);
  }
}

export async function job(id: string): Promise<JobRecord> {
  return (await state.get<JobRecord>(`migration#${id}`, 'job'))!.value;
}

export async function aliasOf(name: string): Promise<string | undefined> {
  const { aliases } = await qdrant.getAliases();
  return aliases.find((a) => a.alias_name === name)?.collection_name;
}
