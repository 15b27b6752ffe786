import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { comparePointIds, invalidPointIdMessage, parsePointId } from '#local/qdrant/ids.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('parsePointId', () => {
  it('accepts every textual UUID form Qdrant accepts and normalizes to lowercase hyphenated', () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.boolean(),
        fc.constantFrom('hyphenated', 'simple', 'braced', 'urn'),
        (uuid, upper, form) => {
          const cased = upper ? uuid.toUpperCase() : uuid;
          const text =
            form === 'simple'
              ? cased.replaceAll('-', '')
              : form === 'braced'
                ? `{${cased}}`
                : form === 'urn'
                  ? `urn:uuid:${cased}`
                  : cased;
          expect(parsePointId(text)).toBe(uuid.toLowerCase());
        },
      ),
    );
  });

  it('accepts unsigned safe integers unchanged', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        expect(parsePointId(n)).toBe(n);
      }),
    );
  });

  it('rejects negative, fractional and unsafe numbers, numeric strings and other values', () => {
    for (const value of [
      -1,
      1.5,
      2 ** 53,
      Number.NaN,
      '1',
      '12',
      'abc',
      '',
      null,
      true,
      [1],
      { id: 1 },
      undefined,
    ]) {
      expect(parsePointId(value)).toBeUndefined();
    }
    fc.assert(
      fc.property(fc.string(), (text) => {
        const parsed = parsePointId(text);
        // A string is either rejected or a UUID in normalized form.
        expect(parsed === undefined || (typeof parsed === 'string' && UUID.test(parsed))).toBe(true);
      }),
    );
  });

  it("words the rejection like Qdrant's 400", () => {
    expect(invalidPointIdMessage('x-1')).toBe(
      'value x-1 is not a valid point ID, valid values are either an unsigned integer or a UUID',
    );
    expect(invalidPointIdMessage(-3)).toBe(
      'value -3 is not a valid point ID, valid values are either an unsigned integer or a UUID',
    );
  });
});

describe('comparePointIds', () => {
  const id = fc.oneof(fc.maxSafeNat(), fc.uuid());
  // -1, 0 or 1, never -0: `toBe` tells -0 from 0, and negating an equal comparison gives -0.
  const sign = (n: number): number => (n > 0 ? 1 : n < 0 ? -1 : 0);
  const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';

  it('is a total order: numbers ascending, then UUIDs in their 128-bit order', () => {
    fc.assert(
      fc.property(id, id, id, (a, b, c) => {
        expect(sign(comparePointIds(a, b))).toBe(sign(-comparePointIds(b, a)));
        if (comparePointIds(a, b) <= 0 && comparePointIds(b, c) <= 0)
          expect(comparePointIds(a, c)).toBeLessThanOrEqual(0);
        if (typeof a === 'number' && typeof b === 'string') expect(comparePointIds(a, b)).toBeLessThan(0);
        if (typeof a === 'string' && typeof b === 'string') {
          const value = (u: string) => BigInt(`0x${u.replaceAll('-', '')}`);
          expect(sign(comparePointIds(a, b))).toBe(value(a) < value(b) ? -1 : value(a) > value(b) ? 1 : 0);
        }
      }),
      // Equal ids every run (random ones collide only by chance).
      {
        examples: [
          [7, 7, 7],
          [uuid, uuid, uuid],
          [0, uuid, 0],
        ],
      },
    );
  });
});
