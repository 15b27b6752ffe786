import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffSeconds } from '#shared/notifications/settings.ts';
import { newSecret, signature, verify } from '#shared/notifications/signing.ts';
import { addressProblem, checkTarget, urlProblem } from '#shared/notifications/ssrf.ts';

describe('webhook signatures', () => {
  const secret = newSecret();
  const now = new Date('2026-12-07T12:00:00Z');
  const ts = Math.floor(now.getTime() / 1000);

  it('is the hex HMAC-SHA256 of "<timestamp>.<body>" with the secret', () => {
    const expected = createHmac('sha256', 'Jefe').update('1700000000.{"a":1}').digest('hex');
    expect(signature('Jefe', 1_700_000_000, '{"a":1}')).toBe(`sha256=${expected}`);
  });

  it('verifies what it signed, and refuses a changed body, another secret, an old or missing timestamp', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: -299, max: 299 }), (body, skew) => {
        const sig = signature(secret, ts + skew, body);
        expect(verify(secret, { signature: sig, timestamp: String(ts + skew) }, body, now)).toBeUndefined();
        expect(verify(secret, { signature: sig, timestamp: String(ts + skew) }, `${body}x`, now)).toBe(
          'signature mismatch',
        );
        expect(verify(newSecret(), { signature: sig, timestamp: String(ts + skew) }, body, now)).toBe(
          'signature mismatch',
        );
        // The timestamp is signed: moving it forward to pass the replay window breaks the signature.
        expect(verify(secret, { signature: sig, timestamp: String(ts + skew + 1) }, body, now)).toBe(
          'signature mismatch',
        );
      }),
    );
    const old = signature(secret, ts - 301, 'x');
    expect(verify(secret, { signature: old, timestamp: String(ts - 301) }, 'x', now)).toBe(
      'timestamp outside the tolerance',
    );
    expect(verify(secret, { signature: old }, 'x', now)).toBe('missing or malformed timestamp');
    expect(verify(secret, { signature: old, timestamp: '12.5' }, 'x', now)).toBe(
      'missing or malformed timestamp',
    );
  });

  it('makes 43-character base64url secrets, different each time', () => {
    const a = newSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newSecret()).not.toBe(a);
  });
});

describe('the SSRF guard', () => {
  const strict = { allowLoopback: false };
  const local = { allowLoopback: true };

  it.each([
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.0.10', 'private'],
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::', 'unspecified'],
    // IPv4-mapped IPv6: judged as the IPv4 address it carries.
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'],
  ])('refuses %s (%s)', (address, range) => {
    const carried = address.replace(/^::ffff:/, '');
    const shown = carried === address ? address : `${address} (${carried})`;
    expect(addressProblem(address, strict)).toBe(`${shown} is a ${range} address`);
  });

  it('accepts public addresses, and loopback only where allowed', () => {
    for (const address of ['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(addressProblem(address, strict), address).toBeUndefined();
    }
    expect(addressProblem('127.0.0.1', local)).toBeUndefined();
    expect(addressProblem('::1', local)).toBeUndefined();
    expect(addressProblem('::ffff:127.0.0.1', local)).toBeUndefined();
    // Loopback allowed opens nothing else.
    expect(addressProblem('10.0.0.1', local)).toBe('10.0.0.1 is a private address');
    expect(addressProblem('169.254.169.254', local)).toBe('169.254.169.254 is a linkLocal address');
  });

  it('never accepts a private, loopback or link-local IPv4 address however it is written (property)', () => {
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
    fc.assert(
      fc.property(ipv4, fc.boolean(), ([a, b, c, d], mapped) => {
        const internal =
          a === 10 ||
          a === 127 ||
          (a === 172 && b >= 16 && b <= 31) ||
          (a === 192 && b === 168) ||
          (a === 169 && b === 254);
        const address = `${mapped ? '::ffff:' : ''}${a}.${b}.${c}.${d}`;
        if (internal) expect(addressProblem(address, strict)).toBeDefined();
      }),
    );
  });

  it('refuses URLs that are not plain http(s) to a host', () => {
    expect(urlProblem('https://hooks.example.com/x')).toBeUndefined();
    expect(urlProblem('ftp://example.com/')).toBe('must be an http or https URL');
    expect(urlProblem('http://user:pw@example.com/')).toBe('must not carry credentials');
    expect(urlProblem('not a url')).toBe('is not a URL');
    expect(urlProblem('file:///etc/passwd')).toBe('must be an http or https URL');
  });

  it('resolves names before judging them (localhost is loopback), naming the field', async () => {
    await expect(checkTarget('http://localhost:9/x', strict, 'channel.url')).rejects.toMatchObject({
      statusCode: 400,
      issues: [
        { field: 'channel.url', reason: expect.stringMatching(/^refused target: .* is a loopback address$/) },
      ],
    });
    await expect(checkTarget('http://localhost:9/x', local, 'channel.url')).resolves.toMatchObject({
      address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
    });
    await expect(checkTarget('http://[::ffff:a00:1]/x', strict, 'channel.url')).rejects.toMatchObject({
      issues: [
        {
          field: 'channel.url',
          reason: expect.stringMatching(
            /^refused target: ::ffff:a00:1 \(10\.0\.0\.1\) is a private address$/,
          ),
        },
      ],
    });
    await expect(checkTarget('http://no-such-host.invalid/x', strict, 'channel.url')).rejects.toMatchObject({
      issues: [{ field: 'channel.url', reason: expect.stringMatching(/does not resolve/) }],
    });
  });
});

describe('the retry backoff', () => {
  it('grows fourfold from 30 s and stops at 15 min', () => {
    expect([1, 2, 3, 4, 5, 9].map(backoffSeconds)).toEqual([30, 120, 480, 900, 900, 900]);
  });
});
