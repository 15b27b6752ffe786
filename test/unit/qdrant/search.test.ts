import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Collection, shortestFloat32 } from '#local/qdrant/collection.ts';
import { QdrantEngine } from '#local/qdrant/engine.ts';
import type { SearchKernel } from '#local/qdrant/kernels.ts';
import { gaussianVector, type Metric, prng, referenceSearch, tempDir } from './harness.ts';

const METRICS: Metric[] = ['Cosine', 'Dot', 'Euclid', 'Manhattan'];
const KERNELS: SearchKernel[] = ['js', 'native', 'auto'];

let dir: Awaited<ReturnType<typeof tempDir>>;
const engines = new Map<SearchKernel, QdrantEngine>();
let seq = 0;

beforeAll(async () => {
  dir = await tempDir();
  for (const kernel of KERNELS)
    engines.set(kernel, await QdrantEngine.open({ dataDir: `${dir.path}/${kernel}`, kernel }));
});

afterAll(async () => {
  for (const engine of engines.values()) await engine.close();
  await dir.cleanup();
});

async function collectionWith(
  kernel: SearchKernel,
  metric: Metric,
  points: { id: number | string; vector: number[]; payload?: Record<string, unknown> }[],
  dim: number,
): Promise<Collection> {
  const engine = engines.get(kernel)!;
  const name = `c${seq++}`;
  await engine.createCollection(name, { vectors: { single: { size: dim, distance: metric } } });
  const collection = engine.collection(name);
  for (let i = 0; i < points.length; i += 500) {
    await collection.upsert(
      points.slice(i, i + 500).map((p) => ({ id: p.id, vector: p.vector, payload: p.payload ?? {} })),
    );
  }
  return collection;
}

function run(
  collection: Collection,
  query: number[],
  options: { limit: number; offset?: number; threshold?: number; keep?: (id: number | string) => boolean },
) {
  return collection
    .query({
      nearest: query,
      filter: options.keep === undefined ? null : (point) => options.keep!(point.id),
      limit: options.limit,
      offset: options.offset ?? 0,
      ...(options.threshold === undefined ? {} : { scoreThreshold: options.threshold }),
      withPayload: false,
      withVector: false,
    })
    .map((p) => ({ id: p.id, score: Math.fround(p.score) }));
}

describe('exact search equals the brute-force reference', () => {
  // `auto` only takes the native kernel on collections of at least 65 536 floats.
  const sizes: Record<SearchKernel, { n: number; dim: number }> = {
    js: { n: 700, dim: 24 },
    native: { n: 700, dim: 24 },
    auto: { n: 2600, dim: 32 },
  };

  for (const kernel of KERNELS) {
    for (const metric of METRICS) {
      it(`${metric}, ${kernel} kernel: limit, offset, threshold and filters`, async () => {
        const { n, dim } = sizes[kernel];
        const random = prng(metric.length * 31 + kernel.length);
        // Integer ids shuffled, so that row order and id order differ; a few UUIDs.
        const points = Array.from({ length: n }, (_, i) => ({
          id: i % 50 === 7 ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : (i * 7919) % 100_003,
          vector: gaussianVector(random, dim).map((x) => x * (metric === 'Dot' ? 1 + random() : 1)),
        }));
        const collection = await collectionWith(kernel, metric, points, dim);
        const keepHalf = (id: number | string) => typeof id === 'string' || id % 2 === 0;
        const keepFew = (id: number | string) => typeof id === 'number' && id % 23 === 0;
        for (let q = 0; q < 4; q++) {
          const query = gaussianVector(random, dim);
          const all = referenceSearch(metric, points, query, { limit: n });
          const median = all[Math.floor(n / 50)]!.score;
          const cases = [
            { limit: 10 },
            { limit: 7, offset: 13 },
            { limit: 25, threshold: median },
            { limit: 10, keep: keepHalf },
            { limit: 5, offset: 3, keep: keepFew },
            { limit: n + 5, keep: keepFew, threshold: median },
          ];
          for (const options of cases) {
            const expected = referenceSearch(metric, points, query, options);
            const actual = run(collection, query, options);
            expect(actual.map((p) => p.id)).toEqual(expected.map((p) => p.id));
            actual.forEach((p, i) => {
              expect(p.score).toBeCloseTo(expected[i]!.score, 4);
            });
          }
        }
      });
    }
  }

  it('breaks exact ties by point id, numbers before UUIDs, through every kernel', async () => {
    const dim = 8;
    const same = [0.5, -1, 2, 0, 1, 1, -0.25, 3];
    const ids: (number | string)[] = [
      'ffffffff-0000-4000-8000-000000000000',
      900,
      5,
      '00000000-0000-4000-8000-000000000001',
      ...Array.from({ length: 300 }, (_, i) => 1000 + ((i * 37) % 300)),
    ];
    for (const kernel of KERNELS) {
      const collection = await collectionWith(
        kernel,
        'Cosine',
        ids.map((id) => ({ id, vector: same })),
        dim,
      );
      const top = run(collection, same, { limit: 6 }).map((p) => p.id);
      expect(top).toEqual([5, 900, 1000, 1001, 1002, 1003]);
      const tail = run(collection, same, { limit: 3, offset: ids.length - 3 }).map((p) => p.id);
      expect(tail).toEqual([
        1299,
        '00000000-0000-4000-8000-000000000001',
        'ffffffff-0000-4000-8000-000000000000',
      ]);
    }
  });

  it('never returns deleted points, and rows moved by deletions keep their vectors', async () => {
    const random = prng(5);
    const dim = 12;
    const points = Array.from({ length: 400 }, (_, id) => ({ id, vector: gaussianVector(random, dim) }));
    for (const kernel of KERNELS) {
      const collection = await collectionWith(kernel, 'Euclid', points, dim);
      const deleted = new Set(points.filter((p) => p.id % 3 === 0).map((p) => p.id));
      await collection.deletePoints({ ids: [...deleted] });
      const remaining = points.filter((p) => !deleted.has(p.id));
      for (const point of points.slice(0, 30)) {
        const expected = referenceSearch('Euclid', remaining, point.vector, { limit: 5 });
        expect(run(collection, point.vector, { limit: 5 })).toEqual(expected);
      }
      expect(collection.pointsCount).toBe(remaining.length);
    }
  });
});

