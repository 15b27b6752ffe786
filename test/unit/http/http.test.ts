import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

vi.hoisted(() => {
  // Before the shared Powertools instances are built by the first import.
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
});

import { resetConfig } from '#shared/config.ts';
import {
  ConflictError,
  MethodNotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
  UpstreamError,
  ValidationError,
} from '#shared/errors.ts';
import { HttpResult, httpHandler, readJsonBody } from '#shared/http.ts';
import { metrics } from '#shared/powertools.ts';
import { UpsertBodySchema } from '#shared/vectors/schemas.ts';
import { httpEvent, invoke } from './support.ts';

const LIMIT = 2048;

beforeEach(() => {
  vi.stubEnv('QDRANT_URL', 'http://127.0.0.1:1');
  vi.stubEnv('MAX_BODY_BYTES', String(LIMIT));
  resetConfig();
});

afterEach(() => {
  vi.unstubAllEnvs();
  resetConfig();
});

const echo = httpHandler(
  {
    body: z.object({ name: z.string(), nested: z.object({ n: z.int() }).optional() }),
    query: z.object({ limit: z.coerce.number().int().min(1).optional() }),
    path: z.object({ id: z.string().regex(/^[a-z]+$/) }),
  },
  async ({ body, query, path, config }) => ({ body, query, path, maxBodyBytes: config.maxBodyBytes }),
);

const ok = { body: '{"name":"a"}', pathParameters: { id: 'abc' } };

