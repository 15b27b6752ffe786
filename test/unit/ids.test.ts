import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUuid, ORIGINAL_ID_KEY, toPointId, uuidV5 } from '#shared/ids.ts';

describe('uuidV5', () => {
  it('matches the RFC 4122 reference vector (DNS namespace, "www.example.com")', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('equals a straightforward RFC 4122 implementation for any name, short or long', () => {
    const reference = (name: string, namespace: string) => {
      const h = createHash('sha1')
        .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
        .update(name, 'utf8')
        .digest();
      h[6] = (h[6]! & 0x0f) | 0x50;
      h[8] = (h[8]! & 0x3f) | 0x80;
      const x = h.toString('hex', 0, 16);
      return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
    };
    const ns = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'grapheme', minLength: 300, maxLength: 1500 })),
        (name) => {
          expect(uuidV5(name, ns)).toBe(reference(name, ns));
        },
      ),
    );
    expect(uuidV5('é'.repeat(5000), ns)).toBe(reference('é'.repeat(5000), ns));
  });

  it('is deterministic and sets version 5 and the RFC variant', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (name) => {
        const a = uuidV5(name);
        expect(a).toBe(uuidV5(name));
        expect(a[14]).toBe('5');
        expect('89ab').toContain(a[19]);
        expect(isUuid(a)).toBe(true);
      }),
    );
  });
});

describe('toPointId', () => {
  it('keeps unsigned integers and integer strings as integers', () => {
    expect(toPointId(42)).toEqual({ id: 42 });
    expect(toPointId('42')).toEqual({ id: 42 });
    expect(toPointId(0)).toEqual({ id: 0 });
  });

  it('keeps UUIDs, canonicalised to lower-case hyphenated form', () => {
    expect(toPointId('550E8400E29B41D4A716446655440000')).toEqual({
      id: '550e8400-e29b-41d4-a716-446655440000',
    });
  });

  it('maps legacy string ids to UUIDv5 and remembers the original', () => {
    const mapped = toPointId('dep_name_1.2.3');
    expect(mapped.original).toBe('dep_name_1.2.3');
    expect(isUuid(String(mapped.id))).toBe(true);
    expect(toPointId('1.2.3').id).not.toBe(toPointId('1.2.4').id);
    expect(ORIGINAL_ID_KEY).toBe('_original_id');
  });

  it('rejects empty ids, negative and non-integer numbers', () => {
    expect(() => toPointId('  ')).toThrow(/empty/);
    expect(() => toPointId(-1)).toThrow(RangeError);
    expect(() => toPointId(1.5)).toThrow(RangeError);
    expect(() => toPointId(2 ** 60)).toThrow(RangeError);
  });

  it('never throws on non-empty strings and always yields a valid Qdrant id', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => s.trim() !== ''),
        (raw) => {
          const { id } = toPointId(raw);
          expect(typeof id === 'number' ? Number.isSafeInteger(id) && id >= 0 : isUuid(id)).toBe(true);
        },
      ),
    );
  });
});
