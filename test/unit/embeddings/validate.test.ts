import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateTokens, MAX_INPUT_TOKENS, validateTexts } from '#shared/embeddings/validate.ts';
import { ValidationError } from '#shared/errors.ts';

function caught(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('validateTexts', () => {
  it('estimates tokens as UTF-8 bytes / 3, rounded up', () => {
    expect(estimateTokens('abc')).toBe(1);
    expect(estimateTokens('abcd')).toBe(2);
    expect(estimateTokens('é')).toBe(1);
    expect(estimateTokens('🚀')).toBe(2);
  });

  it('rejects a non-array as the field `texts`', () => {
    const err = caught(() => validateTexts('text'));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([
      { field: 'texts', reason: 'must be an array of strings' },
    ]);
  });

  it('bounds the listed issues but counts them all', () => {
    const err = caught(() => validateTexts(Array.from({ length: 150 }, () => '')));
    expect((err as ValidationError).issues).toHaveLength(100);
    expect((err as ValidationError).message).toMatch(/\(and 149 more\)$/);
  });

  it('property: names exactly the non-string, blank and over-long entries', () => {
    const long = 'é'.repeat(Math.ceil((MAX_INPUT_TOKENS * 3) / 2) + 1);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('', ' \t', long, 'ok'), fc.anything()),
          {
            maxLength: 10,
          },
        ),
        (texts) => {
          const bad = texts.flatMap((t, i) =>
            typeof t !== 'string' || t.trim() === '' || estimateTokens(t) > MAX_INPUT_TOKENS
              ? [`texts.${i}`]
              : [],
          );
          const err = caught(() => validateTexts(texts));
          if (bad.length === 0) {
            expect(err).toBeUndefined();
          } else {
            expect(err).toBeInstanceOf(ValidationError);
            expect((err as ValidationError).issues.map((i) => i.field)).toEqual(bad);
          }
        },
      ),
    );
  });
});
