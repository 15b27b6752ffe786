import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileFilter,
  type FilterablePoint,
  FilterError,
  MAX_FILTER_DEPTH,
  type PointId,
} from '../../../local/qdrant/filter.ts';

type Payload = Record<string, unknown>;

function points(...payloads: Array<[PointId, Payload]>): FilterablePoint[] {
  return payloads.map(([id, payload]) => ({ id, payload }));
}

/** Ids of the points the filter keeps, in order. */
function matched(filter: unknown, pts: FilterablePoint[]): PointId[] {
  const keep = compileFilter(filter);
  return pts.filter(keep).map((p) => p.id);
}

/** Whether a single condition matches a payload. */
function holds(condition: unknown, payload: Payload, id: PointId = 1): boolean {
  return compileFilter({ must: [condition] })({ id, payload });
}

function filterError(filter: unknown): FilterError {
  try {
    compileFilter(filter);
  } catch (err) {
    if (err instanceof FilterError) return err;
    throw err;
  }
  throw new Error(`expected a FilterError for ${JSON.stringify(filter)}`);
}

// Six shops, as in Qdrant's filtering guide: two cities share colours.
const shops = points(
  [1, { city: 'Lyon', color: 'green' }],
  [2, { city: 'Lyon', color: 'red' }],
  [3, { city: 'Lyon', color: 'blue' }],
  [4, { city: 'Oslo', color: 'red' }],
  [5, { city: 'Quito', color: 'green' }],
  [6, { city: 'Quito', color: 'blue' }],
);
const inLyon = { key: 'city', match: { value: 'Lyon' } };
const isRed = { key: 'color', match: { value: 'red' } };

describe('clauses', () => {
  it('must is AND, should is OR, must_not is NOR', () => {
    expect(matched({ must: [inLyon, isRed] }, shops)).toEqual([2]);
    expect(matched({ should: [inLyon, isRed] }, shops)).toEqual([1, 2, 3, 4]);
    expect(matched({ must_not: [inLyon, isRed] }, shops)).toEqual([5, 6]);
  });

  it('combines clauses with AND and nests filters as conditions', () => {
    expect(matched({ must: [inLyon], must_not: [isRed] }, shops)).toEqual([1, 3]);
    expect(matched({ must_not: [{ must: [inLyon, isRed] }] }, shops)).toEqual([1, 3, 4, 5, 6]);
    expect(
      matched({ should: [{ must: [inLyon, isRed] }, { key: 'city', match: { value: 'Quito' } }] }, shops),
    ).toEqual([2, 5, 6]);
  });

  it('accepts a single condition in place of an array, and null clauses as absent', () => {
    expect(matched({ must: inLyon, must_not: isRed }, shops)).toEqual([1, 3]);
    expect(matched({ must: null, should: null, must_not: null, min_should: null }, shops)).toHaveLength(6);
  });

  it('matches everything for no filter, an empty filter, empty clauses and an empty should', () => {
    for (const filter of [
      undefined,
      null,
      {},
      { must: [] },
      { must_not: [] },
      { should: [] },
      { must: [{}] },
    ]) {
      expect(matched(filter, shops)).toHaveLength(6);
    }
  });

  it('min_should requires at least min_count of its conditions', () => {
    const isGreen = { key: 'color', match: { value: 'green' } };
    const twoOf = { min_should: { conditions: [inLyon, isRed, isGreen], min_count: 2 } };
    expect(matched(twoOf, shops)).toEqual([1, 2]);
    expect(matched({ min_should: { conditions: [inLyon, isRed], min_count: 1 } }, shops)).toEqual([
      1, 2, 3, 4,
    ]);
    expect(matched({ min_should: { conditions: [inLyon, isRed], min_count: 3 } }, shops)).toEqual([]);
    expect(matched({ min_should: { conditions: [], min_count: 1 } }, shops)).toEqual([]);
    expect(
      matched({ must: [isRed], min_should: { conditions: [inLyon, isGreen], min_count: 1 } }, shops),
    ).toEqual([2]);
  });

  it('a should with only non-matching conditions rejects', () => {
    expect(matched({ should: [{ key: 'city', match: { value: 'Lima' } }] }, shops)).toEqual([]);
  });
});

