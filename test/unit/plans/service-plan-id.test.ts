import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fromUrlId,
  MAX_PLAN_ID_BYTES,
  PlanIdSchema,
  PlanRefSchema,
  planPath,
  toUrlId,
} from '#shared/plans/plan-id.ts';

/** Plan ids (untrusted input: they become point ids, state keys and URLs). */

const segmentChar = fc.constantFrom(...'abcXYZ019._+-()@, éÅßж١'.split(/(?:)/u));
const segment = fc
  .array(segmentChar, { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join('').trim())
  .filter((s) => s !== '' && s !== '.' && s !== '..');
const validPlanId = fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'));

describe('plan ids', () => {
  it('round-trips every valid plan id through its URL id, as sent in a URL', () => {
    fc.assert(
      fc.property(validPlanId, (planId) => {
        expect(PlanIdSchema.parse(planId)).toBe(planId);
        const urlId = toUrlId(planId);
        expect(urlId).not.toContain('/');
        const inUrl = encodeURIComponent(urlId);
        expect(inUrl).not.toMatch(/%2F/i);
        expect(PlanRefSchema.parse(decodeURIComponent(inUrl))).toBe(planId);
        // A gateway that decoded an encoded plan id (`%2F`) reaches the same plan.
        expect(PlanRefSchema.parse(planId)).toBe(planId);
        expect(fromUrlId(urlId)).toBe(planId);
      }),
    );
  });

  it('accepts from any string only safe, normalized, bounded ids, and never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), validPlanId), (input) => {
        const result = PlanIdSchema.safeParse(input);
        if (!result.success) {
          expect(result.error.issues[0]!.message).toBeTruthy();
          return;
        }
        const id = result.data;
        expect(id).toBe(id.normalize('NFC'));
        expect(Buffer.byteLength(id)).toBeLessThanOrEqual(MAX_PLAN_ID_BYTES);
        expect(id).not.toMatch(/[~#%?\\]/);
        expect([...id].every((c) => c.codePointAt(0)! >= 0x20)).toBe(true);
        expect(id.startsWith('/')).toBe(false);
        expect(id.split('/')).not.toContain('..');
        expect(PlanIdSchema.parse(id)).toBe(id);
      }),
    );
  });

  it('names the rule a refused id breaks', () => {
    const reason = (input: unknown) => {
      const result = PlanIdSchema.safeParse(input);
      return result.success ? undefined : result.error.issues[0]!.message;
    };
    expect(reason('')).toBe('must not be empty');
    expect(reason('/etc/plan.md')).toMatch(/relative path/);
    expect(reason('plans//a.md')).toMatch(/empty path segment/);
    expect(reason('plans/')).toMatch(/empty path segment/);
    expect(reason('plans/../a.md')).toMatch(/"\.\."/);
    expect(reason('plans/ a.md')).toMatch(/space/);
    expect(reason('plans~a.md')).toMatch(/must not contain "~"/);
    expect(reason('a#b.md')).toMatch(/letters, digits/);
    expect(reason('plan 😀.md')).toMatch(/letters, digits/);
    expect(reason('é'.repeat(257))).toMatch(/at most 512 bytes/);
    expect(reason(42)).toBeDefined();
  });

  it('normalizes to NFC, so one file name spelled two ways is one plan', () => {
    expect(PlanIdSchema.parse('plans/Cafe\u0301.md')).toBe('plans/Caf\u00e9.md');
  });

  it('builds the API path of a plan', () => {
    expect(planPath('plans/plan-dev-v12.md')).toBe('/api/v1/plans/plans~plan-dev-v12.md');
    expect(planPath('mes plans/étape 1.md')).toBe('/api/v1/plans/mes%20plans~%C3%A9tape%201.md');
  });
});