describe('httpHandler: input', () => {
  it('parses body, query and path, and answers 200 JSON', async () => {
    const res = await invoke(echo, { ...ok, query: { limit: '5' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      body: { name: 'a' },
      query: { limit: 5 },
      path: { id: 'abc' },
      maxBodyBytes: LIMIT,
    });
  });

  it('decodes base64 bodies (API Gateway sends binary-looking bodies that way)', async () => {
    const res = await invoke(echo, { ...ok, body: '{"name":"é ✓"}', base64: true });
    expect(res.status).toBe(200);
    expect(res.body.body).toEqual({ name: 'é ✓' });
  });

  it('answers 413 past the body limit, counted in decoded bytes', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(LIMIT) });
    const res = await invoke(echo, { ...ok, body: big });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.error.message).toContain(String(LIMIT));
    // Base64 inflates the wire size by a third: a body within the limit once decoded passes.
    const fits = JSON.stringify({ name: 'x'.repeat(LIMIT - 40) });
    expect(Buffer.from(fits).toString('base64').length).toBeGreaterThan(LIMIT);
    expect((await invoke(echo, { ...ok, body: fits, base64: true })).status).toBe(200);
  });

  it('answers 415 for a content type that is not JSON, and accepts +json types', async () => {
    const res = await invoke(echo, { ...ok, headers: { 'Content-Type': 'text/plain' } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const vendor = await invoke(echo, {
      ...ok,
      headers: { 'content-type': 'application/vnd.api+json; charset=utf-8' },
    });
    expect(vendor.status).toBe(200);
  });

  it('answers 400 naming `body` for invalid JSON and for a missing body', async () => {
    const bad = await invoke(echo, { ...ok, body: '{"name":' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].field).toBe('body');
    expect(bad.body.error.issues[0].reason).toMatch(/invalid JSON/);
    const missing = await invoke(echo, { method: 'POST', pathParameters: { id: 'abc' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.issues).toEqual([{ field: 'body', reason: 'a JSON body is required' }]);
  });

  it('names nested body fields, and prefixes query and path fields', async () => {
    const nested = await invoke(echo, { ...ok, body: '{"name":"a","nested":{"n":1.5}}' });
    expect(nested.status).toBe(400);
    expect(nested.body.error.code).toBe('VALIDATION_ERROR');
    expect(nested.body.error.issues.map((i: { field: string }) => i.field)).toEqual(['nested.n']);
    const query = await invoke(echo, { ...ok, query: { limit: '0' } });
    expect(query.body.error.issues[0].field).toBe('query.limit');
    const path = await invoke(echo, { ...ok, pathParameters: { id: 'ABC' } });
    expect(path.body.error.issues[0].field).toBe('path.id');
  });

  it('names the offending point of an upsert body: points.2.vector', async () => {
    const upsert = httpHandler({ body: UpsertBodySchema }, async ({ body }) => body.points.length);
    const points = [
      { id: 1, vector: [1, 2] },
      { id: 'b', text: 'hello' },
      { id: 3, vector: 'not a vector' },
    ];
    const res = await invoke(upsert, { body: JSON.stringify({ points }) });
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([{ field: 'points.2.vector', reason: expect.any(String) }]);
    expect(res.body.error.message).toMatch(/^points\.2\.vector: /);
  });
});

describe('httpHandler: answers and errors', () => {
  it('lets a handler choose its status and headers', async () => {
    const created = httpHandler({}, async () => new HttpResult(201, { id: 1 }, { location: '/x/1' }));
    const res = await invoke(created);
    expect(res).toMatchObject({ status: 201, body: { id: 1 }, headers: { location: '/x/1' } });
  });

  it.each([
    [new NotFoundError('collection "x" does not exist'), 404, 'NOT_FOUND'],
    [new ConflictError('exists'), 409, 'CONFLICT'],
    [ValidationError.field('limit', 'too big'), 400, 'VALIDATION_ERROR'],
    [new UpstreamError('Qdrant failed (HTTP 503)', { retryable: true }), 502, 'UPSTREAM_ERROR'],
    [new ServiceUnavailableError('draining'), 503, 'SERVICE_UNAVAILABLE'],
  ])('maps %s to its status and code', async (error, status, code) => {
    const failing = httpHandler({}, async () => {
      throw error;
    });
    const res = await invoke(failing);
    expect(res.status).toBe(status);
    expect(res.body.error).toMatchObject({ code, message: error.message, requestId: 'req-123' });
  });

  it('writes BigInts (the Qdrant client parses integers beyond 2^53 so) as numbers', async () => {
    const big = { score: 2n ** 60n, nested: [{ n: -(2n ** 70n) }] };
    for (const handler of [
      httpHandler({}, async () => big),
      httpHandler({}, async () => new HttpResult(201, big)),
    ]) {
      const res = await invoke(handler);
      expect(res.status).toBeLessThan(300);
      expect(res.body).toEqual({ score: 2 ** 60, nested: [{ n: -(2 ** 70) }] });
    }
  });

  it('answers 405 with the allowed methods in `Allow`, naming the method', async () => {
    const failing = httpHandler({}, async () => {
      throw new MethodNotAllowedError('PATCH', '/x/1', ['GET', 'DELETE']);
    });
    const res = await invoke(failing);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, DELETE');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error).toMatchObject({
      code: 'METHOD_NOT_ALLOWED',
      issues: [{ field: 'method', reason: 'must be one of GET, DELETE' }],
    });
  });

  it('answers 500 with a request id and no message, stack or detail of an unexpected error', async () => {
    const failing = httpHandler({}, async () => {
      const err = new Error('connect to postgres://admin:hunter2@db failed');
      throw err;
    });
    const res = await invoke(failing);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      error: { code: 'INTERNAL_ERROR', message: 'Internal server error', requestId: 'req-123' },
    });
  });

  it('answers 500 without leaking when the configuration itself is invalid', async () => {
    // Not a missing Qdrant location: that is valid since functions granted no `qdrant` access read none.
    vi.stubEnv('MAX_BODY_BYTES', 'plenty');
    resetConfig();
    let ran = false;
    const res = await invoke(
      httpHandler({}, async () => {
        ran = true;
      }),
    );
    expect(ran).toBe(false);
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toMatch(/MAX_BODY_BYTES|plenty|configuration/);
  });

  it('with `config: false`, answers without any configuration (liveness, version)', async () => {
    vi.stubEnv('QDRANT_URL', undefined);
    resetConfig();
    const { handler: health } = await import('#functions/platform/health/handler.ts');
    expect(await invoke(health)).toMatchObject({ status: 200, body: { status: 'ok' } });
    // An OpenAI stage without the secret reference: version still answers from the environment alone.
    vi.stubEnv('EMBEDDER', 'openai');
    vi.stubEnv('STAGE', 'prod');
    const { handler: version } = await import('#functions/platform/version/handler.ts');
    const res = await invoke(version);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      service: 'vector-platform',
      stage: 'prod',
      embedding: { provider: 'openai', model: 'text-embedding-3-small', dimensions: 1536 },
    });
  });
});