describe('match', () => {
  it('value matches keywords, integers and booleans exactly, without coercion', () => {
    const payload = { word: 'alpha', n: 7, flag: true, text: '7' };
    expect(holds({ key: 'word', match: { value: 'alpha' } }, payload)).toBe(true);
    expect(holds({ key: 'word', match: { value: 'Alpha' } }, payload)).toBe(false);
    expect(holds({ key: 'n', match: { value: 7 } }, payload)).toBe(true);
    expect(holds({ key: 'n', match: { value: '7' } }, payload)).toBe(false);
    expect(holds({ key: 'text', match: { value: 7 } }, payload)).toBe(false);
    expect(holds({ key: 'flag', match: { value: true } }, payload)).toBe(true);
    expect(holds({ key: 'flag', match: { value: 1 } }, payload)).toBe(false);
    expect(holds({ key: 'n', match: { value: true } }, payload)).toBe(false);
    expect(holds({ key: 'price', match: { value: 7 } }, { price: 7.5 })).toBe(false);
  });

  it('value matches when any element of a stored array matches, and never a missing or null field', () => {
    expect(holds({ key: 'tags', match: { value: 'b' } }, { tags: ['a', 'b'] })).toBe(true);
    expect(holds({ key: 'tags', match: { value: 'c' } }, { tags: ['a', 'b'] })).toBe(false);
    expect(holds({ key: 'tags', match: { value: 'a' } }, { tags: [['a']] })).toBe(false);
    expect(holds({ key: 'tags', match: { value: 'a' } }, {})).toBe(false);
    expect(holds({ key: 'tags', match: { value: 'a' } }, { tags: null })).toBe(false);
  });

  it('any is IN over keywords or integers, element-wise on arrays', () => {
    const cond = { key: 'color', match: { any: ['black', 'yellow'] } };
    expect(holds(cond, { color: 'black' })).toBe(true);
    expect(holds(cond, { color: ['black', 'green'] })).toBe(true);
    expect(holds(cond, { color: 'green' })).toBe(false);
    expect(holds(cond, {})).toBe(false);
    expect(holds({ key: 'n', match: { any: [1, 2] } }, { n: 2 })).toBe(true);
    expect(holds({ key: 'n', match: { any: [1, 2] } }, { n: '2' })).toBe(false);
    expect(holds({ key: 'n', match: { any: [] } }, { n: 'x' })).toBe(false);
  });

  it('except needs some stored value outside the list; missing, null and [] never match', () => {
    const cond = { key: 'color', match: { except: ['black', 'yellow'] } };
    expect(holds(cond, { color: 'green' })).toBe(true);
    expect(holds(cond, { color: ['black', 'green'] })).toBe(true);
    expect(holds(cond, { color: ['black', 'yellow'] })).toBe(false);
    expect(holds(cond, { color: 'black' })).toBe(false);
    expect(holds(cond, {})).toBe(false);
    expect(holds(cond, { color: null })).toBe(false);
    expect(holds(cond, { color: [] })).toBe(false);
  });

  it('except counts values of another type as outside the list', () => {
    expect(holds({ key: 'v', match: { except: ['a'] } }, { v: 3 })).toBe(true);
    expect(holds({ key: 'v', match: { except: [3] } }, { v: 'a' })).toBe(true);
    expect(holds({ key: 'v', match: { except: [3] } }, { v: 3.5 })).toBe(true);
    expect(holds({ key: 'v', match: { except: [3] } }, { v: 3 })).toBe(false);
    expect(holds({ key: 'v', match: { except: [] } }, { v: false })).toBe(true);
    expect(holds({ key: 'v', match: { except: ['a'] } }, { v: { a: 1 } })).toBe(true);
  });

  it('text needs every query word as a whole word, case-insensitively (word tokenizer, no text index)', () => {
    const doc = { title: 'The Quick, brown FOX jumps over the lazy dog.' };
    expect(holds({ key: 'title', match: { text: 'quick fox' } }, doc)).toBe(true);
    expect(holds({ key: 'title', match: { text: 'fox quick' } }, doc)).toBe(true);
    expect(holds({ key: 'title', match: { text: 'quick cat' } }, doc)).toBe(false);
    expect(holds({ key: 'title', match: { text: 'qui' } }, doc)).toBe(false);
    expect(holds({ key: 'title', match: { text: 'lazy-dog!' } }, doc)).toBe(true);
    expect(holds({ key: 'title', match: { text: '  ,. ' } }, doc)).toBe(false);
    expect(holds({ key: 'title', match: { text: 'fox' } }, { title: 42 })).toBe(false);
  });

  it('text_any needs one query word; phrase needs the words consecutively and in order', () => {
    expect(holds({ key: 't', match: { text_any: 'good cheap' } }, { t: 'cheap hardware' })).toBe(true);
    expect(holds({ key: 't', match: { text_any: 'good cheap' } }, { t: 'goodness only' })).toBe(false);
    expect(holds({ key: 't', match: { phrase: 'brown fox' } }, { t: 'quick brown fox' })).toBe(true);
    expect(holds({ key: 't', match: { phrase: 'fox brown' } }, { t: 'quick brown fox' })).toBe(false);
    expect(holds({ key: 't', match: { phrase: 'quick fox' } }, { t: 'quick brown fox' })).toBe(false);
    expect(holds({ key: 't', match: { phrase: 'Brown, Fox' } }, { t: ['x', 'quick brown fox'] })).toBe(true);
  });

  it('prefix is a case-sensitive starts-with on strings only', () => {
    expect(holds({ key: 'sku', match: { prefix: 'AB-' } }, { sku: 'AB-123' })).toBe(true);
    expect(holds({ key: 'sku', match: { prefix: 'ab-' } }, { sku: 'AB-123' })).toBe(false);
    expect(holds({ key: 'sku', match: { prefix: '' } }, { sku: 5 })).toBe(false);
  });
});

describe('range', () => {
  it('compares numbers with gt/gte/lt/lte, any stored element matching', () => {
    const between = { key: 'price', range: { gte: 10, lt: 20 } };
    expect(holds(between, { price: 10 })).toBe(true);
    expect(holds(between, { price: 19.99 })).toBe(true);
    expect(holds(between, { price: 20 })).toBe(false);
    expect(holds(between, { price: [5, 15] })).toBe(true);
    expect(holds(between, { price: [5, 25] })).toBe(false);
    expect(holds({ key: 'price', range: { gt: 10, lte: 20 } }, { price: 10 })).toBe(false);
    expect(holds({ key: 'price', range: { gt: 10, lte: 20 } }, { price: 20 })).toBe(true);
  });

  it('ignores non-numbers, and an empty range matches any number', () => {
    const cond = { key: 'v', range: { gte: 0 } };
    for (const v of ['5', true, null, { a: 1 }]) expect(holds(cond, { v })).toBe(false);
    expect(holds(cond, {})).toBe(false);
    expect(holds({ key: 'v', range: {} }, { v: -1e9 })).toBe(true);
    expect(holds({ key: 'v', range: {} }, { v: 'x' })).toBe(false);
  });

  it('compares RFC 3339 datetimes as instants whatever their time zone', () => {
    const february = { key: 'at', range: { gte: '2020-02-01T00:00:00Z', lt: '2020-03-01T00:00:00Z' } };
    expect(holds(february, { at: '2020-02-15T00:00:00Z' })).toBe(true);
    expect(holds(february, { at: '2020-03-01T00:30:00+01:00' })).toBe(true);
    expect(holds(february, { at: '2020-02-29T23:30:00-01:00' })).toBe(false);
    expect(holds(february, { at: '2020-03-01T00:00:00Z' })).toBe(false);
    expect(holds(february, { at: ['2019-01-01', '2020-02-10 12:00'] })).toBe(true);
    expect(holds(february, { at: '2020-02-15' })).toBe(true);
    expect(holds(february, { at: 'not a date' })).toBe(false);
    expect(holds(february, { at: '2020-02-30' })).toBe(false);
    expect(holds(february, { at: 1_581_724_800 })).toBe(false);
  });

  it('accepts the documented datetime formats and keeps microsecond precision', () => {
    const isAfter = (gt: string, at: string) => holds({ key: 'at', range: { gt } }, { at });
    expect(isAfter('2023-02-08T10:49:00Z', '2023-02-08t10:49:00.000001z')).toBe(true);
    expect(isAfter('2023-02-08T10:49:00.000001Z', '2023-02-08T10:49:00.000001Z')).toBe(false);
    expect(isAfter('2023-02-08T10:49:00', '2023-02-08T11:49:00.5+0100')).toBe(true);
    expect(isAfter('2023-02-08T10:49:00', '2023-02-08T11:48:59+01')).toBe(false);
    expect(isAfter('2023-02-08', '2023-02-08T00:00')).toBe(false);
    expect(isAfter('9999-12-31T23:59:59.999998Z', '9999-12-31T23:59:59.999999Z')).toBe(true);
    expect(isAfter('0001-01-01', '1969-12-31T23:59:59Z')).toBe(true);
  });
});

