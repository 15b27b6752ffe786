import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { z } from 'zod';

/**
 * API Gateway's HTTP API JWT authorizer, for the local gateway. Its documented workflow, step by
 * step: the token from the `Authorization` header (bare or after `Bearer `); the header's `kid`
 * names a key of the issuer's JWKS; RSA signatures only (never `none`, never HMAC, so a public
 * key can never be used as an HMAC secret); `iss` exactly the configured issuer; `aud`, or
 * `client_id` when there is no `aud`, one of the configured audiences; `exp` after now, `nbf` and
 * `iat` before now. Then the claims go to the integration in `requestContext.authorizer.jwt`,
 * every value a string as API Gateway passes them. Signature and time checks are `jose`'s.
 */

/** The RSA algorithms API Gateway's JWT authorizer accepts. */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512'];

export interface AuthorizerConfig {
  issuer: string;
  audiences: readonly string[];
  /** The issuer's public keys; absent: fetched from its discovery document's `jwks_uri`. */
  jwks?: { keys: JWK[] };
}

/** What API Gateway puts in `requestContext.authorizer.jwt`. */
export interface JwtContext {
  claims: Record<string, string>;
  scopes: string[] | null;
}

export type Verdict = { ok: true; jwt: JwtContext } | { ok: false; error: string; description?: string };

const Discovery = z.object({ issuer: z.string(), jwks_uri: z.url() });

/** A claim value as API Gateway passes it to a Lambda integration. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.map(flatten).join(' ')}]`;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function scopesOf(payload: JWTPayload): string[] | null {
  const raw = payload.scope ?? payload.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.map(String);
  return null;
}

const invalid = (description: string): Verdict => ({ ok: false, error: 'invalid_token', description });

/** Verified tokens kept (the most recent): a client sends the same token for an hour. */
const VERIFIED_CACHE_SIZE = 1000;

export class JwtAuthorizer {
  readonly issuer: string;
  private readonly audiences: ReadonlySet<string>;
  private keys: JWTVerifyGetKey | undefined;
  /**
   * Tokens whose signature and claims were verified, by their exact text, with their expiry: the
   * same bytes verify the same way, so only the time is checked again (`exp`; `nbf` and `iat`
   * were already in the past). WebCrypto's RSA verification costs ~0.2 ms a call here.
   */
  private readonly verified = new Map<string, { exp: number; jwt: JwtContext }>();

  constructor(config: AuthorizerConfig) {
    this.issuer = config.issuer;
    this.audiences = new Set(config.audiences);
    if (config.audiences.length === 0) throw new Error('A JWT authorizer needs at least one audience');
    if (config.jwks) this.keys = createLocalJWKSet(config.jwks);
  }

  /** The issuer's keys: given, or found through its discovery document (fetched once, then cached by jose). */
  private async keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys) return this.keys;
    const res = await fetch(`${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
    if (!res.ok) throw new Error(`${this.issuer}: discovery document answered ${res.status}`);
    const doc = Discovery.parse(await res.json());
    if (doc.issuer !== this.issuer) {
      throw new Error(`${this.issuer}: the discovery document names issuer ${doc.issuer}`);
    }
    this.keys = createRemoteJWKSet(new URL(doc.jwks_uri));
    return this.keys;
  }

  /** Verifies the `Authorization` header's token. */
  async verify(authorization: string | undefined): Promise<Verdict> {
    if (authorization === undefined || authorization.trim() === '') {
      return { ok: false, error: 'missing_token' };
    }
    const value = authorization.trim();
    const token = /^bearer\s+/i.test(value) ? value.replace(/^bearer\s+/i, '') : value;
    const known = this.verified.get(token);
    if (known) {
      if (known.exp > Date.now() / 1000) return { ok: true, jwt: known.jwt };
      this.verified.delete(token);
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return invalid('the token is not a JWT');
    }
    if (typeof header.kid !== 'string') return invalid('the token has no kid header');
    if (typeof header.alg !== 'string' || !ALLOWED_ALGORITHMS.includes(header.alg)) {
      return invalid(`the signing algorithm ${String(header.alg)} is not supported`);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.keySet(), {
        issuer: this.issuer,
        algorithms: ALLOWED_ALGORITHMS,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      return invalid(describe(err));
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat === 'number' && payload.iat > now)
      return invalid('the token is issued in the future');
    const audience = payload.aud ?? payload.client_id;
    const offered = Array.isArray(audience) ? audience : [audience];
    if (!offered.some((a) => typeof a === 'string' && this.audiences.has(a))) {
      return invalid(
        payload.aud === undefined ? 'client_id is not an allowed audience' : 'aud is not an allowed audience',
      );
    }
    const claims: Record<string, string> = {};
    for (const [name, value] of Object.entries(payload)) claims[name] = flatten(value);
    const jwt = { claims, scopes: scopesOf(payload) };
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { exp: payload.exp!, jwt });
    return { ok: true, jwt };
  }
}

function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'the token issuer is not trusted';
    if (err.claim === 'nbf') return 'the token is not valid yet';
    return `the ${err.claim} claim is invalid`;
  }
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key of the issuer matches the token kid';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature is invalid';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the signing algorithm is not supported';
  if (err instanceof errors.JOSEError) return 'the token is invalid';
  return 'the issuer keys could not be read';
}

/** The `www-authenticate` header of a 401, as API Gateway's JWT authorizer writes it. */
export function wwwAuthenticate(verdict: Extract<Verdict, { ok: false }>): string {
  if (verdict.error === 'missing_token') return 'Bearer';
  return `Bearer scope="" error="${verdict.error}" error_description="${verdict.description ?? ''}"`;
}
