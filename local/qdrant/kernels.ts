import { createRequire } from 'node:module';
import { comparePointIds, type PointId } from './ids.ts';

/**
 * Distance functions with Qdrant's semantics, and exact top-k search over a contiguous
 * Float32Array of rows.
 *
 * Every candidate is ranked by an "internal" score where bigger is better (Qdrant's own
 * convention): the dot product for Cosine and Dot, minus the squared L2 distance for Euclid,
 * minus the L1 distance for Manhattan. That internal score is computed in float64 over the
 * stored float32 values by one function per metric, and ties are broken by point id, so the
 * ranking is a pure function of the data: the SIMD kernel below only proposes candidates.
 */

export const DISTANCES = ['Cosine', 'Euclid', 'Dot', 'Manhattan'] as const;
export type Distance = (typeof DISTANCES)[number];

const F32_EPSILON = 1.1920929e-7;

/**
 * Turns a vector into its stored (or query) form. Cosine vectors are normalized, as Qdrant does
 * at insert and query time; a vector shorter than f32::EPSILON is kept as it is (Qdrant too).
 */
export function preprocessVector(distance: Distance, values: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(values);
  if (distance !== 'Cosine') return out;
  let sum = 0;
  for (let i = 0; i < out.length; i++) sum += out[i]! * out[i]!;
  const length = Math.sqrt(sum);
  if (length < F32_EPSILON) return out;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / length;
  return out;
}

export function vectorNorm(values: ArrayLike<number>, offset = 0, dim = values.length): number {
  let sum = 0;
  for (let i = 0; i < dim; i++) sum += values[offset + i]! * values[offset + i]!;
  return Math.sqrt(sum);
}

type RowScorer = (rows: Float32Array, offset: number, query: Float32Array, dim: number) => number;

function dotScore(rows: Float32Array, offset: number, query: Float32Array, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < dim; i += 4) {
    s0 += rows[offset + i]! * query[i]!;
    s1 += rows[offset + i + 1]! * query[i + 1]!;
    s2 += rows[offset + i + 2]! * query[i + 2]!;
    s3 += rows[offset + i + 3]! * query[i + 3]!;
  }
  for (; i < dim; i++) s0 += rows[offset + i]! * query[i]!;
  return s0 + s1 + s2 + s3;
}

function negSquaredL2Score(rows: Float32Array, offset: number, query: Float32Array, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let i = 0;
  for (; i + 1 < dim; i += 2) {
    const d0 = rows[offset + i]! - query[i]!;
    const d1 = rows[offset + i + 1]! - query[i + 1]!;
    s0 += d0 * d0;
    s1 += d1 * d1;
  }
  for (; i < dim; i++) {
    const d = rows[offset + i]! - query[i]!;
    s0 += d * d;
  }
  return -(s0 + s1);
}

function negL1Score(rows: Float32Array, offset: number, query: Float32Array, dim: number): number {
  let s = 0;
  for (let i = 0; i < dim; i++) s += Math.abs(rows[offset + i]! - query[i]!);
  return -s;
}

const SCORERS: Record<Distance, RowScorer> = {
  Cosine: dotScore,
  Dot: dotScore,
  Euclid: negSquaredL2Score,
  Manhattan: negL1Score,
};

/** The score Qdrant reports (a float32): similarity for Cosine/Dot, a distance for Euclid/Manhattan. */
export function reportedScore(distance: Distance, internal: number): number {
  switch (distance) {
    case 'Euclid':
      return Math.fround(Math.sqrt(Math.max(0, -internal)));
    case 'Manhattan':
      return Math.fround(-internal);
    default:
      return Math.fround(internal);
  }
}

/** Qdrant's score_threshold: a lower bound for similarities, an upper bound for distances (inclusive). */
export function passesThreshold(distance: Distance, reported: number, threshold: number): boolean {
  const limit = Math.fround(threshold);
  return distance === 'Euclid' || distance === 'Manhattan' ? reported <= limit : reported >= limit;
}

