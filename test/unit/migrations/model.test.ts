import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkKey } from '#local/s3/server.ts';
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

  it('refuses keys that S3 cannot store or that name another object, naming `key` and the reason', () => {
    const reason = (key: string) => {
      try {
        parseWith(CreateMigrationBodySchema, { key, collection: 'a' }, '');
      } catch (err) {
        const [issue] = (err as ValidationError).issues;
        expect(issue?.field).toBe('key');
        return issue?.reason;
      }
      return undefined;
    };
    expect(reason('../../etc/passwd')).toBe('must not have "." or ".." path segments');
    expect(reason('exports/./a.json')).toBe('must not have "." or ".." path segments');
    expect(reason('exports/\ud800.json')).toBe('must be valid Unicode (it holds a lone surrogate)');
    expect(reason('exports/a\u0000.json')).toMatch(/^must not contain control characters/);
    expect(reason('exports/a\nb.json')).toMatch(/^must not contain control characters/);
    expect(reason(`exports/${'é'.repeat(509)}`)).toBe('must be at most 1024 bytes in UTF-8');
    expect(reason('')).toBe('must be an object key in the exports bucket');
    for (const fine of [
      'exports/a.json',
      'exports/..a/b..json',
      'exports/😀 été.json',
      `e/${'é'.repeat(511)}`,
    ]) {
      expect(reason(fine)).toBeUndefined();
    }
  });

  it('accepts only keys the local S3 stores, and refuses the others as a 400 on `key`', () => {
    const segment = fc.oneof(
      fc.constantFrom('', '.', '..', 'exports', 'a.json', 'migrations'),
      fc.string({ unit: fc.constantFrom('a', '.', 'é', '😀', '\0', '\n', '\x7f', '\ud800', '\udfff', ' ') }),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.string({ unit: fc.constantFrom('é', '😀'), minLength: 200, maxLength: 400 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
        const key = segments.join('/');
        let accepted = true;
        try {
          parseWith(CreateMigrationBodySchema, { key, collection: 'a' }, '');
        } catch (err) {
          expect(err).toBeInstanceOf(ValidationError);
          expect((err as ValidationError).issues[0]?.field).toBe('key');
          accepted = false;
        }
        if (!accepted) return;
        expect(() => checkKey(key)).not.toThrow();
        expect(Buffer.from(key, 'utf8').toString('utf8')).toBe(key); // survives UTF-8: no lone surrogate
        expect([...key].some((c) => c.charCodeAt(0) < 0x20 || c === '\x7f')).toBe(false);
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
