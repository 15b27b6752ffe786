import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest } from '#infra/manifest.ts';
import { LOCAL_CLIENT_ID } from '#local/identity/issuer.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { allows, GROUP_ROLES, GROUPS, type Role } from '#shared/auth/roles.ts';
import { describeWhere, testTarget, whereLocal } from './target.ts';

/**
 * The identity contract of every route, over HTTP against the local runtime: a non-public route
 * refuses every token API Gateway's JWT authorizer would (401 with `www-authenticate`), and each
 * group gets 403 or its answer exactly as the route's declared role says. Public routes answer
 * without a token. Portable: on a deployed stage the tokens are the machine client's (scope
 * `read`, scopes `read write`), since people's tokens need a person to sign in.
 */

let dataDir: string;
let rt: LocalRuntime;
const target = testTarget(() => rt);
/** Each token the checks use, by label, with the role it grants: people locally, machines on a stage. */
const tokens = new Map<string, { role: Role; token: string }>();

beforeAll(async () => {
  if (!target.local) {
    for (const role of ['reader', 'writer'] as const) {
      const source = target.token(role);
      if (typeof source === 'string') throw new Error(source);
      tokens.set(`machine ${role}`, { role, token: await source() });
    }
    return;
  }
  dataDir = await mkdtemp(join(tmpdir(), 'vp-auth-'));
  rt = await startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false });
  for (const group of GROUPS) {
    tokens.set(group, { role: GROUP_ROLES[group], token: await rt.issueToken({ groups: [group] }) });
  }
});

afterAll(async () => {
  if (!target.local) return;
  await rt?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** A concrete path for a route's template. */
const pathOf = (template: string) => template.replace(/\{[^}]+\}/g, 'probe-1');

async function call(method: string, path: string, authorization?: string) {
  const body = method === 'POST' || method === 'PUT' ? '{}' : undefined;
  const res = await target.fetch(`${target.apiUrl()}${path}`, {
    method,
    headers: {
      ...(authorization === undefined ? {} : { authorization }),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body } : {}),
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const protectedRoutes = manifest.routes.filter((r) => r.role !== 'public');
const publicRoutes = manifest.routes.filter((r) => r.role === 'public');

/** Tokens API Gateway refuses, made from a valid one (an expired one only where tokens can be issued). */
async function forgeries(): Promise<Array<[string, string]>> {
  const valid = [...tokens.values()].at(-1)!.token;
  const [header, payload, signature] = valid.split('.') as [string, string, string];
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
  const withClaims = (change: Record<string, unknown>) =>
    `${header}.${base64url.encode(JSON.stringify({ ...claims, ...change }))}.${signature}`;
  const none = base64url.encode(
    JSON.stringify({
      alg: 'none',
      typ: 'JWT',
      kid: JSON.parse(new TextDecoder().decode(base64url.decode(header))).kid,
    }),
  );
  const forged: Array<[string, string]> = [
    ['malformed', 'Bearer not-a-jwt'],
    ['bad signature', `Bearer ${header}.${payload}.${signature.slice(0, -4)}AAAA`],
    ['alg none', `Bearer ${none}.${payload}.`],
    ['claims changed under the signature', `Bearer ${withClaims({ 'cognito:groups': ['admin', 'x'] })}`],
  ];
  if (!target.local) return forged;
  return [
    ...forged,
    [
      'expired',
      `Bearer ${await rt.issueToken({ groups: ['admin'], ttlSeconds: 1 }).then(async (t) => {
        await new Promise((r) => setTimeout(r, 2100));
        return t;
      })}`,
    ],
  ];
}

describe('every non-public route', () => {
  it('401 with www-authenticate without a token, and for each forged or expired token', async () => {
    const forged = await forgeries();
    for (const route of protectedRoutes) {
      const path = pathOf(route.path);
      const none = await call(route.method, path);
      expect(none.status, `${route.method} ${route.path} without a token`).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect(JSON.parse(none.body)).toEqual({ message: 'Unauthorized' });
      for (const [what, authorization] of forged) {
        const res = await call(route.method, path, authorization);
        expect(res.status, `${route.method} ${route.path} with ${what}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer scope="" error="invalid_token"/);
      }
    }
  }, 60_000);

  it('each group gets 403 or is let through exactly as the declared role says', async () => {
    for (const route of protectedRoutes) {
      for (const [who, { role, token }] of tokens) {
        const res = await call(route.method, pathOf(route.path), `Bearer ${token}`);
        const label = `${who} → ${route.method} ${route.path} (needs ${route.role})`;
        if (allows(role, route.role as Role)) {
          // Let through: the function answers (a probe id or an empty body may be 400/404/409).
          expect([401, 403], label).not.toContain(res.status);
          expect(res.status, label).toBeLessThan(500);
        } else {
          expect(res.status, label).toBe(403);
          expect(JSON.parse(res.body).error).toMatchObject({ code: 'FORBIDDEN' });
        }
      }
    }
  }, 60_000);

  it('a machine token with scopes gets the role its scopes grant', async () => {
    const reader = `Bearer ${target.local ? await rt.issueToken({ scopes: ['read'] }) : tokens.get('machine reader')!.token}`;
    expect((await call('GET', '/api/v1/vectors/collections', reader)).status).toBe(200);
    expect((await call('POST', '/api/v1/vectors/collections', reader)).status).toBe(403);
  });
});

describe('public routes', () => {
  it('answer without a token', async () => {
    for (const route of publicRoutes) {
      const res = await call(route.method, pathOf(route.path));
      expect([401, 403], `${route.method} ${route.path}`).not.toContain(res.status);
    }
  });
});

describeWhere(whereLocal('starts runtimes of its own'), 'trusting another issuer', () => {
  it("accepts that issuer's tokens (found through its discovery document) and refuses its own", async () => {
    const other = await startLocalRuntime({
      dataDir: join(dataDir, 'other'),
      port: 0,
      quiet: true,
      limits: false,
      auth: { issuer: rt.issuer, audiences: [LOCAL_CLIENT_ID] },
    });
    try {
      const list = (authorization: string) =>
        fetch(`${other.apiUrl}/api/v1/vectors/collections`, { headers: { authorization } });
      expect((await list(`Bearer ${tokens.get('readonly')!.token}`)).status).toBe(200);
      const own = await list(`Bearer ${await other.issueToken({ groups: ['admin'] })}`);
      expect(own.status).toBe(401);
      // Its own key is not among the trusted issuer's keys.
      expect(own.headers.get('www-authenticate')).toContain('no key of the issuer matches the token kid');
    } finally {
      await other.stop();
    }
  });
});

describeWhere(whereLocal('starts a runtime of its own'), 'authentication off (AUTH=off)', () => {
  it('lets every request through as an administrator named auth-off', async () => {
    const open = await startLocalRuntime({
      dataDir: join(dataDir, 'open'),
      port: 0,
      quiet: true,
      limits: false,
      auth: 'off',
    });
    try {
      const res = await fetch(`${open.apiUrl}/api/v1/vectors/collections/none`, { method: 'DELETE' });
      expect([401, 403]).not.toContain(res.status);
    } finally {
      await open.stop();
    }
  });
});
