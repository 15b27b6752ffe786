import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { type QdrantServer, type QdrantServerOptions, startQdrantServer } from '#local/qdrant/server.ts';

/** A temporary data directory, removed by `cleanup`. */
export async function tempDir(
  prefix = 'qdrant-test-',
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export interface Harness {
  server: QdrantServer;
  client: QdrantClient;
  dataDir: string;
  /** Stops the server (data kept) and starts a new one on the same directory. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** The embedded server on a temporary directory, and the real Qdrant client pointed at it. */
export async function startHarness(options: Partial<QdrantServerOptions> = {}): Promise<Harness> {
  const dir = await tempDir();
  const harness: Harness = {
    server: await startQdrantServer({ ...options, dataDir: dir.path }),
    client: undefined as unknown as QdrantClient,
    dataDir: dir.path,
    async restart() {
      await harness.server.close();
      harness.server = await startQdrantServer({ ...options, dataDir: dir.path });
      harness.client = new QdrantClient({ url: harness.server.url, checkCompatibility: false });
    },
    async close() {
      await harness.server.close();
      await dir.cleanup();
    },
  };
  harness.client = new QdrantClient({ url: harness.server.url, checkCompatibility: false });
  return harness;
}

/** The HTTP status and Qdrant error text of a failed client call (fails the test if it succeeded). */
export async function failure(call: Promise<unknown>): Promise<{ status: number; error: string }> {
  try {
    await call;
  } catch (err) {
    const e = err as { status?: number; data?: { status?: { error?: string } } };
    return { status: e.status ?? -1, error: e.data?.status?.error ?? String(err) };
  }
  throw new Error('expected the call to fail');
}

/** Deterministic PRNG (mulberry32) and a standard normal sample from it. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussianVector(random: () => number, dim: number): number[] {
  return Array.from({ length: dim }, () => {
    const u = Math.max(random(), Number.EPSILON);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  });
}

export type Metric = 'Cosine' | 'Dot' | 'Euclid' | 'Manhattan';

/**
 * Brute-force reference, written independently of the engine: the stored vector (float32,
 * normalized for Cosine), the score as Qdrant defines it, best first, ties by id (numbers
 * before UUIDs), offset then limit, then score_threshold.
 */
export function referenceSearch(
  metric: Metric,
  points: { id: number | string; vector: number[] }[],
  query: number[],
  options: { limit: number; offset?: number; threshold?: number; keep?: (id: number | string) => boolean },
): { id: number | string; score: number }[] {
  const stored = (v: number[]): Float32Array => {
    const f = Float32Array.from(v);
    if (metric !== 'Cosine') return f;
    const norm = Math.sqrt(f.reduce((s, x) => s + x * x, 0));
    return norm < 1.1920929e-7 ? f : Float32Array.from(f, (x) => x / norm);
  };
  const q = stored(query);
  const higherIsBetter = metric === 'Cosine' || metric === 'Dot';
  const scored = points
    .filter((point) => options.keep?.(point.id) ?? true)
    .map((point) => {
      const v = stored(point.vector);
      let score = 0;
      for (let i = 0; i < v.length; i++) {
        if (metric === 'Euclid') score += (v[i]! - q[i]!) ** 2;
        else if (metric === 'Manhattan') score += Math.abs(v[i]! - q[i]!);
        else score += v[i]! * q[i]!;
      }
      return { id: point.id, raw: score };
    });
  const byId = (a: number | string, b: number | string): number =>
    typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === 'number' ? -1 : 1;
  scored.sort((a, b) =>
    a.raw !== b.raw ? (higherIsBetter ? b.raw - a.raw : a.raw - b.raw) : byId(a.id, b.id),
  );
  const offset = options.offset ?? 0;
  const out = scored
    .slice(offset, offset + options.limit)
    .map(({ id, raw }) => ({ id, score: Math.fround(metric === 'Euclid' ? Math.sqrt(raw) : raw) }));
  if (options.threshold === undefined) return out;
  const t = Math.fround(options.threshold);
  return out.filter((p) => (higherIsBetter ? p.score >= t : p.score <= t));
}
