import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/errors.ts';
import { toPointId } from '#shared/ids.ts';
import { MAX_NESTING_DEPTH, parseWith } from '#shared/validation.ts';
import {
  BatchBodySchema,
  BatchOperationSchema,
  CollectionNameSchema,
  CreateCollectionBodySchema,
  DeleteBodySchema,
  MAX_POINTS_PER_REQUEST,
  PointIdSchema,
  SearchBodySchema,
  UpsertBodySchema,
} from '#shared/vectors/schemas.ts';

function issuesOf(schema: Parameters<typeof parseWith>[0], value: unknown) {
  try {
    parseWith(schema, value, '');
  } catch (err) {
    if (err instanceof ValidationError) return err.issues;
    throw err;
  }
  return [];
}

describe('request schemas', () => {
  it('requires exactly one of vector or text per point, naming the point', () => {
    const points = [{ id: 1, vector: [1] }, { id: 2 }, { id: 3, vector: [1], text: 'x' }];
    expect(issuesOf(UpsertBodySchema, { points })).toEqual([
      { field: 'points.1', reason: 'must have exactly one of vector or text' },
      { field: 'points.2', reason: 'must have exactly one of vector or text' },
    ]);
  });

  it('names both indexes of a duplicate id, including ids that map to the same point', () => {
    const points = [
      { id: 'a', vector: [1] },
      { id: 7, vector: [1] },
      { id: 'a', vector: [1] },
      { id: '7', vector: [1] },
    ];
    expect(issuesOf(UpsertBodySchema, { points })).toEqual([
      { field: 'points.2.id', reason: 'duplicates points.0.id (same point id)' },
      { field: 'points.3.id', reason: 'duplicates points.1.id (same point id)' },
    ]);
  });

  it('refuses non-finite numbers, bad ids, blank text, the reserved payload key and unknown fields', () => {
    const issues = issuesOf(UpsertBodySchema, {
      points: [
        { id: -1, vector: [1] },
        { id: 1.5, vector: [1] },
        { id: '  ', vector: [1] },
        { id: 4, text: ' \n' },
        { id: 5, vector: [1], payload: { _original_id: 'x' } },
        { id: 6, vectors: [1] },
      ],
      wait: 'yes',
    });
    expect(issues.map((i) => i.field)).toEqual([
      'points.0.id',
      'points.1.id',
      'points.2.id',
      'points.3.text',
      'points.4.payload._original_id',
      'points.5',
      'points.5',
      'wait',
    ]);
    // JSON cannot carry Infinity, but a programmatic caller can.
    expect(
      issuesOf(UpsertBodySchema, { points: [{ id: 1, vector: [1, Number.POSITIVE_INFINITY] }] })[0]!.field,
    ).toBe('points.0.vector.1');
  });

  it('refuses ids that map to no point id, naming them, in upserts and batch upserts alike', () => {
    // The duplicate check used to map them anyway: a RangeError, answered 500.
    for (const bad of [-1, '', ' ', 1e308, 2 ** 64, 1.5, null, true, [], {}]) {
      const points = [
        { id: 1, vector: [1] },
        { id: 2, vector: [1] },
        { id: 3, vector: [1] },
      ];
      points.push({ id: bad as number, vector: [1] });
      for (const [schema, body] of [
        [UpsertBodySchema, { points }],
        [BatchOperationSchema, { type: 'upsert', points }],
      ] as const) {
        expect(
          issuesOf(schema, body).map((i) => i.field),
          JSON.stringify(bad),
        ).toEqual(['points.3.id']);
      }
    }
  });

  it('refuses vector components float32 cannot hold, naming the vector', () => {
    const FLOAT32_MAX = 3.4028234663852886e38;
    expect(
      issuesOf(UpsertBodySchema, { points: [{ id: 1, vector: [FLOAT32_MAX, -FLOAT32_MAX, 1e-50] }] }),
    ).toEqual([]);
    const [issue] = issuesOf(UpsertBodySchema, { points: [{ id: 1, vector: [0, 1e39] }] });
    expect(issue).toEqual({
      field: 'points.0.vector',
      reason: expect.stringContaining('component 1 (1e+39)'),
    });
    expect(issuesOf(SearchBodySchema, { vector: [-3.5e38] }).map((i) => i.field)).toEqual(['vector']);
    expect(issuesOf(BatchOperationSchema, { type: 'search', vector: [1e300] }).map((i) => i.field)).toEqual([
      'vector',
    ]);
  });

  it(`refuses payloads nested deeper than ${MAX_NESTING_DEPTH} levels, whatever their depth`, () => {
    /** `levels` objects and arrays, alternating, each inside the next; the outermost an object. */
    const nested = (levels: number) => {
      let value: unknown = {};
      for (let i = 1; i < levels; i++) value = (levels - i) % 2 === 1 ? { a: value } : [value];
      return value;
    };
    const fields = (levels: number) =>
      issuesOf(UpsertBodySchema, { points: [{ id: 1, vector: [1], payload: nested(levels) }] }).map(
        (i) => i.field,
      );
    expect(fields(MAX_NESTING_DEPTH)).toEqual([]);
    expect(fields(MAX_NESTING_DEPTH + 1)).toEqual(['points.0.payload']);
    // Far past any recursion limit: the check itself must not overflow the stack.
    expect(fields(200_000)).toEqual(['points.0.payload']);
  });

  it(`refuses filters nested deeper than ${MAX_NESTING_DEPTH} levels, in searches and deletes`, () => {
    /** Clauses inside clauses: each adds an object and an array. */
    const filter = (clauses: number) => {
      let value: unknown = { key: 'a', match: { value: 1 } };
      for (let i = 0; i < clauses; i++) value = { must: [value] };
      return value;
    };
    // The condition's `match` object is the deepest level: 2 per clause + 2.
    const fits = filter((MAX_NESTING_DEPTH - 2) / 2);
    expect(issuesOf(SearchBodySchema, { vector: [1], filter: fits })).toEqual([]);
    for (const deep of [filter((MAX_NESTING_DEPTH - 2) / 2 + 1), filter(100_000)]) {
      expect(issuesOf(SearchBodySchema, { vector: [1], filter: deep }).map((i) => i.field)).toEqual([
        'filter',
      ]);
      expect(issuesOf(DeleteBodySchema, { filter: deep }).map((i) => i.field)).toEqual(['filter']);
      expect(
        issuesOf(BatchOperationSchema, { type: 'search', vector: [1], filter: deep }).map((i) => i.field),
      ).toEqual(['filter']);
    }
  });

  it('bounds the points of one request', () => {
    const points = Array.from({ length: MAX_POINTS_PER_REQUEST + 1 }, (_, id) => ({ id, vector: [1] }));
    expect(issuesOf(UpsertBodySchema, { points }).map((i) => i.field)).toEqual(['points']);
  });

  it('applies search defaults and bounds', () => {
    expect(parseWith(SearchBodySchema, { text: 'x' }, '')).toEqual({
      text: 'x',
      limit: 10,
      offset: 0,
      withPayload: true,
      withVector: false,
    });
    expect(issuesOf(SearchBodySchema, { vector: [1], limit: 0 }).map((i) => i.field)).toEqual(['limit']);
    expect(issuesOf(SearchBodySchema, { vector: [1], limit: 1001, offset: -1 }).map((i) => i.field)).toEqual([
      'limit',
      'offset',
    ]);
    expect(issuesOf(SearchBodySchema, {})).toEqual([
      { field: 'vector', reason: 'give exactly one of vector or text' },
    ]);
    expect(issuesOf(SearchBodySchema, { vector: [1], filter: { must_nto: [] } })[0]!.field).toBe('filter');
  });

  it('validates collection names and creation bodies', () => {
    for (const ok of ['a', 'notes_v2', 'A-1', 'x'.repeat(255)])
      expect(CollectionNameSchema.safeParse(ok).success).toBe(true);
    for (const bad of ['', 'a b', 'a/b', 'é', 'x'.repeat(256), '../x']) {
      expect(CollectionNameSchema.safeParse(bad).success).toBe(false);
    }
    expect(parseWith(CreateCollectionBodySchema, { name: 'n' }, '')).toEqual({
      name: 'n',
      distance: 'Cosine',
    });
    expect(
      issuesOf(CreateCollectionBodySchema, { name: 'n', distance: 'cosine', vectorSize: 0 }).map(
        (i) => i.field,
      ),
    ).toEqual(['vectorSize', 'distance']);
  });

  it('requires exactly one of ids or filter to delete', () => {
    expect(issuesOf(DeleteBodySchema, {})[0]!.field).toBe('ids');
    expect(issuesOf(DeleteBodySchema, { ids: [1], filter: {} })[0]!.field).toBe('filter');
    expect(issuesOf(DeleteBodySchema, { ids: [] })[0]!.field).toBe('ids');
  });

  it('accepts any operation objects in a batch envelope, and types them one by one', () => {
    expect(issuesOf(BatchBodySchema, { operations: [{ type: 'nope' }] })).toEqual([]);
    expect(issuesOf(BatchBodySchema, { operations: [] })[0]!.field).toBe('operations');
    expect(issuesOf(BatchBodySchema, { operations: [1] })[0]!.field).toBe('operations.0');
    expect(issuesOf(BatchOperationSchema, { type: 'nope' })[0]!.field).toBe('type');
  });
});