describe('values_count, is_empty, is_null', () => {
  const products = points(
    [1, { name: 'A', comments: ['Very good!', 'Excellent'] }],
    [2, { name: 'B', comments: ['meh', 'expected more', 'ok'] }],
    [3, { name: 'C', comments: 'single' }],
    [4, { name: 'D' }],
    [5, { name: 'E', comments: null }],
    [6, { name: 'F', comments: [] }],
  );

  it('values_count counts array elements, one for a scalar and zero for missing or null', () => {
    expect(matched({ must: [{ key: 'comments', values_count: { gt: 2 } }] }, products)).toEqual([2]);
    expect(matched({ must: [{ key: 'comments', values_count: { gte: 1, lte: 1 } }] }, products)).toEqual([3]);
    expect(matched({ must: [{ key: 'comments', values_count: { lt: 1 } }] }, products)).toEqual([4, 5, 6]);
  });

  it('is_empty matches missing, null and [] fields', () => {
    expect(matched({ must: [{ is_empty: { key: 'comments' } }] }, products)).toEqual([4, 5, 6]);
    expect(matched({ must_not: [{ is_empty: { key: 'comments' } }] }, products)).toEqual([1, 2, 3]);
    expect(holds({ is_empty: { key: 'v' } }, { v: [null] })).toBe(false);
    expect(holds({ is_empty: { key: 'v' } }, { v: {} })).toBe(false);
  });

  it('is_null matches a null field or an array holding a null, never a missing one', () => {
    expect(matched({ must: [{ is_null: { key: 'comments' } }] }, products)).toEqual([5]);
    expect(holds({ is_null: { key: 'v' } }, { v: [1, null] })).toBe(true);
    expect(holds({ is_null: { key: 'v' } }, { v: [] })).toBe(false);
    expect(holds({ is_null: { key: 'v' } }, { v: 0 })).toBe(false);
  });

  it('is_empty and is_null over [] paths consider every reached value', () => {
    const payload = { a: [{ b: null }, { b: 1 }] };
    expect(holds({ is_null: { key: 'a[].b' } }, payload)).toBe(true);
    expect(holds({ is_empty: { key: 'a[].b' } }, payload)).toBe(false);
    expect(holds({ is_empty: { key: 'a[].b' } }, { a: [{ b: null }, { b: [] }, {}] })).toBe(true);
    expect(holds({ is_empty: { key: 'a[].b' } }, { a: [] })).toBe(true);
  });

  it('the field-condition forms {key, is_empty|is_null: bool} agree with the condition forms', () => {
    for (const p of products) {
      const empty = holds({ is_empty: { key: 'comments' } }, p.payload);
      const isNull = holds({ is_null: { key: 'comments' } }, p.payload);
      expect(holds({ key: 'comments', is_empty: true }, p.payload)).toBe(empty);
      expect(holds({ key: 'comments', is_empty: false }, p.payload)).toBe(!empty);
      expect(holds({ key: 'comments', is_null: true }, p.payload)).toBe(isNull);
      expect(holds({ key: 'comments', is_null: false }, p.payload)).toBe(!isNull);
    }
  });
});

describe('has_id', () => {
  const uuid = '550e8400-e29b-41d4-a716-446655440000';
  const mixed = points([1, {}], [3, {}], [4, {}], [uuid, {}], ['6f1d3c5e-8b0a-5d7e-9c4f-2a1b3c4d5e6f', {}]);

  it('selects points by integer id and by UUID written in any case or form', () => {
    expect(matched({ must: [{ has_id: [1, 3, 5] }] }, mixed)).toEqual([1, 3]);
    expect(matched({ must: [{ has_id: [uuid.toUpperCase()] }] }, mixed)).toEqual([uuid]);
    expect(matched({ must: [{ has_id: [uuid.replaceAll('-', '')] }] }, mixed)).toEqual([uuid]);
    expect(matched({ must: [{ has_id: [`{${uuid}}`, `urn:uuid:${uuid}`] }] }, mixed)).toEqual([uuid]);
    expect(matched({ must_not: [{ has_id: [1, uuid] }] }, mixed)).toEqual([
      3,
      4,
      '6f1d3c5e-8b0a-5d7e-9c4f-2a1b3c4d5e6f',
    ]);
    expect(matched({ must: [{ has_id: [] }] }, mixed)).toEqual([]);
  });

  it('tolerates an uppercase point id', () => {
    expect(compileFilter({ must: { has_id: [uuid] } })({ id: uuid.toUpperCase(), payload: {} })).toBe(true);
  });

  it('refuses ids that are neither unsigned integers nor UUIDs', () => {
    for (const bad of [-1, 1.5, '1', 'not-a-uuid', null, `{${uuid}`]) {
      expect(filterError({ must: { has_id: [bad] } }).message).toMatch(
        /has_id\[0\]: expected an unsigned integer or a UUID/,
      );
    }
  });
});

