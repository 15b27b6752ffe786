import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchesPattern, validatePattern } from '#shared/events/pattern.ts';

/** EventBridge pattern semantics, case by case as documented, then as properties. */

const event = {
  version: '0',
  id: '7f1a4a0e-3c2b-4d55-9b0e-0d6c1f9e2a11',
  'detail-type': 'MigrationCompleted',
  source: 'vector-platform',
  account: '000000000000',
  time: '2025-03-14T09:26:53Z',
  region: 'eu-west-3',
  resources: ['arn:aws:s3:::exports/task_vectors.json', 'arn:aws:sqs:eu-west-3:000000000000:migrations'],
  detail: {
    collection: 'tasks-v2',
    points: 1200,
    ratio: 0.25,
    dryRun: false,
    note: '',
    owner: null,
    tags: ['legacy', 'email'],
    stats: { failed: 0, skipped: 3 },
    chunks: [
      { index: 0, status: 'done', records: 500 },
      { index: 1, status: 'failed', records: 700 },
    ],
    grid: [[1, 2], [3]],
    fileName: 'Export.PNG',
    path: 'exports/2025/task_vectors.json',
    glob: 'a*b',
  },
};

const d = (detail: Record<string, unknown>) => ({ detail });

const cases: Array<[string, Record<string, unknown>, boolean]> = [
  // Exact values; fields AND, values OR.
  ['exact string', { source: ['vector-platform'] }, true],
  ['exact string, other value', { source: ['aws.s3'] }, false],
  ['any value of the list', { source: ['aws.s3', 'vector-platform'] }, true],
  ['all fields must match', { source: ['vector-platform'], 'detail-type': ['MigrationFailed'] }, false],
  ['exact number', d({ points: [1200] }), true],
  ['number equality is numeric', d({ points: [1.2e3] }), true],
  ['a string never equals a number', d({ points: ['1200'] }), false],
  ['boolean', d({ dryRun: [false] }), true],
  ['boolean vs its string', d({ dryRun: ['false'] }), false],
  ['null matches null', d({ owner: [null] }), true],
  ['empty string matches empty string', d({ note: [''] }), true],
  ['null is not an empty string', d({ note: [null] }), false],
  ['an empty string is not null', d({ owner: [''] }), false],
  ['missing field', d({ absent: ['x'] }), false],
  // Arrays: non-empty intersection, crushed (nested arrays too), consistent within one element.
  ['one of the event array values', { resources: ['arn:aws:sqs:eu-west-3:000000000000:migrations'] }, true],
  ['none of the event array values', d({ tags: ['urgent'] }), false],
  ['nested arrays are crushed', d({ grid: [3] }), true],
  ['fields of one array element', d({ chunks: { status: ['failed'], records: [700] } }), true],
  ['fields of different array elements', d({ chunks: { status: ['failed'], records: [500] } }), false],
  ['nested object field', d({ stats: { skipped: [3] } }), true],
  // Prefix, suffix, equals-ignore-case, wildcard.
  ['prefix', { time: [{ prefix: '2025-03-14' }] }, true],
  ['prefix, no match', { time: [{ prefix: '2024' }] }, false],
  ['prefix only tests strings', d({ points: [{ prefix: '12' }] }), false],
  ['prefix ignoring case', d({ collection: [{ prefix: { 'equals-ignore-case': 'TASKS' } }] }), true],
  ['suffix', d({ path: [{ suffix: '.json' }] }), true],
  ['suffix is case-sensitive', d({ fileName: [{ suffix: '.png' }] }), false],
  ['suffix ignoring case', d({ fileName: [{ suffix: { 'equals-ignore-case': '.png' } }] }), true],
  ['equals-ignore-case', { 'detail-type': [{ 'equals-ignore-case': 'migrationcompleted' }] }, true],
  [
    'equals-ignore-case, other value',
    { 'detail-type': [{ 'equals-ignore-case': 'migrationfailed' }] },
    false,
  ],
  ['wildcard', d({ path: [{ wildcard: 'exports/*/task_*.json' }] }), true],
  ['wildcard, no match', d({ path: [{ wildcard: 'exports/*.csv' }] }), false],
  ['wildcard with an escaped star', d({ glob: [{ wildcard: 'a\\*b' }] }), true],
  ['escaped star is literal', d({ collection: [{ wildcard: 'tasks\\*' }] }), false],
  // Anything-but.
  ['anything-but string', d({ collection: [{ 'anything-but': 'tasks-v1' }] }), true],
  ['anything-but the value itself', d({ collection: [{ 'anything-but': 'tasks-v2' }] }), false],
  ['anything-but list of strings', d({ collection: [{ 'anything-but': ['a', 'tasks-v2'] }] }), false],
  ['anything-but number', d({ points: [{ 'anything-but': 100 }] }), true],
  ['anything-but list of numbers', d({ points: [{ 'anything-but': [100, 1200] }] }), false],
  ['anything-but prefix', d({ collection: [{ 'anything-but': { prefix: 'sandbox-' } }] }), true],
  ['anything-but prefix, excluded', d({ collection: [{ 'anything-but': { prefix: 'tasks' } }] }), false],
  ['anything-but suffix, excluded', d({ path: [{ 'anything-but': { suffix: '.json' } }] }), false],
  [
    'anything-but ignoring case',
    d({ collection: [{ 'anything-but': { 'equals-ignore-case': 'TASKS-V2' } }] }),
    false,
  ],
  ['anything-but wildcard', d({ path: [{ 'anything-but': { wildcard: '*/lib/*' } }] }), true],
  ['anything-but needs the field', d({ absent: [{ 'anything-but': 'x' }] }), false],
  // Numeric: JSON numbers only.
  ['numeric >', d({ points: [{ numeric: ['>', 1000] }] }), true],
  ['numeric range', d({ stats: { skipped: [{ numeric: ['>', 0, '<=', 5] }] } }), true],
  ['numeric range, outside', d({ points: [{ numeric: ['>', 0, '<=', 5] }] }), false],
  ['numeric =', d({ ratio: [{ numeric: ['=', 2.5e-1] }] }), true],
  ['numeric on a string', d({ collection: [{ numeric: ['>', 0] }] }), false],
  ['numeric on a missing field', d({ absent: [{ numeric: ['<', 10] }] }), false],
  // Exists: leaves only.
  ['exists true', d({ collection: [{ exists: true }] }), true],
  ['exists true on null', d({ owner: [{ exists: true }] }), true],
  ['exists true on a missing field', d({ absent: [{ exists: true }] }), false],
  ['exists false on a missing field', d({ absent: [{ exists: false }] }), true],
  ['exists false on a present field', d({ collection: [{ exists: false }] }), false],
  ['exists false on an object (not a leaf)', d({ stats: [{ exists: false }] }), true],
  ['exists false below a missing parent', d({ absent: { deeper: [{ exists: false }] } }), true],
  ['exists mixed with values', d({ absent: ['x', { exists: false }] }), true],
  // $or.
  ['$or, one branch matches', { $or: [{ source: ['aws.s3'] }, { detail: { points: [1200] } }] }, true],
  ['$or, no branch matches', { $or: [{ source: ['aws.s3'] }, { detail: { points: [1] } }] }, false],
  [
    '$or nested, ANDed with siblings',
    { source: ['vector-platform'], detail: { $or: [{ a: ['x'] }, { note: [''] }] } },
    true,
  ],
];

