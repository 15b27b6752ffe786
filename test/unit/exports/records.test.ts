import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkDimension,
  duplicateIds,
  type NormalizedRecord,
  normalizeRecord,
  parseChunk,
  toPoint,
} from '#shared/exports/records.ts';
import { isUuid, ORIGINAL_ID_KEY, uuidV5 } from '#shared/ids.ts';
import { MAX_NESTING_DEPTH } from '#shared/validation.ts';
import { utf8 } from './support.ts';

function reasonOf(value: unknown): string | undefined {
  const result = normalizeRecord(value, 0);
  return 'reason' in result ? result.reason : undefined;
}

describe('normalizeRecord, nesting', () => {
  const nested = (levels: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < levels; i++) value = [value];
    return value;
  };

  it(`rejects a payload nested deeper than ${MAX_NESTING_DEPTH} levels (stored, it could not be read back), whatever its depth`, () => {
    // The payload object is level 1: `{ a: [[…]] }` with n arrays is n + 1 levels.
    expect(reasonOf({ id: 1, vector: [1], payload: { a: nested(MAX_NESTING_DEPTH - 1) } })).toBeUndefined();
    for (const levels of [MAX_NESTING_DEPTH, 3000]) {
      expect(reasonOf({ id: 1, vector: [1], payload: { a: nested(levels) } })).toBe(
        `payload nests objects and arrays deeper than ${MAX_NESTING_DEPTH} levels`,
      );
    }
    // Sibling fields of a legacy record are its payload too.
    expect(reasonOf({ TaskId: 't', Vector: [1], Deep: nested(MAX_NESTING_DEPTH) })).toMatch(/deeper than/);
  });
});

