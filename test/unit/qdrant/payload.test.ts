import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deletePayloadKey,
  hasValueAt,
  overwritePayload,
  parseKeyPath,
  selectPayload,
  setPayload,
} from '#local/qdrant/payload.ts';

describe('parseKeyPath', () => {
  const key = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,8}$/);
  const segment = fc.record({ key, index: fc.option(fc.oneof(fc.constant('all' as const), fc.nat(20))) });

  it('round-trips generated paths', () => {
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), (segments) => {
        const text = segments
          .map((s) => `${s.key}${s.index === null ? '' : s.index === 'all' ? '[]' : `[${s.index}]`}`)
          .join('.');
        const expected = segments.map((s) =>
          s.index === null ? { key: s.key } : { key: s.key, index: s.index },
        );
        expect(parseKeyPath(text)).toEqual(expected);
      }),
    );
  });

  it('accepts quoted keys with dots', () => {
    expect(parseKeyPath('"a.b".c')).toEqual([{ key: 'a.b' }, { key: 'c' }]);
  });

  it('parses or rejects any string with an Error, never anything else', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          expect(parseKeyPath(text).length).toBeGreaterThan(0);
        } catch (err) {
          expect((err as Error).message).toBe(`Invalid key path: ${text}`);
        }
      }),
    );
    for (const bad of ['', '.', 'a.', '.a', 'a..b', 'a[x]', 'a[', '"a'])
      expect(() => parseKeyPath(bad)).toThrow();
  });
});

describe('selectPayload', () => {
  const payload = { a: 1, b: { c: 2, d: 3 }, list: [{ x: 1, y: 2 }], keep: 'k' };

  it('returns everything, nothing, or the selected keys', () => {
    expect(selectPayload(payload, true)).toBe(payload);
    expect(selectPayload(payload, false)).toBeUndefined();
    expect(selectPayload(payload, ['a', 'b.c'])).toEqual({ a: 1, b: { c: 2 } });
    expect(selectPayload(payload, { include: ['list[].x'] })).toEqual({ list: [{ x: 1 }] });
    expect(selectPayload(payload, { exclude: ['b.d', 'a'] })).toEqual({
      b: { c: 2 },
      list: [{ x: 1, y: 2 }],
      keep: 'k',
    });
    expect(selectPayload(payload, [])).toEqual({});
  });
});

describe('payload writes', () => {
  it('set merges at the top level or at a nested key, creating objects', () => {
    const p: Record<string, unknown> = { a: 1, n: { x: 1 } };
    setPayload(p, { b: 2 });
    setPayload(p, { y: 2 }, 'n');
    setPayload(p, { z: 3 }, 'new.deep');
    expect(p).toEqual({ a: 1, b: 2, n: { x: 1, y: 2 }, new: { deep: { z: 3 } } });
  });

  it('copies the values it sets, so points never share objects', () => {
    const shared = { tags: ['a'] };
    const p1: Record<string, unknown> = {};
    const p2: Record<string, unknown> = {};
    setPayload(p1, shared);
    setPayload(p2, shared);
    (p1.tags as string[]).push('b');
    expect(p2.tags).toEqual(['a']);
    expect(shared.tags).toEqual(['a']);
  });

  it('keeps `__proto__` a plain key: no prototype is reached or replaced', () => {
    const p: Record<string, unknown> = {};
    setPayload(p, JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'));
    setPayload(p, { x: 1 }, '__proto__.inner');
    overwritePayload(p, { y: 2 }, 'b.__proto__');
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).inner).toBeUndefined();
    expect(Object.keys(p)).toEqual(['__proto__', 'a', 'b']);
    expect(JSON.stringify(p)).toBe(
      '{"__proto__":{"polluted":true,"inner":{"x":1}},"a":1,"b":{"__proto__":{"y":2}}}',
    );
    deletePayloadKey(p, '__proto__.polluted');
    expect(JSON.stringify(selectPayload(p, ['__proto__']))).toBe('{"__proto__":{"inner":{"x":1}}}');
  });

  it('overwrite replaces the whole payload or the value at a key', () => {
    expect(overwritePayload({ a: 1 }, { b: 2 })).toEqual({ b: 2 });
    expect(overwritePayload({ a: 1, n: { x: 1 } }, { y: 2 }, 'n')).toEqual({ a: 1, n: { y: 2 } });
  });

  it('deletes keys, nested keys and keys inside arrays', () => {
    const p: Record<string, unknown> = { a: 1, b: { c: 2, d: 3 }, list: [{ x: 1, y: 2 }, { x: 3 }] };
    deletePayloadKey(p, 'a');
    deletePayloadKey(p, 'b.c');
    deletePayloadKey(p, 'list[].x');
    deletePayloadKey(p, 'missing.key');
    expect(p).toEqual({ b: { d: 3 }, list: [{ y: 2 }, {}] });
  });

  it('tells whether a non-null value exists at a path', () => {
    const p = { a: null, b: { c: [1] }, list: [{ x: 'v' }] };
    expect(hasValueAt(p, 'a')).toBe(false);
    expect(hasValueAt(p, 'b.c')).toBe(true);
    expect(hasValueAt(p, 'list[].x')).toBe(true);
    expect(hasValueAt(p, 'list.x')).toBe(true);
    expect(hasValueAt(p, 'nope')).toBe(false);
  });

  it('answers for any key and payload, a key it cannot read holding no value (collection info relies on it)', () => {
    expect(hasValueAt({ '': 1 }, '')).toBe(false);
    fc.assert(
      fc.property(fc.string(), fc.dictionary(fc.string(), fc.jsonValue()), (key, payload) => {
        expect(typeof hasValueAt(payload, key)).toBe('boolean');
      }),
    );
  });
});