describe('property: integer vectors (exact arithmetic, many ties)', () => {
  const metricArb = fc.constantFrom<Metric>('Dot', 'Euclid', 'Manhattan');
  const smallVector = (dim: number) =>
    fc.array(fc.integer({ min: -3, max: 3 }), { minLength: dim, maxLength: dim });

  for (const kernel of ['js', 'native'] as const) {
    it(`${kernel} kernel ranks exactly like the reference`, async () => {
      await fc.assert(
        fc.asyncProperty(
          metricArb,
          fc.integer({ min: 1, max: 6 }).chain((dim) =>
            fc.record({
              dim: fc.constant(dim),
              vectors: fc.array(smallVector(dim), { minLength: 1, maxLength: 60 }),
              query: smallVector(dim),
              limit: fc.integer({ min: 1, max: 70 }),
              offset: fc.integer({ min: 0, max: 10 }),
              keepModulo: fc.integer({ min: 1, max: 4 }),
              thresholdAt: fc.option(fc.nat(60)),
            }),
          ),
          async (metric, { dim, vectors, query, limit, offset, keepModulo, thresholdAt }) => {
            const points = vectors.map((vector, i) => ({ id: (i * 13) % 61, vector }));
            const unique = [...new Map(points.map((p) => [p.id, p])).values()];
            const collection = await collectionWith(kernel, metric, unique, dim);
            const keep = (id: number | string) => (id as number) % keepModulo === 0;
            const all = referenceSearch(metric, unique, query, { limit: unique.length });
            const threshold = thresholdAt === null ? undefined : all[thresholdAt % all.length]!.score;
            const options = { limit, offset, keep, ...(threshold === undefined ? {} : { threshold }) };
            expect(run(collection, query, options)).toEqual(referenceSearch(metric, unique, query, options));
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe('shortestFloat32 (how vectors and scores are printed)', () => {
  it('gives the shortest decimal that reads back as the same float32', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
        const value = Math.fround(f);
        const shortest = shortestFloat32(value);
        expect(Math.fround(shortest)).toBe(value);
        if (Number.isInteger(value)) return;
        let fewest = 9;
        for (let digits = 1; digits <= 9; digits++) {
          if (Math.fround(Number(value.toPrecision(digits))) === value) {
            fewest = digits;
            break;
          }
        }
        expect(shortest).toBe(Number(value.toPrecision(fewest)));
      }),
      { numRuns: 2000 },
    );
    expect(shortestFloat32(Math.fround(0.1))).toBe(0.1);
    expect(shortestFloat32(Math.fround(0.6))).toBe(0.6);
  });
});
