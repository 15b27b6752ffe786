import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  base64url,
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LOCAL_CLIENT_ID, type LocalIssuer, startLocalIssuer } from '#local/identity/issuer.ts';
import { JwtAuthorizer, type Verdict, wwwAuthenticate } from '#local/identity/jwt-authorizer.ts';

/**
 * The local gateway's JWT authorizer refuses every token API Gateway's would: each case of its
 * documented workflow, and the classic forgeries (`alg: none`, HMAC keyed with the public key).
 */

let dataDir: string;
let issuer: LocalIssuer;
let authorizer: JwtAuthorizer;
/** A second key pair the authorizer does not trust. */
let stranger: { privateKey: CryptoKey; jwk: JWK };

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-jwt-'));
  issuer = await startLocalIssuer({ dataDir, host: '127.0.0.1' });
  authorizer = new JwtAuthorizer({ issuer: issuer.issuer, audiences: [LOCAL_CLIENT_ID], jwks: issuer.jwks });
  const pair = await generateKeyPair('RS256', { extractable: true });
  stranger = { privateKey: pair.privateKey, jwk: await exportJWK(pair.publicKey) };
});

afterAll(async () => {
  await issuer?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const now = () => Math.floor(Date.now() / 1000);
const kid = () => issuer.jwks.keys[0]!.kid!;

/** A token with the issuer's kid and claims of our choosing, signed by `key` (default: a stranger's). */
function forge(
  claims: JWTPayload,
  header: Record<string, unknown> = {},
  key: CryptoKey | Uint8Array = stranger.privateKey,
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: kid(), ...header } as { alg: string })
    .sign(key);
}

const validClaims = (): JWTPayload => ({
  iss: issuer.issuer,
  client_id: LOCAL_CLIENT_ID,
  token_use: 'access',
  'cognito:groups': ['admin'],
  iat: now(),
  exp: now() + 600,
});

/** The refusal a verdict must be. */
const refused = (v: Verdict) => {
  expect(v.ok).toBe(false);
  return v as Extract<Verdict, { ok: false }>;
};