describe('payload keys', () => {
  const countries = points(
    [
      1,
      {
        country: {
          name: 'Chile',
          cities: [
            { name: 'Santiago', population: 6.9, sightseeing: ['Cerro San Cristobal', 'La Moneda'] },
            { name: 'Valparaiso', population: 0.3, sightseeing: ['Ascensores'] },
          ],
        },
      },
    ],
    [
      2,
      {
        country: {
          name: 'Peru',
          cities: [
            { name: 'Lima', population: 10.1, sightseeing: ['Plaza Mayor', 'Huaca Pucllana'] },
            { name: 'Cusco', population: 0.4, sightseeing: ['Sacsayhuaman'] },
          ],
        },
      },
    ],
  );

  it('walks objects with dots and projects arrays with []', () => {
    expect(matched({ must: [{ key: 'country.name', match: { value: 'Peru' } }] }, countries)).toEqual([2]);
    expect(matched({ must: [{ key: 'country.cities[].population', range: { gt: 9 } }] }, countries)).toEqual([
      2,
    ]);
    const sight = { key: 'country.cities[].sightseeing', match: { value: 'Ascensores' } };
    expect(matched({ must: [sight] }, countries)).toEqual([1]);
  });

  it('never walks into arrays implicitly, and indexes with [n]', () => {
    expect(matched({ must: [{ key: 'country.cities.name', match: { value: 'Lima' } }] }, countries)).toEqual(
      [],
    );
    expect(
      matched({ must: [{ key: 'country.cities[0].name', match: { value: 'Lima' } }] }, countries),
    ).toEqual([2]);
    expect(
      matched({ must: [{ key: 'country.cities[1].name', match: { value: 'Lima' } }] }, countries),
    ).toEqual([]);
    expect(
      matched({ must: [{ key: 'country.cities[9].name', match: { value: 'Lima' } }] }, countries),
    ).toEqual([]);
    expect(
      holds(
        { key: 'grid[][]', match: { value: 4 } },
        {
          grid: [
            [1, 2],
            [3, 4],
          ],
        },
      ),
    ).toBe(true);
    expect(
      holds(
        { key: 'grid[][1]', match: { value: 3 } },
        {
          grid: [
            [1, 2],
            [3, 4],
          ],
        },
      ),
    ).toBe(false);
  });

  it('quotes keys holding dots or spaces, and allows unicode letters, digits, _ and -', () => {
    expect(holds({ key: 'meta."a.b"', match: { value: 1 } }, { meta: { 'a.b': 1 } })).toBe(true);
    expect(holds({ key: '"first name"', match: { value: 'Ana' } }, { 'first name': 'Ana' })).toBe(true);
    expect(holds({ key: 'crème_brûlée-2', match: { value: true } }, { 'crème_brûlée-2': true })).toBe(true);
  });

  it('sees only own payload properties, never the prototype chain', () => {
    expect(holds({ is_empty: { key: 'toString' } }, {})).toBe(true);
    expect(holds({ is_empty: { key: 'constructor' } }, {})).toBe(true);
    expect(holds({ key: '__proto__', values_count: { gt: 0 } }, {})).toBe(false);
    expect(holds({ key: 'a', match: { value: 1 } }, JSON.parse('{"__proto__": {"a": 1}}'))).toBe(false);
    expect(holds({ key: '__proto__.a', match: { value: 1 } }, JSON.parse('{"__proto__": {"a": 1}}'))).toBe(
      true,
    );
  });
});

describe('nested', () => {
  const dinosaurs = points(
    [
      1,
      {
        dinosaur: 't-rex',
        diet: [
          { food: 'leaves', likes: false },
          { food: 'meat', likes: true },
        ],
      },
    ],
    [
      2,
      {
        dinosaur: 'diplodocus',
        diet: [
          { food: 'leaves', likes: true },
          { food: 'meat', likes: false },
        ],
      },
    ],
  );
  const likesMeat = [
    { key: 'food', match: { value: 'meat' } },
    { key: 'likes', match: { value: true } },
  ];

  it('applies the filter to one array element at a time', () => {
    const flat = { must: likesMeat.map((c) => ({ ...c, key: `diet[].${c.key}` })) };
    expect(matched(flat, dinosaurs)).toEqual([1, 2]);
    expect(matched({ must: [{ nested: { key: 'diet', filter: { must: likesMeat } } }] }, dinosaurs)).toEqual([
      1,
    ]);
    expect(
      matched({ must: [{ nested: { key: 'diet[]', filter: { must: likesMeat } } }] }, dinosaurs),
    ).toEqual([1]);
  });

  it('combines with has_id outside, while has_id inside never matches', () => {
    const nested = { nested: { key: 'diet', filter: { must: likesMeat } } };
    expect(matched({ must: [nested, { has_id: [1] }] }, dinosaurs)).toEqual([1]);
    expect(
      matched({ must: [{ nested: { key: 'diet', filter: { must: [{ has_id: [1, 2] }] } } }] }, dinosaurs),
    ).toEqual([]);
  });

  it('skips non-object elements and ignores a non-array field', () => {
    const cond = { nested: { key: 'xs', filter: { must: [{ key: 'v', match: { value: 1 } }] } } };
    expect(holds(cond, { xs: [1, null, [{ v: 1 }], { v: 1 }] })).toBe(true);
    expect(holds(cond, { xs: [1, null, [{ v: 1 }]] })).toBe(false);
    expect(holds(cond, { xs: { v: 1 } })).toBe(false);
    const noV = { nested: { key: 'xs', filter: { must: [{ is_empty: { key: 'v' } }] } } };
    expect(holds(noV, { xs: [1, 'a', null, []] })).toBe(false);
    expect(holds(noV, { xs: [1, {}] })).toBe(true);
    expect(holds(cond, {})).toBe(false);
  });

  it('evaluates is_empty, must_not and nested filters relative to each element', () => {
    const payload = {
      orders: [
        { lines: [{ sku: 'a', qty: 1 }], note: 'x' },
        { lines: [{ sku: 'b', qty: 5 }], note: null },
      ],
    };
    const bigB = {
      nested: {
        key: 'lines',
        filter: {
          must: [
            { key: 'sku', match: { value: 'b' } },
            { key: 'qty', range: { gt: 2 } },
          ],
        },
      },
    };
    expect(
      holds({ nested: { key: 'orders', filter: { must: [bigB, { is_empty: { key: 'note' } }] } } }, payload),
    ).toBe(true);
    expect(
      holds(
        { nested: { key: 'orders', filter: { must: [bigB], must_not: [{ is_empty: { key: 'note' } }] } } },
        payload,
      ),
    ).toBe(false);
  });
});