describe('matchesPattern (documented EventBridge semantics)', () => {
  it.each(cases)('%s', (_name, pattern, expected) => {
    expect(matchesPattern(pattern, event)).toBe(expected);
  });

  it('treats an empty event array as a missing field', () => {
    const e = { resources: [], detail: {} };
    expect(matchesPattern({ resources: [{ exists: false }] }, e)).toBe(true);
    expect(matchesPattern({ resources: [{ exists: true }] }, e)).toBe(false);
  });
});

const invalid: Array<[string, unknown, RegExp]> = [
  ['a string', 'source', /at \(root\): expected a pattern object/],
  ['an array', [{ source: ['x'] }], /at \(root\)/],
  ['an empty object', {}, /at least one field/],
  ['a non-array leaf', { source: 'x' }, /at source: expected an array of matchers/],
  ['a nested non-array leaf', { detail: { state: 5 } }, /at detail\.state:/],
  ['an empty matcher list', { source: [] }, /at source: .*must not be empty/],
  ['a nested array matcher', { source: [['x']] }, /at source\[0\]/],
  ['an unknown operator', { source: [{ startsWith: 'x' }] }, /unknown operator "startsWith"/],
  ['two operators in one matcher', { source: [{ prefix: 'a', suffix: 'b' }] }, /exactly one operator/],
  ['a prefix that is not a string', { source: [{ prefix: 1 }] }, /at source\[0\]: prefix takes a string/],
  [
    'numeric with a string bound',
    { n: [{ numeric: ['>', 'a'] }] },
    /at n\[0\]\.numeric: operator ">" needs a number/,
  ],
  ['numeric with an odd length', { n: [{ numeric: ['>'] }] }, /numeric takes/],
  ['numeric with an unknown operator', { n: [{ numeric: ['!=', 1] }] }, /unknown numeric operator/],
  ['an empty numeric range', { n: [{ numeric: ['>', 5, '<', 1] }] }, /is empty/],
  ['= combined', { n: [{ numeric: ['=', 1, '<', 5] }] }, /"=" cannot be combined/],
  ['two lower bounds', { n: [{ numeric: ['>', 1, '>=', 2] }] }, /one lower bound/],
  ['a bound out of range', { n: [{ numeric: ['<', 6e9] }] }, /outside the numeric range/],
  ['exists with a string', { n: [{ exists: 'yes' }] }, /exists takes true or false/],
  ['anything-but with mixed types', { n: [{ 'anything-but': [1, 'a'] }] }, /only strings or only numbers/],
  ['anything-but with an empty list', { n: [{ 'anything-but': [] }] }, /must not be empty/],
  [
    'anything-but numeric',
    { n: [{ 'anything-but': { numeric: ['>', 1] } }] },
    /unsupported anything-but operator/,
  ],
  ['a wildcard with consecutive stars', { n: [{ wildcard: 'a**b' }] }, /consecutive \*/],
  ['a wildcard with a bad escape', { n: [{ wildcard: 'a\\b' }] }, /may only escape/],
  ['cidr', { ip: [{ cidr: '10.0.0.0/24' }] }, /not supported by the local event bus/],
];