describe('request schemas (property-based)', () => {
  const anyJson = fc.jsonValue({ maxDepth: 4 });

  it('never fail with anything but a ValidationError naming fields, whatever the input', () => {
    const schemas = [
      UpsertBodySchema,
      SearchBodySchema,
      DeleteBodySchema,
      BatchBodySchema,
      CreateCollectionBodySchema,
    ];
    fc.assert(
      fc.property(fc.constantFrom(...schemas), anyJson, (schema, value) => {
        for (const issue of issuesOf(schema, value)) {
          expect(issue.field.length).toBeGreaterThan(0);
          expect(issue.reason.length).toBeGreaterThan(0);
        }
      }),
    );
  });

  it('accept well-formed upserts whose every id maps to a Qdrant id, and report the duplicates', () => {
    const id = fc.oneof(
      fc.nat(),
      fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== ''),
      fc.uuid(),
    );
    const point = fc.record({
      id,
      vector: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 20 }), (points) => {
        const mapped = points.map((p) => toPointId(p.id).id);
        const distinct = new Set(mapped).size;
        const issues = issuesOf(UpsertBodySchema, { points });
        expect(issues).toHaveLength(points.length - distinct);
        for (const issue of issues) expect(issue.field).toMatch(/^points\.\d+\.id$/);
      }),
    );
  });

  it('answer any JSON value as an id by accepting it or naming its path, never by throwing', () => {
    const id = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom(-1, '', ' ', 1e308, 2 ** 64, Number.MAX_SAFE_INTEGER + 1, -0),
      fc.double(),
    );
    fc.assert(
      fc.property(fc.array(id, { minLength: 1, maxLength: 6 }), fc.boolean(), (ids, inBatch) => {
        const points = ids.map((value) => ({ id: value, vector: [1] }));
        const issues = inBatch
          ? issuesOf(BatchOperationSchema, { type: 'upsert', points })
          : issuesOf(UpsertBodySchema, { points });
        ids.forEach((value, i) => {
          if (PointIdSchema.safeParse(value).success) return;
          expect(issues.map((issue) => issue.field)).toContain(`points.${i}.id`);
        });
        // Valid ids draw no issue but a duplicate one.
        for (const issue of issues) expect(issue.field).toMatch(/^points\.\d+\.id$/);
      }),
    );
  });

  it('map every accepted id (the API never sends Qdrant an id it refuses)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 40 })), (raw) => {
        const parsed = PointIdSchema.safeParse(raw);
        if (!parsed.success) return;
        const { id } = toPointId(parsed.data);
        if (typeof id === 'number') expect(Number.isSafeInteger(id) && id >= 0).toBe(true);
        else expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      }),
    );
  });
});