describe('geo', () => {
  const berlin = { lon: 13.404954, lat: 52.520008 };
  const moscow = { lon: 37.617635, lat: 55.755814 };

  it('bounding box, also across the antimeridian', () => {
    const box = {
      key: 'loc',
      geo_bounding_box: {
        top_left: { lon: 13.08835, lat: 52.67551 },
        bottom_right: { lon: 13.76116, lat: 52.33826 },
      },
    };
    expect(holds(box, { loc: berlin })).toBe(true);
    expect(holds(box, { loc: [moscow, berlin] })).toBe(true);
    expect(holds(box, { loc: moscow })).toBe(false);
    const pacific = {
      key: 'loc',
      geo_bounding_box: { top_left: { lon: 170, lat: 10 }, bottom_right: { lon: -170, lat: -10 } },
    };
    expect(holds(pacific, { loc: { lon: 179.5, lat: 0 } })).toBe(true);
    expect(holds(pacific, { loc: { lon: -175, lat: 0 } })).toBe(true);
    expect(holds(pacific, { loc: { lon: 0, lat: 0 } })).toBe(false);
  });

  it('radius in meters (haversine)', () => {
    const near = { key: 'loc', geo_radius: { center: { lon: 13.41, lat: 52.52 }, radius: 2000 } };
    expect(holds(near, { loc: berlin })).toBe(true);
    expect(holds(near, { loc: moscow })).toBe(false);
    expect(holds({ ...near, geo_radius: { center: berlin, radius: 1_610_000 } }, { loc: moscow })).toBe(true);
    expect(holds({ ...near, geo_radius: { center: berlin, radius: 1_600_000 } }, { loc: moscow })).toBe(
      false,
    );
    expect(holds(near, { loc: { lon: '13.4', lat: 52.52 } })).toBe(false);
  });

  it('polygon with a hole: inside or on the exterior, not inside the hole', () => {
    const square = (lo: number, hi: number) => ({
      points: [
        { lon: lo, lat: lo },
        { lon: hi, lat: lo },
        { lon: hi, lat: hi },
        { lon: lo, lat: hi },
        { lon: lo, lat: lo },
      ],
    });
    const cond = { key: 'loc', geo_polygon: { exterior: square(0, 10), interiors: [square(4, 6)] } };
    expect(holds(cond, { loc: { lon: 1, lat: 1 } })).toBe(true);
    expect(holds(cond, { loc: { lon: 10, lat: 5 } })).toBe(true);
    expect(holds(cond, { loc: { lon: 5, lat: 5 } })).toBe(false);
    expect(holds(cond, { loc: { lon: 4, lat: 5 } })).toBe(true);
    expect(holds(cond, { loc: { lon: 11, lat: 5 } })).toBe(false);
  });
});