export interface ScoredRow {
  row: number;
  /** Internal score, bigger is better. */
  score: number;
}

export type SearchKernel = 'auto' | 'js' | 'native';

export interface SearchInput {
  distance: Distance;
  /** Rows of `dim` floats; row i starts at i * dim. Must not be a view with a byte offset. */
  rows: Float32Array;
  count: number;
  dim: number;
  /** Query in stored form (see preprocessVector). */
  query: Float32Array;
  /** How many best rows are wanted (offset + limit). */
  need: number;
  /** Rows allowed by the filter (1 = allowed), or null for all rows. */
  accept: Uint8Array | null;
  acceptCount: number;
  idOf: (row: number) => PointId;
  /** Upper bound of the L2 norm of every row (bounds the SIMD kernel's rounding error). */
  maxRowNorm: number;
  kernel: SearchKernel;
  threads: number;
}

/** Best first: higher internal score, then smaller point id. */
function compareScored(a: ScoredRow, b: ScoredRow, idOf: (row: number) => PointId): number {
  if (a.score !== b.score) return a.score > b.score ? -1 : 1;
  return comparePointIds(idOf(a.row), idOf(b.row));
}

/** Exact top-`need` rows, best first. */
export function searchRows(input: SearchInput): ScoredRow[] {
  const { count, need, accept, acceptCount } = input;
  if (count === 0 || need <= 0 || (accept !== null && acceptCount === 0)) return [];
  if (useNative(input)) {
    const found = nativeSearch(input);
    if (found !== undefined) return found;
  }
  return scanSearch(input);
}

function useNative(input: SearchInput): boolean {
  if (input.kernel === 'js' || input.distance === 'Manhattan' || loadExactSearch() === null) return false;
  if (input.kernel === 'native') return true;
  // Below this size the plain scan is as fast as a native call; with a selective filter,
  // scanning only the accepted rows is cheaper than a wide native search.
  const selective = input.accept !== null && input.acceptCount * 6 < input.count;
  return input.count * input.dim >= 65_536 && !selective;
}

/** Plain scan of the accepted rows with a bounded heap (worst kept row at the root). */
function scanSearch(input: SearchInput): ScoredRow[] {
  const { distance, rows, count, dim, query, need, accept, idOf } = input;
  const scorer = SCORERS[distance];
  const heapRows: number[] = [];
  const heapScores: number[] = [];
  // a is worse than b
  const worse = (sa: number, ra: number, sb: number, rb: number): boolean =>
    sa < sb || (sa === sb && comparePointIds(idOf(ra), idOf(rb)) > 0);
  for (let row = 0; row < count; row++) {
    if (accept !== null && accept[row] === 0) continue;
    const score = scorer(rows, row * dim, query, dim);
    if (heapRows.length < need) {
      // sift up
      let i = heapRows.length;
      heapRows.push(row);
      heapScores.push(score);
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(heapScores[i]!, heapRows[i]!, heapScores[parent]!, heapRows[parent]!)) break;
        swap(heapRows, heapScores, i, parent);
        i = parent;
      }
      continue;
    }
    if (!worse(heapScores[0]!, heapRows[0]!, score, row)) continue;
    heapRows[0] = row;
    heapScores[0] = score;
    // sift down
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let worst = i;
      if (
        left < heapRows.length &&
        worse(heapScores[left]!, heapRows[left]!, heapScores[worst]!, heapRows[worst]!)
      )
        worst = left;
      if (
        right < heapRows.length &&
        worse(heapScores[right]!, heapRows[right]!, heapScores[worst]!, heapRows[worst]!)
      )
        worst = right;
      if (worst === i) break;
      swap(heapRows, heapScores, i, worst);
      i = worst;
    }
  }
  const out = heapRows.map((row, i) => ({ row, score: heapScores[i]! }));
  return out.sort((a, b) => compareScored(a, b, idOf));
}

