import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/errors.ts';
import { hasBit, withBit } from '#shared/migrations/bits.ts';
import {
  ChunkMessageSchema,
  CreateMigrationBodySchema,
  indexSk,
  jobIdOf,
  targetOfKey,
} from '#shared/migrations/model.ts';
import { parseWith } from '#shared/validation.ts';
import { CollectionNameSchema } from '#shared/vectors/schemas.ts';

describe('migration inputs', () => {
  it('applies the defaults and names the bad field', () => {
    expect(CreateMigrationBodySchema.parse({ key: 'exports/a.json', collection: 'a' })).toEqual({
      key: 'exports/a.json',
      collection: 'a',
      dryRun: false,
      rejectThreshold: 0.05,
      chunkBytes: 4 * 1024 * 1024,
    });
    const issue = (body: unknown) => {
      try {
        parseWith(CreateMigrationBodySchema, body, '');
      } catch (err) {
        return (err as ValidationError).issues[0]?.field;
      }
      return undefined;
    };
    expect(issue({ key: 'k', collection: 'a__b' })).toBe('collection');
    expect(issue({ key: 'migrations/x/report.json', collection: 'a' })).toBe('key');
    expect(issue({ key: 'k', collection: 'a', rejectThreshold: 2 })).toBe('rejectThreshold');
    expect(issue({ key: 'k', collection: 'a', format: 'csv' })).toBe('format');
    expect(issue({ key: 'k', collection: 'a', extra: 1 })).toBe('body');
  });

  it('refuses any malformed body or message with a ValidationError, never another error', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        for (const schema of [CreateMigrationBodySchema, ChunkMessageSchema]) {
          try {
            parseWith(schema, value, '');
          } catch (err) {
            expect(err).toBeInstanceOf(ValidationError);
          }
        }
      }),
    );
  });

  it('derives a valid target collection from any object key', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (key) => {
        const target = targetOfKey(key, 'vectors');
        expect(CollectionNameSchema.safeParse(target).success).toBe(true);
        expect(target).not.toContain('__');
        expect(CreateMigrationBodySchema.safeParse({ key: 'exports/x', collection: target }).success).toBe(
          true,
        );
      }),
    );
    expect(targetOfKey('exports/task_vectors.json', 'vectors')).toBe('task_vectors');
    expect(targetOfKey('exports/team a/notes v2.jsonl', 'vectors')).toBe('notes_v2');
    expect(targetOfKey('exports/', 'vectors')).toBe('vectors');
  });

  it('gives the same job id to the same object version and settings only', () => {
    const base = { key: 'exports/a.json', etag: '"abc"', target: 'a', dryRun: false };
    expect(jobIdOf(base)).toBe(jobIdOf({ ...base, etag: 'abc' }));
    expect(jobIdOf(base)).toMatch(/^[0-9a-f]{16}$/);
    for (const other of [{ etag: 'abd' }, { target: 'b' }, { dryRun: true }, { key: 'exports/b.json' }]) {
      expect(jobIdOf({ ...base, ...other })).not.toBe(jobIdOf(base));
    }
  });

  it('orders the job index newest first', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true }), fc.date({ noInvalidDate: true }), (a, b) => {
        const [ka, kb] = [indexSk(a.toISOString(), 'x'), indexSk(b.toISOString(), 'x')];
        if (a.getTime() < b.getTime()) expect(ka > kb).toBe(true);
        if (a.getTime() === b.getTime()) expect(ka).toBe(kb);
      }),
    );
  });

  it('keeps a set of chunk indexes in a bitmap', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat({ max: 5000 }), { maxLength: 50 }),
        fc.nat({ max: 5000 }),
        (set, probe) => {
          let bits = '';
          for (const i of set) bits = withBit(bits, i, true);
          expect(hasBit(bits, probe)).toBe(set.includes(probe));
          if (set.length > 0) expect(hasBit(withBit(bits, set[0]!, false), set[0]!)).toBe(false);
        },
      ),
    );
  });
});