describe('invalid filters', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    [
      'a filter that is not an object',
      [inLyon],
      /^Format error in JSON body: filter: expected a filter object, got an array/,
    ],
    ['an unknown filter field', { mustnt: [] }, /filter: unknown field `mustnt`, expected one of `should`/],
    [
      'a clause that is not a condition',
      { must: 'city' },
      /filter\.must: expected a condition or an array of conditions/,
    ],
    [
      'a condition that is not an object',
      { must: [inLyon, 3] },
      /filter\.must\[1\]: expected a condition object/,
    ],
    [
      'an unknown condition',
      { should: [{ kye: 'a' }] },
      /filter\.should\[0\]: unknown condition field `kye`/,
    ],
    [
      'a field condition with no condition',
      { must: { key: 'a' } },
      /^Validation error in JSON body: \[filter\.must: At least one field condition/,
    ],
    [
      'an unknown field-condition field',
      { must: { key: 'a', mach: { value: 1 } } },
      /filter\.must: unknown field `mach`/,
    ],
    [
      'a key that is not a string',
      { must: { key: 1, match: { value: 1 } } },
      /filter\.must\.key: expected a payload key string/,
    ],
    [
      'a malformed key',
      { must: { key: 'a.[0]', match: { value: 1 } } },
      /filter\.must\.key: invalid payload key "a\.\[0\]"/,
    ],
    ['an empty key', { must: { key: '', match: { value: 1 } } }, /invalid payload key ""/],
    [
      'two match kinds',
      { must: { key: 'a', match: { value: 1, any: [1] } } },
      /filter\.must\.match: expected exactly one of value/,
    ],
    [
      'a float match value',
      { must: { key: 'a', match: { value: 1.5 } } },
      /match\.value: expected a string, an integer or a boolean, got a number \(1\.5\)/,
    ],
    [
      'a null match value',
      { must: { key: 'a', match: { value: null } } },
      /match\.value: expected a string, an integer or a boolean, got null/,
    ],
    [
      'a mixed any list',
      { must: { key: 'a', match: { any: ['x', 2] } } },
      /match\.any\[1\]: expected all strings or all integers, got a number \(2\)/,
    ],
    ['a non-list except', { must: { key: 'a', match: { except: 'x' } } }, /match\.except: expected an array/],
    ['a non-string text', { must: { key: 'a', match: { text: 3 } } }, /match\.text: expected a string/],
    [
      'mixed range bounds',
      { must: { key: 'a', range: { gt: 1, lt: '2020-01-01' } } },
      /range: range bounds must be all numbers/,
    ],
    [
      'a bad datetime bound',
      { must: { key: 'a', range: { gt: '2020-13-01' } } },
      /range\.gt: invalid date-time/,
    ],
    ['an unknown range bound', { must: { key: 'a', range: { ge: 1 } } }, /range: unknown field `ge`/],
    [
      'a negative values_count',
      { must: { key: 'a', values_count: { gt: -1 } } },
      /values_count\.gt: expected an unsigned integer/,
    ],
    [
      'a non-boolean is_empty',
      { must: { key: 'a', is_empty: 'yes' } },
      /filter\.must\.is_empty: expected a boolean/,
    ],
    [
      'an is_empty without key',
      { must: { is_empty: {} } },
      /filter\.must\.is_empty\.key: expected a payload key string/,
    ],
    ['an is_null with a string', { must: { is_null: 'a' } }, /filter\.must\.is_null: expected an object/],
    [
      'a has_id that is not a list',
      { must: { has_id: 1 } },
      /filter\.must\.has_id: expected an array of point ids/,
    ],
    [
      'a nested without filter',
      { must: { nested: { key: 'a' } } },
      /filter\.must\.nested\.filter: expected a filter object/,
    ],
    [
      'a bad condition inside nested',
      { must: { nested: { key: 'a', filter: { must: { key: 'b' } } } } },
      /\[filter\.must\.nested\.filter\.must: At least one/,
    ],
    [
      'min_count zero',
      { min_should: { conditions: [inLyon], min_count: 0 } },
      /filter\.min_should\.min_count: value 0 invalid, must be 1 or larger/,
    ],
    [
      'min_should without conditions',
      { min_should: { min_count: 1 } },
      /filter\.min_should\.conditions: expected an array/,
    ],
    [
      'an out-of-range geo point',
      { must: { key: 'l', geo_radius: { center: { lon: 0, lat: 91 }, radius: 1 } } },
      /geo_radius\.center: expected lon = 0 within \[-180;180\] and lat = 91/,
    ],
    [
      'an open polygon',
      {
        must: {
          key: 'l',
          geo_polygon: {
            exterior: {
              points: [
                { lon: 0, lat: 0 },
                { lon: 1, lat: 0 },
                { lon: 1, lat: 1 },
                { lon: 0, lat: 1 },
              ],
            },
          },
        },
      },
      /geo_polygon\.exterior: polygon invalid, the first and the last points/,
    ],
    [
      'a has_vector condition',
      { must: { has_vector: 'image' } },
      /^Wrong input: filter\.must\.has_vector: has_vector conditions are not supported/,
    ],
    ['a slice condition', { must: { slice: { total: 2, index: 0 } } }, /^Wrong input: filter\.must\.slice/],
  ];

  it.each(cases)('refuses %s, naming the offending part', (_name, filter, message) => {
    const err = filterError(filter);
    expect(err.message).toMatch(message);
    expect(err.path).toMatch(/^filter/);
  });

  it('prefixes paths with the given location', () => {
    expect(() => compileFilter({ must: 1 }, 'prefetch[0].filter')).toThrow(/prefetch\[0\]\.filter\.must: /);
  });

  it('refuses filters nested beyond the depth limit, and accepts them up to it', () => {
    const deep = (levels: number): unknown => {
      let filter: unknown = { must: [inLyon] };
      for (let i = 0; i < levels; i++)
        filter = i % 2 ? { must: [filter] } : { must: { nested: { key: 'x', filter } } };
      return filter;
    };
    expect(() => compileFilter(deep(MAX_FILTER_DEPTH))).not.toThrow();
    expect(filterError(deep(MAX_FILTER_DEPTH + 1)).message).toMatch(/nested too deeply/);
    expect(filterError(deep(10_000)).message).toMatch(/nested too deeply/);
  });
});

/* ------------------------------------------------------------------------------------------------
 * Property-based tests
 * --------------------------------------------------------------------------------------------- */

const KEYS = ['a', 'b', 'c.d', 'e[].f', 'e[]', 'g[0]', '"h.i"'];
const scalar = fc.oneof(
  fc.constantFrom('x', 'y', 'Z z', ''),
  fc.integer({ min: -3, max: 3 }),
  fc.boolean(),
  fc.constant(null),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -5, max: 5 }),
);
const storedValue = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }));
const payloadArb: fc.Arbitrary<Payload> = fc.record(
  {
    a: storedValue,
    b: storedValue,
    c: fc.oneof(fc.record({ d: storedValue }, { requiredKeys: [] }), storedValue),
    e: fc.oneof(fc.array(fc.record({ f: storedValue }, { requiredKeys: [] }), { maxLength: 3 }), storedValue),
    g: fc.array(storedValue, { maxLength: 2 }),
    'h.i': storedValue,
  },
  { requiredKeys: [] },
);
const pointArb = fc.record({
  id: fc.integer({ min: 0, max: 5 }) as fc.Arbitrary<PointId>,
  payload: payloadArb,
});

