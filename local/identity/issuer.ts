import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { z } from 'zod';
import {
  ACCESS_TOKEN_SECONDS,
  GROUPS,
  type Group,
  type ScopeName,
  scopeOf,
} from '../../shared/auth/roles.ts';
import { closeNow, listen } from '../listen.ts';
import { LocalUserStore, usersDirOf } from './users.ts';

/**
 * The local runtime's own OpenID issuer, standing for the stage's Cognito user pool: an RSA
 * signing key created under `<dataDir>/identity` on first start (kept, so tokens survive a
 * restart), the discovery document and JWKS served on loopback, and access tokens shaped like
 * Cognito's (`token_use: access`, `client_id`, `cognito:groups` for people, resource-server
 * scopes for machine clients). Tokens are signed with `jose`; the gateway verifies them as API
 * Gateway's JWT authorizer does (`jwt-authorizer.ts`). Each person given a token is recorded
 * (`users.ts`): they are the users the local Cognito endpoint lists (`local/cognito.ts`).
 */

/** The app client id the local tokens name (`client_id`), and the audience the gateway accepts. */
export const LOCAL_CLIENT_ID = 'local-platform-client';

/** Cognito signs with RS256, the only family API Gateway's JWT authorizer accepts (RSA). */
const ALGORITHM = 'RS256';

export interface TokenRequest {
  /** A person's groups (`cognito:groups`). */
  groups?: readonly Group[];
  /** A machine client's scopes (client credentials); names of the resource server's scopes. */
  scopes?: readonly ScopeName[];
  /** Default `local-<first group>` or the client id for machine tokens. */
  sub?: string;
  /** Default one hour, as Cognito's access tokens. */
  ttlSeconds?: number;
}

const StoredKey = z.object({
  kid: z.string().min(1),
  privateJwk: z.record(z.string(), z.unknown()),
  /** The port the issuer last listened on: reused so its URL (`iss`) stays the same. */
  port: z.number().int().min(0).max(65535).optional(),
});

export interface LocalIssuer {
  /** `iss` of its tokens; its discovery document is `${issuer}/.well-known/openid-configuration`. */
  issuer: string;
  jwksUri: string;
  /** The public signing keys, as served at `jwksUri`. */
  jwks: { keys: JWK[] };
  /** Signs an access token. */
  issue(request: TokenRequest): Promise<string>;
  close(): Promise<void>;
}

export function keyFileOf(dataDir: string): string {
  return resolve(dataDir, 'identity', 'signing-key.json');
}

/** The stored signing key, or a new one written (owner-only) when there is none. */
async function loadOrCreateKey(file: string): Promise<z.infer<typeof StoredKey>> {
  try {
    return StoredKey.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(
        `The local signing key ${file} is unreadable (${(err as Error).message}); delete it to make a new one`,
      );
    }
  }
  const { privateKey } = await generateKeyPair(ALGORITHM, { modulusLength: 2048, extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(privateJwk);
  const stored = { kid, privateJwk };
  await saveKey(file, stored);
  return stored;
}

async function saveKey(file: string, stored: z.infer<typeof StoredKey>): Promise<void> {
  await mkdir(resolve(file, '..'), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(stored)}\n`, { mode: 0o600 });
  await rename(temp, file);
}

/** The public half of a private RSA JWK, with the fields a JWKS entry carries. */
function publicJwkOf(privateJwk: JWK, kid: string): JWK {
  return { kty: privateJwk.kty, n: privateJwk.n, e: privateJwk.e, kid, alg: ALGORITHM, use: 'sig' } as JWK;
}

/** Signs access tokens with the key stored in a data folder (`npm run token`, the CLIs). */
export async function tokenSigner(
  keyFile: string,
  issuer: string,
): Promise<(request: TokenRequest) => Promise<string>> {
  const users = new LocalUserStore(resolve(keyFile, '..', 'users'));
  return signerOf(StoredKey.parse(JSON.parse(await readFile(keyFile, 'utf8'))), issuer, users);
}

async function signerOf(
  stored: z.infer<typeof StoredKey>,
  issuer: string,
  users: LocalUserStore,
): Promise<(request: TokenRequest) => Promise<string>> {
  const key = await importJWK(stored.privateJwk as JWK, ALGORITHM);
  return async (request) => {
    const groups = request.groups ?? [];
    const scopes = request.scopes ?? [];
    for (const group of groups) {
      if (!GROUPS.includes(group)) throw new Error(`unknown group "${group}"; groups: ${GROUPS.join(', ')}`);
    }
    const ttl = request.ttlSeconds ?? ACCESS_TOKEN_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 1) throw new Error('ttlSeconds must be a positive integer');
    const now = Math.floor(Date.now() / 1000);
    const machine = groups.length === 0 && scopes.length > 0;
    // Cognito's access token claims: people carry groups; client-credentials tokens carry scopes.
    const claims: JWTPayload = {
      token_use: 'access',
      client_id: LOCAL_CLIENT_ID,
      scope: machine ? scopes.map(scopeOf).join(' ') : 'aws.cognito.signin.user.admin',
      auth_time: now,
      ...(groups.length > 0 ? { 'cognito:groups': [...groups] } : {}),
    };
    const sub = request.sub ?? (machine ? LOCAL_CLIENT_ID : `local-${groups[0] ?? 'user'}`);
    if (!machine) claims.username = sub;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, kid: stored.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(sub)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(key);
    // People are the user pool's users; machine clients are app clients, not users.
    if (!machine) await users.record(sub, groups);
    return token;
  };
}

export interface IssuerOptions {
  dataDir: string;
  host: string;
  /** 0 or absent: the port used last time if it is free, else any free port. */
  port?: number;
}

export async function startLocalIssuer(opts: IssuerOptions): Promise<LocalIssuer> {
  const keyFile = keyFileOf(opts.dataDir);
  const stored = await loadOrCreateKey(keyFile);
  const jwks = { keys: [publicJwkOf(stored.privateJwk as JWK, stored.kid)] };
  let discovery = '';
  const jwksBody = JSON.stringify(jwks);

  const server = createServer((req, res) => {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    const body =
      req.method !== 'GET'
        ? undefined
        : path === '/.well-known/openid-configuration'
          ? discovery
          : path === '/.well-known/jwks.json'
            ? jwksBody
            : undefined;
    if (body === undefined) {
      res.writeHead(req.method === 'GET' ? 404 : 405, { 'content-type': 'application/json' });
      res.end('{"message":"Not Found"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' });
    res.end(body);
  });

  let url: string;
  const wanted = opts.port ?? 0;
  if (wanted !== 0 || stored.port === undefined) url = await listen(server, opts.host, wanted);
  else {
    // The last port keeps `iss`, so tokens issued before a restart stay valid.
    url = await listen(server, opts.host, stored.port).catch(() => listen(server, opts.host, 0));
  }
  const port = Number(new URL(url).port);
  if (port !== stored.port) await saveKey(keyFile, { ...stored, port });

  const jwksUri = `${url}/.well-known/jwks.json`;
  discovery = JSON.stringify({
    issuer: url,
    jwks_uri: jwksUri,
    response_types_supported: ['token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [ALGORITHM],
    scopes_supported: ['openid'],
  });
  const sign = await signerOf(stored, url, new LocalUserStore(usersDirOf(opts.dataDir)));
  return { issuer: url, jwksUri, jwks, issue: sign, close: () => closeNow(server) };
}