describe('normalizeRecord, shapes', () => {
  it('a legacy task: TaskId, Vector, Description as text, every other field kept under its name', () => {
    const task = {
      TaskId: '1.2.3',
      Description: 'Écrire',
      Status: 'Complete',
      ParentId: '1.2',
      Vector: [0.1, 0.2],
      Metadata: { VectorDimension: 2 },
    };
    expect(normalizeRecord(task, 42)).toEqual({
      sourceId: '1.2.3',
      vector: [0.1, 0.2],
      text: 'Écrire',
      payload: {
        Description: 'Écrire',
        Status: 'Complete',
        ParentId: '1.2',
        Metadata: { VectorDimension: 2 },
      },
      offset: 42,
    });
  });

  it('flattens payload, or else an object metadata, and keeps sibling fields', () => {
    expect(normalizeRecord({ id: 1, vector: [1], payload: { a: 1 }, b: 2 }, 0)).toMatchObject({
      payload: { a: 1, b: 2 },
    });
    expect(normalizeRecord({ id: 1, embedding: [1], metadata: { a: 1 }, b: 2 }, 0)).toMatchObject({
      vector: [1],
      payload: { a: 1, b: 2 },
    });
    // With a payload, metadata is an ordinary field; a scalar metadata is too.
    expect(normalizeRecord({ id: 1, vector: [1], payload: { a: 1 }, metadata: { m: 1 } }, 0)).toMatchObject({
      payload: { a: 1, metadata: { m: 1 } },
    });
    expect(normalizeRecord({ id: 1, vector: [1], metadata: 'v2' }, 0)).toMatchObject({
      payload: { metadata: 'v2' },
    });
    expect(normalizeRecord({ id: 1, vector: [1], payload: null }, 0)).toMatchObject({ payload: {} });
  });

  it('takes the first id, vector and text field in priority order; the others stay in the payload', () => {
    const result = normalizeRecord(
      { _id: 'm', id: 5, Vector: [9], vector: [1], description: 'd', text: 't' },
      0,
    );
    expect(result).toEqual({
      sourceId: 5,
      vector: [1],
      text: 't',
      payload: { _id: 'm', Vector: [9], description: 'd', text: 't' },
      offset: 0,
    });
  });

  it('a record without a vector (absent, null or empty) but with text is kept to be embedded', () => {
    for (const vector of [undefined, null, []]) {
      expect(normalizeRecord({ id: 'x', vector, payload: { content: ' to embed ' } }, 0)).toEqual({
        sourceId: 'x',
        text: ' to embed ',
        payload: { content: ' to embed ' },
        offset: 0,
      });
    }
    // Blank text does not count: the next text field does.
    expect(normalizeRecord({ id: 1, text: '  ', Description: 'real' }, 0)).toMatchObject({ text: 'real' });
  });

  it('keeps a "__proto__" field as data, without touching any prototype', () => {
    const result = normalizeRecord(
      JSON.parse('{"id": 1, "vector": [1], "__proto__": {"polluted": true}}'),
      0,
    );
    expect('reason' in result).toBe(false);
    const { payload } = result as NormalizedRecord;
    expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
    expect(Object.hasOwn(payload, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(toPoint(result as NormalizedRecord).payload, '__proto__')).toBe(true);
  });
});

describe('normalizeRecord, the reserved original-id key', () => {
  it("restores the original id from a re-import of this platform's own points", () => {
    const exported = { id: uuidV5('1.2.3'), vector: [1], payload: { [ORIGINAL_ID_KEY]: '1.2.3', a: 1 } };
    const record = normalizeRecord(exported, 0) as NormalizedRecord;
    expect(record).toEqual({ sourceId: '1.2.3', vector: [1], payload: { a: 1 }, offset: 0 });
    expect(toPoint(record)).toEqual({
      id: uuidV5('1.2.3'),
      vector: [1],
      payload: { a: 1, [ORIGINAL_ID_KEY]: '1.2.3' },
    });
  });

  it('refuses it when it does not name the id the point id derives from', () => {
    expect(reasonOf({ id: 5, vector: [1], payload: { [ORIGINAL_ID_KEY]: 'other' } })).toBe(
      `"${ORIGINAL_ID_KEY}" is reserved for the id the point id derives from, and "other" is not`,
    );
    expect(reasonOf({ id: 'a', vector: [1], [ORIGINAL_ID_KEY]: 3 })).toMatch(/reserved .* and 3 is not$/);
  });
});

describe('normalizeRecord, rejects', () => {
  it.each([
    ['an array', [1], 'a record must be a JSON object, found an array'],
    ['a string', 'x', 'a record must be a JSON object, found a string'],
    ['null', null, 'a record must be a JSON object, found null'],
    ['no id', { vector: [1] }, 'no id (looked for id, _id, TaskId)'],
    [
      'a negative id',
      { id: -1, vector: [1] },
      'id: must be an unsigned integer or a non-empty string, found -1',
    ],
    [
      'a fractional id',
      { id: 1.5, vector: [1] },
      'id: must be an unsigned integer or a non-empty string, found 1.5',
    ],
    [
      'a blank id',
      { TaskId: '  ', vector: [1] },
      'TaskId: must be an unsigned integer or a non-empty string, found "  "',
    ],
    [
      'a long id',
      { _id: 'x'.repeat(1025), text: 't' },
      `_id: must be an unsigned integer or a non-empty string, found "${'x'.repeat(39)}…`,
    ],
    [
      'a null id',
      { id: null, vector: [1] },
      'id: must be an unsigned integer or a non-empty string, found null',
    ],
    [
      'an object id',
      { id: {}, vector: [1] },
      'id: must be an unsigned integer or a non-empty string, found {}',
    ],
    ['a string in the vector', { id: 1, vector: [1, '2'] }, 'vector[1]: must be a finite number'],
    [
      'an infinite number',
      { id: 1, embedding: [Number.POSITIVE_INFINITY] },
      'embedding[0]: must be a finite number',
    ],
    ['a vector that is a string', { id: 1, vector: 'abc' }, 'vector: must be an array of numbers'],
    [
      'named vectors',
      { id: 1, vector: { text: [1] } },
      'vector: named vectors are not supported, expected one dense vector',
    ],
    [
      'a payload that is not an object',
      { id: 1, vector: [1], payload: [1] },
      'payload must be an object, found an array',
    ],
    [
      'a field in two places',
      { id: 1, vector: [1], title: 'a', payload: { title: 'b' } },
      '"title" is both a field of the record and of its payload',
    ],
  ])('%s', (_name, value, reason) => {
    expect(reasonOf(value)).toBe(reason);
  });

  it('neither a vector nor text, naming where it looked', () => {
    expect(reasonOf({ id: 1, title: 'x' })).toBe(
      'neither a vector (looked for vector, embedding, Vector) nor text (looked for text, content, document, description, Description)',
    );
    expect(reasonOf({ TaskId: 1, Vector: [], Description: ' ' })).toMatch(
      /^neither a vector \(Vector is empty\)/,
    );
  });

  it('names the record by its id once the id is valid', () => {
    expect(normalizeRecord({ id: 'task-7', vector: [null] }, 9)).toEqual({
      offset: 9,
      reason: 'vector[0]: must be a finite number',
      sourceId: 'task-7',
    });
  });

  it('refuses vectors longer than Qdrant allows', () => {
    expect(reasonOf({ id: 1, vector: new Array(65_537).fill(0) })).toBe(
      'vector: must have at most 65536 dimensions',
    );
  });
});

describe('parseChunk', () => {
  it('rejects bad records at their absolute offsets without failing their neighbours', () => {
    const records = [
      '{"id": 1, "vector": [1]}',
      '{"id": 2, "vector": [1,]}',
      '{"id": 3, "vector": [1e999]}',
      '"not a record"',
      '{"id": 5, "text": "ok"}',
    ];
    const text = records.join(',\n  ');
    const start = 1000;
    const { records: good, rejects } = parseChunk(utf8(text), { format: 'json-array', startOffset: start });
    const offsetOf = (i: number) => start + text.indexOf(records[i]!);
    expect(good.map((r) => [r.sourceId, r.offset])).toEqual([
      [1, offsetOf(0)],
      [5, offsetOf(4)],
    ]);
    expect(rejects).toEqual([
      { offset: offsetOf(1), reason: expect.stringMatching(/^not valid JSON: /) },
      { offset: offsetOf(2), reason: 'vector[0]: must be a finite number', sourceId: 3 },
      { offset: offsetOf(3), reason: 'a record must be a JSON object, found a string' },
    ]);
  });

  it('rejects a record that is not UTF-8', () => {
    const bytes = new Uint8Array([
      ...utf8('{"id": 1, "text": "'),
      0xc3,
      0x28,
      ...utf8('"}\n{"id": 2, "text": "b"}'),
    ]);
    const { records, rejects } = parseChunk(bytes, { format: 'jsonl', startOffset: 10 });
    expect(records.map((r) => r.sourceId)).toEqual([2]);
    expect(rejects).toEqual([{ offset: 10, reason: 'not valid UTF-8' }]);
  });

  it('reports a range that is not a run of records, keeping the records before the break', () => {
    const { records, rejects } = parseChunk(
      utf8('{"id": 1, "text": "a"}, {"id": 2, "text": "b"}], "metadata": {}'),
      {
        format: 'legacy-tasks',
        startOffset: 50,
      },
    );
    expect(records.map((r) => r.sourceId)).toEqual([1, 2]);
    expect(rejects).toEqual([
      {
        offset: 50 + 46,
        reason:
          "the chunk is not a run of records: expected ',' after the record that starts at 74, found ']'",
      },
    ]);
    expect(
      parseChunk(utf8('{"id": 1, "text": "a"},'), { format: 'json-array', startOffset: 0 }).rejects,
    ).toEqual([
      { offset: 23, reason: 'the chunk is not a run of records: ends with a "," and no record after it' },
    ]);
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom('legacy-tasks', 'json-array', 'qdrant-points', 'jsonl'),
        fc.nat(),
        (bytes, format, startOffset) => {
          const { records, rejects } = parseChunk(bytes, { format, startOffset });
          for (const item of [...records, ...rejects]) {
            expect(item.offset).toBeGreaterThanOrEqual(startOffset);
            expect(item.offset).toBeLessThanOrEqual(startOffset + bytes.length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkDimension', () => {
  it('passes matching vectors and text-only records, names both sizes otherwise', () => {
    const record = (vector?: number[]): NormalizedRecord => ({
      sourceId: 1,
      ...(vector ? { vector } : { text: 't' }),
      payload: {},
      offset: 0,
    });
    expect(checkDimension(record([1, 2, 3]), 3)).toBeUndefined();
    expect(checkDimension(record(), 3)).toBeUndefined();
    expect(checkDimension(record([1, 2]), 1536)).toBe('vector has 2 dimensions, the collection has 1536');
  });
});

describe('toPoint', () => {
  it('maps a legacy id to its UUIDv5 and keeps the original in the payload', () => {
    const point = toPoint({
      sourceId: '1.3.1',
      vector: [1],
      text: 'x',
      payload: { Status: 'Done' },
      offset: 0,
    });
    expect(point).toEqual({
      id: uuidV5('1.3.1'),
      vector: [1],
      payload: { Status: 'Done', [ORIGINAL_ID_KEY]: '1.3.1' },
    });
    expect(isUuid(String(point.id))).toBe(true);
  });

  it('keeps integer and UUID ids as they are, without an original id; text when there is no vector', () => {
    expect(toPoint({ sourceId: 7, text: 'a', payload: {}, offset: 0 })).toEqual({
      id: 7,
      text: 'a',
      payload: {},
    });
    expect(toPoint({ sourceId: '42', vector: [1], payload: {}, offset: 0 })).toEqual({
      id: 42,
      vector: [1],
      payload: {},
    });
    const uuid = '550E8400-E29B-41D4-A716-446655440000';
    expect(toPoint({ sourceId: uuid, vector: [1], payload: {}, offset: 0 }).id).toBe(uuid.toLowerCase());
  });

  it('does not change the record it maps', () => {
    const record: NormalizedRecord = { sourceId: 'a', vector: [1], payload: { k: 1 }, offset: 0 };
    toPoint(record);
    expect(record.payload).toEqual({ k: 1 });
  });
});

describe('duplicateIds', () => {
  it('groups records that map to the same point, in order of first appearance', () => {
    const at = (sourceId: string | number, offset: number): NormalizedRecord => ({
      sourceId,
      text: 't',
      payload: {},
      offset,
    });
    expect(duplicateIds([at('b', 0), at(7, 10), at('a', 20), at('7', 30), at('b', 40), at('b', 50)])).toEqual(
      [
        { id: uuidV5('b'), offsets: [0, 40, 50] },
        { id: 7, offsets: [10, 30] },
      ],
    );
    expect(duplicateIds([at('a', 0), at('b', 1)])).toEqual([]);
  });
});