const key = fc.constantFrom(...KEYS);
const keyword = fc.constantFrom('x', 'y', 'Z z', '');
const smallInt = fc.integer({ min: -3, max: 3 });
const bound = fc.option(fc.integer({ min: -4, max: 4 }), { nil: undefined });

const leafCondition: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ key, match: fc.record({ value: fc.oneof(keyword, smallInt, fc.boolean()) }) }),
  fc.record({
    key,
    match: fc.oneof(fc.record({ any: fc.array(keyword) }), fc.record({ any: fc.array(smallInt) })),
  }),
  fc.record({
    key,
    match: fc.oneof(fc.record({ except: fc.array(keyword) }), fc.record({ except: fc.array(smallInt) })),
  }),
  fc.record({ key, match: fc.record({ text: keyword }) }),
  fc.record({ key, range: fc.record({ gt: bound, lte: bound }, { requiredKeys: [] }) }),
  fc.record({ key, values_count: fc.record({ gte: fc.nat(3), lt: fc.nat(4) }, { requiredKeys: [] }) }),
  fc.record({ is_empty: fc.record({ key }) }),
  fc.record({ is_null: fc.record({ key }) }),
  fc.record({ key, is_empty: fc.boolean() }),
  fc.record({ has_id: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }) }),
);
const conditionArb: fc.Arbitrary<unknown> = fc.letrec<{ condition: unknown; filter: unknown }>((tie) => ({
  condition: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafCondition,
    tie('filter'),
    fc.record({ nested: fc.record({ key: fc.constantFrom('e', 'e[]'), filter: tie('filter') }) }),
  ),
  filter: fc.record(
    {
      must: fc.array(tie('condition'), { maxLength: 3 }),
      should: fc.array(tie('condition'), { maxLength: 3 }),
      must_not: fc.array(tie('condition'), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  ),
})).condition;

/** Filters that are mostly well-formed, with arbitrary JSON spliced in at every level. */
const junk = fc.jsonValue({ maxDepth: 2 });
const fuzzFilter: fc.Arbitrary<unknown> = fc.letrec<{ filter: unknown; condition: unknown }>((tie) => ({
  filter: fc.oneof(
    { depthSize: 'small' },
    junk,
    fc.dictionary(
      fc.constantFrom('must', 'should', 'must_not', 'min_should', 'other'),
      fc.oneof(tie('condition'), fc.array(tie('condition'), { maxLength: 3 }), junk),
      { maxKeys: 3 },
    ),
    fc.record({
      min_should: fc.record({
        conditions: fc.array(tie('condition'), { maxLength: 3 }),
        min_count: fc.oneof(fc.nat(4), junk),
      }),
    }),
  ),
  condition: fc.oneof(
    { depthSize: 'small' },
    leafCondition,
    junk,
    tie('filter'),
    fc.record({ nested: fc.record({ key: fc.oneof(key, junk), filter: tie('filter') }) }),
    fc.dictionary(
      fc.constantFrom(
        'key',
        'match',
        'range',
        'values_count',
        'is_empty',
        'is_null',
        'has_id',
        'geo_radius',
        'geo_bounding_box',
        'geo_polygon',
      ),
      fc.oneof(
        junk,
        key,
        fc.dictionary(
          fc.constantFrom(
            'value',
            'any',
            'except',
            'text',
            'text_any',
            'phrase',
            'prefix',
            'gt',
            'lte',
            'center',
            'radius',
            'key',
          ),
          junk,
          { maxKeys: 2 },
        ),
      ),
      { maxKeys: 3 },
    ),
  ),
})).filter;

const weirdPayload = fc.oneof(
  payloadArb,
  fc.dictionary(
    fc.constantFrom(...KEYS, 'e', 'c', 'g', '__proto__', 'toString'),
    fc.anything({
      maxDepth: 3,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withSparseArray: true,
      withTypedArray: true,
      withObjectString: true,
    }),
  ),
  fc.anything({ maxDepth: 2, withNullPrototype: true }) as fc.Arbitrary<Payload>,
);

describe('properties', () => {
  it('compileFilter only ever throws FilterError, and its predicate never throws on any payload', () => {
    fc.assert(
      fc.property(fuzzFilter, fc.array(weirdPayload, { maxLength: 4 }), (filter, payloads) => {
        let predicate: ReturnType<typeof compileFilter>;
        try {
          predicate = compileFilter(filter);
        } catch (err) {
          expect(err).toBeInstanceOf(FilterError);
          expect((err as Error).message).toMatch(
            /^(Format error in JSON body|Validation error in JSON body|Wrong input): /,
          );
          return;
        }
        for (const payload of payloads) {
          expect(typeof predicate({ id: 1, payload })).toBe('boolean');
          expect(typeof predicate({ id: '550e8400-e29b-41d4-a716-446655440000', payload })).toBe('boolean');
        }
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary JSON is either a filter or a FilterError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (json) => {
        try {
          compileFilter(json);
        } catch (err) {
          expect(err).toBeInstanceOf(FilterError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('generated well-formed filters always compile', () => {
    fc.assert(
      fc.property(conditionArb, (c) => {
        compileFilter({ must: [c] });
      }),
      { numRuns: 200 },
    );
  });

  it('orders datetimes written in any documented form like the instants they denote', () => {
    // An instant (ms) written at a UTC offset (minutes), in one of the documented layouts.
    const written = fc.record({
      ms: fc.integer({ min: Date.UTC(100, 0, 1), max: Date.UTC(9900, 0, 1) }),
      offset: fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      layout: fc.constantFrom('Z', 'z', '+HH:MM', '+HHMM', 'none', 'space'),
    });
    const format = ({ ms, offset, layout }: { ms: number; offset: number; layout: string }): string => {
      const utc = layout === 'none' || layout === 'space' || layout === 'Z' || layout === 'z';
      const local = new Date(ms + (utc ? 0 : offset) * 60_000).toISOString().slice(0, 23);
      const sign = offset < 0 ? '-' : '+';
      const hh = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
      const mm = String(Math.abs(offset) % 60).padStart(2, '0');
      if (layout === 'space') return local.replace('T', ' ');
      if (layout === 'none') return local;
      if (layout === 'Z' || layout === 'z') return `${local}${layout}`;
      return `${local}${sign}${hh}${layout === '+HH:MM' ? ':' : ''}${mm}`;
    };
    fc.assert(
      fc.property(written, written, (bound, stored) => {
        const [b, v] = [format(bound), format(stored)];
        expect(holds({ key: 't', range: { lt: b } }, { t: v }), `${v} < ${b}`).toBe(stored.ms < bound.ms);
        expect(holds({ key: 't', range: { gte: b } }, { t: v }), `${v} >= ${b}`).toBe(stored.ms >= bound.ms);
      }),
      { numRuns: 300 },
    );
  });

  it('obeys the boolean laws of the clauses', () => {
    fc.assert(
      fc.property(
        conditionArb,
        conditionArb,
        fc.array(pointArb, { minLength: 1, maxLength: 5 }),
        (a, b, pts) => {
          const A = compileFilter({ must: [a] });
          const B = compileFilter({ must: [b] });
          const laws: Array<[unknown, (p: FilterablePoint) => boolean]> = [
            [{ must: a }, A],
            [{ must: [{ must: [a] }] }, A],
            [{ must_not: [a] }, (p) => !A(p)],
            [{ must_not: [{ must_not: [a] }] }, A],
            [{ should: [a] }, A],
            [{ should: [a, b] }, (p) => A(p) || B(p)],
            [{ must: [a, b] }, (p) => A(p) && B(p)],
            [{ must_not: [a, b] }, (p) => !A(p) && !B(p)],
            [{ min_should: { conditions: [a, b], min_count: 1 } }, (p) => A(p) || B(p)],
            [{ min_should: { conditions: [a, b], min_count: 2 } }, (p) => A(p) && B(p)],
            [{ must: [a], should: [b] }, (p) => A(p) && B(p)],
          ];
          for (const [filter, expected] of laws) {
            const predicate = compileFilter(filter);
            for (const p of pts)
              expect(predicate(p), JSON.stringify({ filter, payload: p.payload })).toBe(expected(p));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

/* ------------------------------------------------------------------------------------------------
 * Coverage of Qdrant's published schema
 * --------------------------------------------------------------------------------------------- */

const OPENAPI = new URL('../../../../shared/reference/qdrant-openapi.json', import.meta.url);

describe.skipIf(!existsSync(OPENAPI))('Qdrant 1.19 OpenAPI Filter schema (reference)', () => {
  interface Schema {
    anyOf?: Array<{ $ref?: string }>;
    required?: string[];
    properties?: Record<string, unknown>;
  }
  const schemas = (
    existsSync(OPENAPI) ? JSON.parse(readFileSync(OPENAPI, 'utf8')).components.schemas : {}
  ) as Record<string, Schema>;
  const variants = (name: string): Schema[] =>
    (schemas[name]?.anyOf ?? []).map((v) => schemas[(v.$ref ?? '').split('/').at(-1)!]!).filter(Boolean);

  it('accepts every Match variant', () => {
    const operands: Record<string, unknown> = {
      value: 'x',
      text: 'x',
      text_any: 'x y',
      phrase: 'x y',
      prefix: 'x',
      any: ['x'],
      except: [1],
    };
    const names = variants('Match').map((v) => v.required![0]!);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      expect(name in operands, `Match variant ${name}`).toBe(true);
      expect(() => compileFilter({ must: { key: 'k', match: { [name]: operands[name] } } })).not.toThrow();
    }
  });

  it('accepts every FieldCondition field', () => {
    const samples: Record<string, unknown> = {
      match: { value: 1 },
      range: { gt: 1 },
      geo_bounding_box: { top_left: { lon: 0, lat: 1 }, bottom_right: { lon: 1, lat: 0 } },
      geo_radius: { center: { lon: 0, lat: 0 }, radius: 10 },
      geo_polygon: {
        exterior: {
          points: [
            { lon: 0, lat: 0 },
            { lon: 1, lat: 0 },
            { lon: 1, lat: 1 },
            { lon: 0, lat: 0 },
          ],
        },
      },
      values_count: { gt: 1 },
      is_empty: true,
      is_null: false,
    };
    const fields = Object.keys(schemas.FieldCondition?.properties ?? {}).filter((f) => f !== 'key');
    expect(fields.length).toBeGreaterThan(0);
    for (const f of fields) {
      expect(f in samples, `FieldCondition field ${f}`).toBe(true);
      expect(() => compileFilter({ must: { key: 'k', [f]: samples[f] } })).not.toThrow();
    }
  });

  it('handles every Condition variant: evaluated, or refused as unsupported with a clear 400', () => {
    const samples: Record<string, unknown> = {
      key: { key: 'k', match: { value: 1 } },
      is_empty: { is_empty: { key: 'k' } },
      is_null: { is_null: { key: 'k' } },
      has_id: { has_id: [1] },
      has_vector: { has_vector: 'v' },
      slice: { slice: { total: 2, index: 0 } },
      nested: { nested: { key: 'k', filter: {} } },
    };
    const unsupported = new Set(['has_vector', 'slice']);
    for (const variant of variants('Condition')) {
      const name = variant.required?.[0];
      if (name === undefined) continue; // the Filter variant: covered by every other test
      expect(name in samples, `Condition variant ${name}`).toBe(true);
      if (unsupported.has(name))
        expect(filterError({ must: samples[name] }).message).toMatch(/^Wrong input: /);
      else expect(() => compileFilter({ must: samples[name] })).not.toThrow();
    }
  });
});
