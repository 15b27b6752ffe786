import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { QdrantEngine } from '../local/qdrant/engine.ts';
import { loadExactSearch } from '../local/qdrant/kernels.ts';
import { prng } from './random.ts';

/**
 * Exact top-10 search over clustered unit vectors (100k × 384 by default), same data and same
 * queries for: the embedded Qdrant engine (called directly, Cosine, exact), usearch's SIMD
 * `exactSearch` (the kernel it builds on, one thread like the engine) and LanceDB's flat
 * search (local table, no index). Reports p50/p95 per method and the ratios, checks that the
 * engine's top-10 equals usearch's (recall), and repeats the engine and LanceDB with a filter
 * that keeps half of the points (checked against a plain brute-force reference).
 *
 * `npx node bench/search.ts [n] [dim] [queries]` prints the JSON result.
 */

export interface BenchSearchOptions {
  n?: number;
  dim?: number;
  queries?: number;
}

const CLUSTERS = 100;
const TOP = 10;
/** Per-component spread around a cluster centre (centre components are ~1/√dim). */
const SPREAD = 0.04;

function gaussian(random: () => number): number {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function normalizeRow(values: Float32Array, offset: number, dim: number): void {
  let sum = 0;
  for (let i = 0; i < dim; i++) sum += values[offset + i]! ** 2;
  const norm = Math.sqrt(sum);
  for (let i = 0; i < dim; i++) values[offset + i] = values[offset + i]! / norm;
}

/** `count` unit vectors drawn around `CLUSTERS` random unit centres. */
function clusteredVectors(
  count: number,
  dim: number,
  centres: Float32Array,
  random: () => number,
): Float32Array {
  const out = new Float32Array(count * dim);
  for (let row = 0; row < count; row++) {
    const centre = Math.floor(random() * CLUSTERS) * dim;
    for (let i = 0; i < dim; i++) out[row * dim + i] = centres[centre + i]! + SPREAD * gaussian(random);
    normalizeRow(out, row * dim, dim);
  }
  return out;
}

/**
 * The benchmarks' data set: `n` data rows and `queries` query rows (unit vectors, row-major)
 * drawn around the same `CLUSTERS` random unit centres, deterministic for a seed.
 */
export function clusteredDataset(
  n: number,
  dim: number,
  queries: number,
  seed = 42,
): { data: Float32Array; queries: Float32Array } {
  const random = prng(seed);
  const centres = new Float32Array(CLUSTERS * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = gaussian(random);
  for (let c = 0; c < CLUSTERS; c++) normalizeRow(centres, c * dim, dim);
  const data = clusteredVectors(n, dim, centres, random);
  return { data, queries: clusteredVectors(queries, dim, centres, random) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeEach(count: number, run: (i: number) => Promise<unknown> | unknown) {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await run(i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const round = (ms: number): number => Math.round(ms * 1000) / 1000;
  return { p50: round(percentile(times, 50)), p95: round(percentile(times, 95)) };
}

/** Exact top-k by plain brute force (the reference for the filtered case). */
function bruteForce(
  data: Float32Array,
  dim: number,
  query: Float32Array,
  keep: (row: number) => boolean,
): number[] {
  const best: { row: number; score: number }[] = [];
  for (let row = 0; row * dim < data.length; row++) {
    if (!keep(row)) continue;
    let score = 0;
    for (let i = 0; i < dim; i++) score += data[row * dim + i]! * query[i]!;
    if (best.length < TOP || score > best[best.length - 1]!.score) {
      best.push({ row, score });
      best.sort((a, b) => b.score - a.score || a.row - b.row);
      if (best.length > TOP) best.pop();
    }
  }
  return best.map((entry) => entry.row);
}

function overlap(a: readonly number[], b: readonly number[]): number {
  const set = new Set(b);
  return a.filter((x) => set.has(x)).length / Math.max(1, b.length);
}

function lanceTable(data: Float32Array, n: number, dim: number): arrow.Table {
  const floats = arrow.makeData({ type: new arrow.Float32(), length: n * dim, data });
  const vectorType = new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true));
  const vectors = arrow.makeData({ type: vectorType, length: n, nullCount: 0, child: floats });
  const ids = Int32Array.from({ length: n }, (_, i) => i);
  const groups = Int32Array.from({ length: n }, (_, i) => i % 2);
  return new arrow.Table({
    id: arrow.makeVector(ids),
    vector: arrow.makeVector(vectors),
    grp: arrow.makeVector(groups),
  });
}

export async function benchSearch(options: BenchSearchOptions = {}): Promise<Record<string, unknown>> {
  const n = options.n ?? 100_000;
  const dim = options.dim ?? 384;
  const queryCount = options.queries ?? 100;
  const { data, queries } = clusteredDataset(n, dim, queryCount);
  const query = (i: number): Float32Array => queries.slice(i * dim, (i + 1) * dim);

  const directory = await mkdtemp(join(tmpdir(), 'bench-search-'));
  try {
    // The embedded engine, fed through its write path (log + fsync per batch of 1000).
    const ingestStarted = performance.now();
    const engine = await QdrantEngine.open({ dataDir: join(directory, 'qdrant') });
    await engine.createCollection('bench', { vectors: { single: { size: dim, distance: 'Cosine' } } });
    const collection = engine.collection('bench');
    for (let start = 0; start < n; start += 1000) {
      const points = [];
      for (let id = start; id < Math.min(n, start + 1000); id++) {
        points.push({ id, vector: data.subarray(id * dim, (id + 1) * dim), payload: { grp: id % 2 } });
      }
      await collection.upsert(points);
    }
    const engineIngestMs = performance.now() - ingestStarted;
    const engineTop: number[][] = [];
    const engineQuery = (i: number, filtered: boolean): number[] =>
      collection
        .query({
          nearest: query(i),
          filter: filtered ? (point) => point.payload.grp === 0 : null,
          limit: TOP,
          offset: 0,
          withPayload: false,
          withVector: false,
        })
        .map((point) => point.id as number);
    const engineTimes = await timeEach(queryCount, (i) => {
      engineTop[i] = engineQuery(i, false);
    });

    // usearch exactSearch on the same rows (unit vectors: inner product = cosine), one thread.
    const usearch = createRequire(import.meta.url)('usearch') as {
      exactSearch: (
        d: Float32Array,
        q: Float32Array,
        dim: number,
        k: number,
        metric: string,
        threads: number,
      ) => {
        keys: BigUint64Array;
      };
    };
    const usearchTop: number[][] = [];
    const usearchTimes = await timeEach(queryCount, (i) => {
      usearchTop[i] = [...usearch.exactSearch(data, query(i), dim, TOP, 'ip', 1).keys].map(Number);
    });
    const recall = engineTop.reduce((sum, top, i) => sum + overlap(top, usearchTop[i]!), 0) / queryCount;

    // Filtered: half of the points (grp = 0), checked against brute force.
    const filteredTop: number[][] = [];
    const engineFilteredTimes = await timeEach(queryCount, (i) => {
      filteredTop[i] = engineQuery(i, true);
    });
    const filteredRecall =
      filteredTop.reduce(
        (sum, top, i) =>
          sum +
          overlap(
            top,
            bruteForce(data, dim, query(i), (row) => row % 2 === 0),
          ),
        0,
      ) / queryCount;
    await engine.close();

    // LanceDB flat search (no index: brute force), same data.
    const lanceIngestStarted = performance.now();
    const db = await lancedb.connect(join(directory, 'lance'));
    const table = await db.createTable('bench', lanceTable(data, n, dim));
    const lanceIngestMs = performance.now() - lanceIngestStarted;
    const lanceTimes = await timeEach(queryCount, (i) =>
      table.query().nearestTo(query(i)).distanceType('cosine').limit(TOP).toArray(),
    );
    const lanceFilteredTimes = await timeEach(queryCount, (i) =>
      table.query().nearestTo(query(i)).distanceType('cosine').where('grp = 0').limit(TOP).toArray(),
    );
    table.close();
    db.close();

    const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
    return {
      data: { n, dim, queries: queryCount, clusters: CLUSTERS, top: TOP, metric: 'Cosine' },
      engineKernel:
        loadExactSearch() === null ? 'plain JS (usearch unavailable)' : 'usearch exactSearch, 1 thread',
      ingestMs: { engine: Math.round(engineIngestMs), lancedb: Math.round(lanceIngestMs) },
      engineMs: engineTimes,
      usearchExactMs: usearchTimes,
      lancedbFlatMs: lanceTimes,
      engineVsUsearchP50: ratio(engineTimes.p50, usearchTimes.p50),
      lancedbVsEngineP50: ratio(lanceTimes.p50, engineTimes.p50),
      recallVsUsearch: recall,
      filtered: {
        keeps: 0.5,
        engineMs: engineFilteredTimes,
        lancedbFlatMs: lanceFilteredTimes,
        lancedbVsEngineP50: ratio(lanceFilteredTimes.p50, engineFilteredTimes.p50),
        recallVsBruteForce: filteredRecall,
      },
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [n, dim, queries] = process.argv.slice(2).map(Number);
  const result = await benchSearch({
    ...(n ? { n } : {}),
    ...(dim ? { dim } : {}),
    ...(queries ? { queries } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