function swap(rows: number[], scores: number[], i: number, j: number): void {
  const r = rows[i]!;
  rows[i] = rows[j]!;
  rows[j] = r;
  const s = scores[i]!;
  scores[i] = scores[j]!;
  scores[j] = s;
}

type ExactSearchFn = (
  dataset: Float32Array,
  queries: Float32Array,
  dimensions: number,
  count: number,
  metric: string,
  threads: number,
) => { keys: BigUint64Array; distances: Float32Array };

let exactSearchFn: ExactSearchFn | null | undefined;

/**
 * usearch's native exact search (SIMD). Loaded through `require`: its ESM entry recurses
 * forever while locating the prebuilt binary. When it cannot load, searches use the plain scan.
 */
export function loadExactSearch(): ExactSearchFn | null {
  if (exactSearchFn === undefined) {
    try {
      const usearch = createRequire(import.meta.url)('usearch') as { exactSearch?: ExactSearchFn };
      exactSearchFn = typeof usearch.exactSearch === 'function' ? usearch.exactSearch : null;
    } catch {
      exactSearchFn = null;
    }
  }
  return exactSearchFn;
}

const UNIT_ROUNDOFF = 2 ** -24;

/**
 * The native kernel proposes the k rows with the smallest float32 distances; they are re-scored
 * exactly and the result is accepted only when no row outside the candidates can beat the
 * last wanted one, given a rigorous bound on the kernel's float32 rounding error (any summation
 * order). Otherwise k grows, and as a last resort the caller scans. Returns undefined to ask
 * for the scan.
 */
function nativeSearch(input: SearchInput): ScoredRow[] | undefined {
  const exactSearch = loadExactSearch()!;
  const { distance, rows, count, dim, query, need, accept, acceptCount, idOf } = input;
  const metric = distance === 'Euclid' ? 'l2sq' : 'ip';
  const scorer = SCORERS[distance];
  // exactSearch reads the underlying buffer from its start: the view must start at byte 0.
  const dataset = rows.byteOffset === 0 ? rows.subarray(0, count * dim) : rows.slice(0, count * dim);
  const queryNorm = vectorNorm(query);
  // Far from float32's range the kernel could overflow, and its error bound would not hold.
  if (!(queryNorm < 1e15 && input.maxRowNorm < 1e15)) return undefined;
  const gamma = 4 * (dim + 2) * UNIT_ROUNDOFF;
  const errorBound =
    metric === 'ip'
      ? gamma * queryNorm * input.maxRowNorm + 4 * UNIT_ROUNDOFF * (1 + queryNorm * input.maxRowNorm)
      : gamma * (queryNorm + input.maxRowNorm) ** 2;
  const widen = accept === null ? 1 : count / acceptCount;
  let k = Math.min(count, Math.ceil((need + 16) * widen * 1.25));
  for (let attempt = 0; attempt < 3; attempt++) {
    const { keys, distances } = exactSearch(dataset, query, dim, k, metric, input.threads);
    const candidates: ScoredRow[] = [];
    for (let i = 0; i < k; i++) {
      const row = Number(keys[i]);
      if (accept !== null && accept[row] === 0) continue;
      candidates.push({ row, score: scorer(rows, row * dim, query, dim) });
    }
    candidates.sort((a, b) => compareScored(a, b, idOf));
    if (k >= count) return candidates.slice(0, need);
    const last = distances[k - 1]!;
    if (candidates.length >= need && Number.isFinite(last)) {
      // Best internal score any row outside the candidates could have.
      const outsideBest = metric === 'ip' ? 1 - last + errorBound : -(last - errorBound);
      if (candidates[need - 1]!.score > outsideBest) return candidates.slice(0, need);
    }
    k = Math.min(count, k * 4);
  }
  return undefined;
}