describe('httpHandler: metrics', () => {
  it('counts every request, and client and server errors apart (Lambda sees them as successes)', async () => {
    const added = vi.spyOn(metrics, 'addMetric');
    await invoke(echo, ok);
    await invoke(echo, { ...ok, body: '{}' });
    await invoke(
      httpHandler({}, async () => {
        throw new Error('boom');
      }),
      {},
    );
    const names = added.mock.calls.map(([name]) => name);
    expect(names.filter((n) => n === 'Requests')).toHaveLength(3);
    expect(names.filter((n) => n === 'ClientErrors')).toHaveLength(1);
    expect(names.filter((n) => n === 'ServerErrors')).toHaveLength(1);
    added.mockRestore();
  });
});

describe('readJsonBody (property-based)', () => {
  it('reads back any JSON value, sent as text or as base64', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, base64) => {
        const text = JSON.stringify(value);
        const event = httpEvent({ body: text, base64 });
        expect(readJsonBody(event, Number.MAX_SAFE_INTEGER)).toEqual(JSON.parse(text));
      }),
    );
  });

  it('rejects any non-JSON text with a ValidationError naming `body`, never another error', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (text) => {
        let parsed = true;
        try {
          JSON.parse(text);
        } catch {
          parsed = false;
        }
        fc.pre(!parsed);
        const read = () => readJsonBody(httpEvent({ body: text }), Number.MAX_SAFE_INTEGER);
        expect(read).toThrow(ValidationError);
        try {
          read();
        } catch (err) {
          expect((err as ValidationError).issues[0]!.field).toBe('body');
        }
      }),
    );
  });
});

describe('authorization in the wrapper (the route role from ROUTE_ROLES, the claims from the JWT authorizer)', () => {
  const ping = httpHandler({ config: false }, async () => ({ ok: true }));
  const readonly = { sub: 'r', 'cognito:groups': '[readonly]', token_use: 'access' };

  it('a public route answers without claims', async () => {
    expect(await invoke(ping, { claims: null, routeRole: 'public' })).toMatchObject({ status: 200 });
  });

  it('401 on a protected route that got no verified claims, or an ID token', async () => {
    const none = await invoke(ping, { claims: null, routeRole: 'reader' });
    expect(none).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    expect(none.headers['www-authenticate']).toBe(
      'Bearer error="invalid_token", error_description="a bearer token is required"',
    );
    const idToken = await invoke(ping, { claims: { ...readonly, token_use: 'id' }, routeRole: 'reader' });
    expect(idToken).toMatchObject({
      status: 401,
      body: { error: { message: 'an access token is required' } },
    });
  });

  it('403 naming the role when the claims grant less; the handler is not run', async () => {
    const run = vi.fn(async () => ({}));
    const guarded = httpHandler({ config: false }, run);
    const res = await invoke(guarded, { claims: readonly, routeRole: 'admin', method: 'DELETE' });
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect(res.body.error.message).toBe('this route needs the admin role; the token grants reader');
    expect(run).not.toHaveBeenCalled();
    expect(await invoke(guarded, { claims: readonly, routeRole: 'reader' })).toMatchObject({ status: 200 });
  });

  it('403 for a route key the function was not declared for (nothing undeclared is reachable)', async () => {
    const event = httpEvent({ path: '/api/v1/elsewhere' });
    process.env.ROUTE_ROLES = JSON.stringify({ 'GET /api/v1/declared': 'public' });
    const res = await ping(event, {} as never);
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body ?? '').error.message).toBe(
      'route GET /api/v1/elsewhere is not declared for this function',
    );
  });

  it('415 for a body without a content type, naming the accepted types', async () => {
    const res = await invoke(echo, { body: '{"name":"a"}', headers: {} });
    expect(res).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    expect(res.body.error.message).toMatch(/application\/json/);
  });
});