describe('validatePattern', () => {
  it.each(invalid)('rejects %s, naming where', (_name, pattern, message) => {
    expect(() => validatePattern(pattern)).toThrow(message);
  });

  it('accepts every documented form', () => {
    for (const [, pattern] of cases) expect(() => validatePattern(pattern)).not.toThrow();
    expect(() => validatePattern({ n: [{ numeric: ['>=', 5, '<=', 5] }] })).not.toThrow();
    expect(() => validatePattern({ n: [{ numeric: ['<', 10, '>', 1] }] })).not.toThrow();
  });

  it('reads "$or" that is not a list of patterns as a field name, as EventBridge does', () => {
    expect(matchesPattern({ $or: ['x'] }, { $or: 'x' })).toBe(true);
    expect(matchesPattern({ $or: [{ prefix: 'a' }, { suffix: 'z' }] }, { $or: 'abc' })).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.

const numberArb = fc.double({ min: -5e9, max: 5e9, noNaN: true });
const plainString = fc.string().map((s) => s.replace(/[*\\]/g, ''));
const wildcardArb = fc
  .array(fc.oneof(plainString, fc.constant('*')), { maxLength: 5 })
  .map((parts) => parts.join('').replace(/\*+/g, '*'));

const matcherArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string(),
  fc.integer(),
  numberArb,
  fc.boolean(),
  fc.constant(null),
  fc.record({ prefix: fc.oneof(fc.string(), fc.record({ 'equals-ignore-case': fc.string() })) }),
  fc.record({ suffix: fc.oneof(fc.string(), fc.record({ 'equals-ignore-case': fc.string() })) }),
  fc.record({ 'equals-ignore-case': fc.string() }),
  fc.record({ wildcard: wildcardArb }),
  fc.record({
    'anything-but': fc.oneof(
      fc.string(),
      fc.integer(),
      fc.array(fc.string(), { minLength: 1, maxLength: 3 }),
      fc.array(fc.integer(), { minLength: 1, maxLength: 3 }),
      fc.record({ prefix: fc.string() }),
      fc.record({ suffix: fc.string() }),
      fc.record({
        'equals-ignore-case': fc.oneof(fc.string(), fc.array(fc.string(), { minLength: 1, maxLength: 2 })),
      }),
      fc.record({ wildcard: wildcardArb }),
    ),
  }),
  fc.record({
    numeric: fc.oneof(
      fc.tuple(fc.constantFrom('=', '<', '<=', '>', '>='), numberArb),
      fc.tuple(numberArb, numberArb).map(([a, b]) => ['>=', Math.min(a, b), '<=', Math.max(a, b)]),
    ),
  }),
  fc.record({ exists: fc.boolean() }),
);

const keyArb = fc.oneof(
  fc.constantFrom('source', 'detail', 'detail-type', 'a', 'b'),
  fc.string({ maxLength: 4 }),
);

const { pattern: validPatternArb } = fc.letrec<{ pattern: Record<string, unknown>; value: unknown }>(
  (tie) => ({
    pattern: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.dictionary(keyArb, tie('value'), { minKeys: 1, maxKeys: 3 }),
      fc.record({ $or: fc.array(tie('pattern'), { minLength: 2, maxLength: 3 }) }),
    ),
    value: fc.oneof(
      { depthSize: 'small' },
      fc.array(matcherArb, { minLength: 1, maxLength: 3 }),
      tie('pattern'),
    ),
  }),
);

const eventArb = fc.dictionary(keyArb, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });

/** A matcher that `value` must satisfy, chosen by `style`. */
function matcherFor(value: string | number | boolean | null, style: number): unknown {
  const escapeWildcard = (s: string) => s.replace(/[\\*]/g, '\\$&');
  if (typeof value === 'string') {
    const half = value.slice(0, Math.floor(value.length / 2));
    const forms = [
      value,
      { exists: true },
      { prefix: half },
      { suffix: value.slice(half.length) },
      { 'equals-ignore-case': value },
      { prefix: { 'equals-ignore-case': half } },
      { wildcard: escapeWildcard(value) },
      { wildcard: `${escapeWildcard(half)}*` },
      { 'anything-but': `${value}#` },
    ];
    return forms[style % forms.length];
  }
  if (typeof value === 'number' && Math.abs(value) <= 5e9) {
    const forms = [
      value,
      { numeric: ['=', value] },
      { numeric: ['>=', value, '<=', value] },
      { 'anything-but': value + 1 },
    ];
    return forms[style % forms.length];
  }
  return style % 2 === 0 ? value : { exists: true };
}

/** A pattern every field of which holds for `node`: built from its own leaf values. */
function patternFrom(node: Record<string, unknown>, style: number): Record<string, unknown> {
  const pattern: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    const flat = [value].flat(Number.POSITIVE_INFINITY);
    const leaf = flat.find((v) => v === null || typeof v !== 'object');
    const object = flat.find((v) => v !== null && typeof v === 'object');
    if (leaf !== undefined) {
      pattern[key] = [matcherFor(leaf as string | number | boolean | null, style + key.length)];
    } else if (object !== undefined) {
      const nested = patternFrom(object as Record<string, unknown>, style + 1);
      if (Object.keys(nested).length > 0) pattern[key] = nested;
    }
  }
  return pattern;
}

