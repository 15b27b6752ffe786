import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSecret,
  encodeSecret,
  rotateSecret,
  signingSecrets,
} from '#shared/notifications/secret-value.ts';
import { signatureHeader, verify } from '#shared/notifications/signing.ts';

describe('stored webhook secrets', () => {
  const now = new Date('2026-12-07T00:00:00Z');

  it('reads a plain value stored before rotations as the current secret', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (raw) => {
        const decoded = decodeSecret(raw);
        // Ours, when it is one of ours; else the whole value is the secret.
        expect(decoded.current === raw || raw.startsWith('{')).toBe(true);
        expect(decoded.current.length).toBeGreaterThan(0);
      }),
    );
    expect(decodeSecret('{not json but a secret')).toEqual({ v: 1, current: '{not json but a secret' });
  });

  it('round-trips what it stores', () => {
    const stored = rotateSecret({ v: 1, current: 'old' }, 'new', now, 3_600_000);
    expect(decodeSecret(encodeSecret(stored))).toEqual(stored);
  });

  it('signs with the previous secret until its grace ends; a second rotation ends the first grace', () => {
    const once = rotateSecret({ v: 1, current: 'a' }, 'b', now, 60_000);
    expect(signingSecrets(once, now)).toEqual(['b', 'a']);
    expect(signingSecrets(once, new Date(now.getTime() + 60_000))).toEqual(['b']);
    const twice = rotateSecret(once, 'c', now, 60_000);
    expect(signingSecrets(twice, now)).toEqual(['c', 'b']);
  });

  it('a receiver accepts a header listing several signatures when one is made with its secret', () => {
    const ts = Math.floor(now.getTime() / 1000);
    const header = signatureHeader(['new-secret', 'old-secret'], ts, '{}');
    const headers = { signature: header, timestamp: String(ts) };
    expect(verify('old-secret', headers, '{}', now)).toBeUndefined();
    expect(verify('new-secret', headers, '{}', now)).toBeUndefined();
    expect(verify('other', headers, '{}', now)).toBe('signature mismatch');
    expect(verify('old-secret', headers, '{"x":1}', now)).toBe('signature mismatch');
  });
});