describe('local JWT authorizer', () => {
  it("accepts the issuer's tokens and passes the claims as API Gateway does (strings, arrays as [a b])", async () => {
    const token = await issuer.issue({ groups: ['admin', 'user'], sub: 'alice' });
    for (const header of [`Bearer ${token}`, `bearer ${token}`, token]) {
      const v = await authorizer.verify(header);
      expect(v.ok).toBe(true);
      if (!v.ok) continue;
      expect(v.jwt.claims).toMatchObject({
        sub: 'alice',
        'cognito:groups': '[admin user]',
        token_use: 'access',
        client_id: LOCAL_CLIENT_ID,
        iss: issuer.issuer,
      });
      expect(typeof v.jwt.claims.exp).toBe('string');
      expect(v.jwt.scopes).toEqual(['aws.cognito.signin.user.admin']);
    }
    const machine = await authorizer.verify(`Bearer ${await issuer.issue({ scopes: ['read', 'write'] })}`);
    expect(machine.ok && machine.jwt.scopes).toEqual(['vector-platform/read', 'vector-platform/write']);
  });

  it('401 without a token: www-authenticate "Bearer"', async () => {
    for (const header of [undefined, '', '   ']) {
      const v = refused(await authorizer.verify(header));
      expect(v.error).toBe('missing_token');
      expect(wwwAuthenticate(v)).toBe('Bearer');
    }
  });

  it('refuses what is not a JWT', async () => {
    for (const header of ['Bearer abc', 'Bearer a.b.c', 'Basic dXNlcjpwYXNz', 'Bearer ...']) {
      const v = refused(await authorizer.verify(header));
      expect(wwwAuthenticate(v)).toMatch(/^Bearer scope="" error="invalid_token" error_description=".+"$/);
    }
  });

  it("refuses a bad signature: another key under the issuer's kid, or a tampered payload", async () => {
    expect(refused(await authorizer.verify(await forge(validClaims()))).description).toBe(
      'the signature is invalid',
    );
    const [h, , s] = (await issuer.issue({ groups: ['readonly'] })).split('.');
    const payload = base64url.encode(JSON.stringify({ ...validClaims(), 'cognito:groups': ['admin'] }));
    expect(refused(await authorizer.verify(`${h}.${payload}.${s}`)).description).toBe(
      'the signature is invalid',
    );
  });

  it('refuses alg none (unsigned tokens)', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', kid: kid(), typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify(validClaims()));
    for (const token of [`${header}.${payload}.`, `${header}.${payload}`]) {
      expect(refused(await authorizer.verify(`Bearer ${token}`)).error).toBe('invalid_token');
    }
  });

  it('refuses HMAC signed with the public key as the secret (algorithm confusion)', async () => {
    const publicJwk = issuer.jwks.keys[0]!;
    for (const secret of [JSON.stringify(publicJwk), publicJwk.n!]) {
      const token = await forge(validClaims(), { alg: 'HS256' }, new TextEncoder().encode(secret));
      const v = refused(await authorizer.verify(`Bearer ${token}`));
      expect(v.description).toBe('the signing algorithm HS256 is not supported');
    }
  });

  it('refuses a token without kid, or whose kid the JWKS does not have', async () => {
    const signed = await issuer.issue({ groups: ['admin'] });
    const [, payload, signature] = signed.split('.');
    const noKid = base64url.encode(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
    expect(refused(await authorizer.verify(`${noKid}.${payload}.${signature}`)).description).toBe(
      'the token has no kid header',
    );
    const otherKid = base64url.encode(JSON.stringify({ alg: 'RS256', kid: 'not-a-known-key' }));
    expect(refused(await authorizer.verify(`${otherKid}.${payload}.${signature}`)).description).toBe(
      'no key of the issuer matches the token kid',
    );
  });

  describe('claims, checked after the signature (tokens signed with the issuer key)', () => {
    /** The authorizer trusting the stranger's key under the issuer's kid, so claims alone decide. */
    let trusting: JwtAuthorizer;
    beforeAll(() => {
      trusting = new JwtAuthorizer({
        issuer: issuer.issuer,
        audiences: [LOCAL_CLIENT_ID, 'other-client'],
        jwks: { keys: [{ ...stranger.jwk, kid: kid(), alg: 'RS256' }] },
      });
    });
    const verdict = async (claims: JWTPayload) => trusting.verify(`Bearer ${await forge(claims)}`);

    it('accepts the valid claims (the control case)', async () => {
      expect((await verdict(validClaims())).ok).toBe(true);
    });

    it.each([
      ['expired', { exp: now() - 1 }, 'the token has expired'],
      ['without exp', { exp: undefined }, 'the exp claim is invalid'],
      ['not yet valid (nbf)', { nbf: now() + 120 }, 'the token is not valid yet'],
      ['issued in the future (iat)', { iat: now() + 120 }, 'the token is issued in the future'],
      [
        'from another issuer',
        { iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other' },
        'the token issuer is not trusted',
      ],
      [
        'for another client (client_id)',
        { client_id: 'someone-else' },
        'client_id is not an allowed audience',
      ],
      [
        'for another audience (aud wins over client_id)',
        { aud: 'someone-else' },
        'aud is not an allowed audience',
      ],
    ] as const)('401 when %s', async (_case, change, description) => {
      const claims = { ...validClaims(), ...change } as JWTPayload;
      for (const [k, v] of Object.entries(change)) if (v === undefined) delete claims[k];
      const v = refused(await verdict(claims));
      expect(v.description).toBe(description);
    });

    it('aud is evaluated when present: an allowed aud passes whatever client_id says', async () => {
      expect((await verdict({ ...validClaims(), aud: ['x', 'other-client'], client_id: 'unknown' })).ok).toBe(
        true,
      );
    });

    it('refuses algorithms outside RSA even with a matching key type', async () => {
      const es = await generateKeyPair('ES256');
      const token = await new SignJWT(validClaims())
        .setProtectedHeader({ alg: 'ES256', kid: kid() })
        .sign(es.privateKey);
      expect(refused(await trusting.verify(token)).description).toBe(
        'the signing algorithm ES256 is not supported',
      );
    });
  });

  it('a token verified once is refused again once expired (its verification is kept, not its validity)', async () => {
    const own = new JwtAuthorizer({ issuer: issuer.issuer, audiences: [LOCAL_CLIENT_ID], jwks: issuer.jwks });
    const header = `Bearer ${await issuer.issue({ groups: ['admin'], ttlSeconds: 60 })}`;
    expect((await own.verify(header)).ok).toBe(true);
    expect((await own.verify(header)).ok).toBe(true);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      expect(refused(await own.verify(header)).description).toBe('the token has expired');
    } finally {
      vi.useRealTimers();
    }
  });

  it('never throws on untrusted input: any header gets a verdict, never ok (property)', async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.tuple(segment, segment, segment).map((parts) => `Bearer ${parts.join('.')}`),
          fc.json().map((j) => `Bearer ${base64url.encode(j)}.${base64url.encode(j)}.`),
        ),
        async (header) => {
          const v = await authorizer.verify(header);
          expect(v.ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