describe('event pattern properties', () => {
  it('matchesPattern never throws on arbitrary JSON events for valid patterns', () => {
    fc.assert(
      fc.property(validPatternArb, eventArb, (pattern, e) => {
        validatePattern(pattern);
        expect(typeof matchesPattern(pattern, e)).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('validatePattern throws only Errors that say where the pattern is wrong', () => {
    const operatorish = fc.dictionary(
      fc.constantFrom(
        'prefix',
        'suffix',
        'anything-but',
        'numeric',
        'exists',
        'wildcard',
        'equals-ignore-case',
        'x',
      ),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 2 },
    );
    const patternish = fc.dictionary(
      keyArb,
      fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.array(fc.oneof(operatorish, fc.jsonValue({ maxDepth: 1 })), { maxLength: 3 }),
      ),
      { maxKeys: 3 },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), patternish), eventArb, (candidate, e) => {
        try {
          validatePattern(candidate);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          expect((err as Error).message).toMatch(/^Invalid event pattern at .+: ./s);
          return;
        }
        // What validates can be evaluated.
        expect(typeof matchesPattern(candidate, e)).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });

  it('an event always matches a pattern built from its own leaf values', () => {
    const nonEmptyEvent = fc.dictionary(keyArb, fc.jsonValue({ maxDepth: 3 }), { minKeys: 1, maxKeys: 5 });
    fc.assert(
      fc.property(nonEmptyEvent, fc.nat(100), (e, style) => {
        const pattern = patternFrom(e, style);
        fc.pre(Object.keys(pattern).length > 0);
        expect(matchesPattern(pattern, e)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
