import { mkdtemp, rm } from 'node:fs/promises';
import { type IncomingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BYTES, startGateway } from '#local/gateway.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { fixtureManifest } from '../fixtures/gateway/manifest.ts';

/**
 * The local API Gateway end to end: the runtime boots with a manifest of fixture handlers and
 * the tests check, over real HTTP, the payload format 2.0 event each handler receives and how
 * each kind of result becomes the HTTP response, as API Gateway (HTTP API) does it.
 */

let dataDir: string;
let runtime: LocalRuntime;

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A request exactly as given (repeated headers, path bytes), which fetch would normalise. */
function raw(
  method: string,
  path: string,
  opts: { headers?: Array<[string, string]>; body?: Buffer | string | Readable } = {},
): Promise<RawResponse> {
  const url = new URL(runtime.apiUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        // Raw header lists get no default Host header. Keep-alive (the default agent) as browsers
        // and SDKs do: a server answering early (413) may otherwise close under the upload.
        headers: [['Host', url.host], ...(opts.headers ?? [])].flat(),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

interface Echo {
  event: APIGatewayProxyEventV2;
  context: Record<string, unknown>;
}

const echoOf = (res: RawResponse) => JSON.parse(res.body.toString('utf8')) as Echo;

/** Posts the Lambda result the `respond` fixture must return. */
const respondWith = (result: unknown) =>
  raw('POST', '/respond', { headers: [['content-type', 'application/json']], body: JSON.stringify(result) });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-gateway-'));
  // The fixture handlers never use Qdrant: point at an unused address instead of starting one.
  runtime = await startLocalRuntime({
    dataDir,
    port: 0,
    manifest: fixtureManifest,
    qdrantUrl: 'http://127.0.0.1:9',
    quiet: true,
  });
});

afterAll(async () => {
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('request → payload format 2.0 event', () => {
  it('builds the event as API Gateway does: query, cookies, headers, path parameters, context', async () => {
    const before = Date.now();
    const res = await raw('GET', '/echo/a%20b%2Fc%C3%A9?x=1&x=2&q=hello+world&enc=%C3%A9%26%3D&flag&empty=', {
      headers: [
        ['X-Multi', 'a'],
        ['x-multi', 'b'],
        ['Cookie', 'session=abc; theme=dark'],
        ['Cookie', 'lang=fr'],
        ['User-Agent', 'gateway-test/1.0'],
        ['X-Mixed-Case', 'Value'],
      ],
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const { event, context } = echoOf(res);

    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('GET /echo/{id}');
    expect(event.rawPath).toBe('/echo/a b/cé');
    expect(event.rawQueryString).toBe('x=1&x=2&q=hello+world&enc=%C3%A9%26%3D&flag&empty=');
    expect(event.queryStringParameters).toEqual({
      x: '1,2',
      q: 'hello world',
      enc: 'é&=',
      flag: '',
      empty: '',
    });
    expect(event.pathParameters).toEqual({ id: 'a b/cé' });
    expect(event.cookies).toEqual(['session=abc', 'theme=dark', 'lang=fr']);
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event.headers['x-multi']).toBe('a,b');
    expect(event.headers['x-mixed-case']).toBe('Value');
    expect(Object.keys(event.headers).every((k) => k === k.toLowerCase())).toBe(true);
    expect(event.headers['x-forwarded-proto']).toBe('http');
    expect(event.headers['x-amzn-trace-id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(event).not.toHaveProperty('body');
    expect(event.isBase64Encoded).toBe(false);

    const rc = event.requestContext;
    expect(rc.routeKey).toBe('GET /echo/{id}');
    expect(rc.stage).toBe('$default');
    expect(rc.http).toEqual({
      method: 'GET',
      path: '/echo/a b/cé',
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'gateway-test/1.0',
    });
    expect(rc.domainName).toBe('127.0.0.1');
    expect(rc.accountId).toMatch(/^\d{12}$/);
    expect(rc.apiId).toMatch(/^[a-z0-9]+$/);
    expect(rc.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(rc.timeEpoch).toBeGreaterThanOrEqual(before);
    expect(rc.requestId).toBe(res.headers['apigw-requestid']);

    expect(context).toMatchObject({
      functionName: 'fixture-platform-echo',
      functionVersion: '$LATEST',
      memoryLimitInMB: '192',
      logGroupName: '/aws/lambda/fixture-platform-echo',
      callbackWaitsForEmptyEventLoop: true,
    });
    expect(context.invokedFunctionArn).toMatch(
      /^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:fixture-platform-echo$/,
    );
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(context.remainingMs).toBeGreaterThan(0);
    expect(context.remainingMs).toBeLessThanOrEqual(5_000);
  });

  it('leaves out query parameters, cookies, path parameters and body when there are none', async () => {
    const { event } = echoOf(await raw('POST', '/echo'));
    expect(event.routeKey).toBe('POST /echo');
    expect(event.rawQueryString).toBe('');
    for (const field of ['queryStringParameters', 'cookies', 'pathParameters', 'body']) {
      expect(event).not.toHaveProperty(field);
    }
  });

  it('passes textual bodies as strings and base64-encodes everything else', async () => {
    const json = echoOf(
      await raw('POST', '/echo', { headers: [['content-type', 'application/json']], body: '{"é":1}' }),
    ).event;
    expect(json).toMatchObject({ body: '{"é":1}', isBase64Encoded: false });

    const text = echoOf(
      await raw('POST', '/echo', { headers: [['content-type', 'text/plain; charset=utf-8']], body: 'plain' }),
    ).event;
    expect(text).toMatchObject({ body: 'plain', isBase64Encoded: false });

    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const binary = echoOf(
      await raw('POST', '/echo', { headers: [['content-type', 'application/octet-stream']], body: bytes }),
    ).event;
    expect(binary.isBase64Encoded).toBe(true);
    expect(Buffer.from(binary.body!, 'base64').equals(bytes)).toBe(true);

    // API Gateway HTTP APIs base64-encode form bodies and bodies without a content type too.
    const form = echoOf(
      await raw('POST', '/echo', {
        headers: [['content-type', 'application/x-www-form-urlencoded']],
        body: 'a=1&b=2',
      }),
    ).event;
    expect(form).toMatchObject({ body: Buffer.from('a=1&b=2').toString('base64'), isBase64Encoded: true });
    const untyped = echoOf(await raw('POST', '/echo', { body: 'x' })).event;
    expect(untyped).toMatchObject({ body: Buffer.from('x').toString('base64'), isBase64Encoded: true });
  });

  it('routes to the most specific route, literal segments first, greedy last', async () => {
    const literal = await raw('GET', '/echo/literal');
    expect(literal.body.toString()).toBe('null'); // the `respond` fixture, not the echo of /echo/{id}

    expect(echoOf(await raw('GET', '/items/special/sub')).event).toMatchObject({
      routeKey: 'GET /items/special/{name}',
      pathParameters: { name: 'sub' },
    });
    expect(echoOf(await raw('GET', '/items/other/sub')).event).toMatchObject({
      routeKey: 'GET /items/{id}/sub',
      pathParameters: { id: 'other' },
    });
    expect(echoOf(await raw('GET', '/files/a/b%20c/d.txt')).event).toMatchObject({
      routeKey: 'GET /files/{proxy+}',
      pathParameters: { proxy: 'a/b c/d.txt' },
    });
    expect(echoOf(await raw('PUT', '/echo/7')).event.routeKey).toBe('PUT /echo/{id}');
  });

  it('answers an unknown path with 404 in the platform error shape', async () => {
    for (const path of ['/nowhere', '/files', '/echo/1/extra']) {
      const res = await raw('GET', path);
      expect(res.status, path).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      // Answered by the default route's function: the request id is its invocation's.
      expect(JSON.parse(res.body.toString())).toEqual({
        error: {
          code: 'NOT_FOUND',
          message: `no route for GET ${path}`,
          issues: [{ field: 'path', reason: 'no route matches this path' }],
          requestId: expect.any(String),
        },
      });
    }
  });

  it('answers a routed path with another method with 405 and the path’s methods in `Allow`', async () => {
    const res = await raw('DELETE', '/echo/1');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, PUT, OPTIONS');
    expect(JSON.parse(res.body.toString()).error).toMatchObject({
      code: 'METHOD_NOT_ALLOWED',
      issues: [{ field: 'method', reason: 'must be one of GET, PUT, OPTIONS' }],
    });
    // Literal and parameterised routes of one path count together.
    expect((await raw('POST', '/echo/literal')).headers.allow).toBe('GET, PUT, OPTIONS');
  });
});

describe('function result → HTTP response', () => {
  it('applies a structured result: status, headers, multi-value headers, cookies, body', async () => {
    const res = await respondWith({
      statusCode: 201,
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Custom': 'v', 'X-Count': 3 },
      multiValueHeaders: { 'X-Multi': ['a', 'b'] },
      cookies: ['session=abc; Path=/; HttpOnly', 'theme=dark'],
      body: 'created',
    });
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['x-custom']).toBe('v');
    expect(res.headers['x-count']).toBe('3');
    expect(res.headers['x-multi']).toBe('a,b');
    expect(res.headers['set-cookie']).toEqual(['session=abc; Path=/; HttpOnly', 'theme=dark']);
    // No Origin, no CORS header; the edge's security headers on every answer.
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.toString()).toBe('created');
  });

  it('decodes a base64 body', async () => {
    const bytes = Buffer.from([0, 255, 1, 254, 137, 80, 78, 71]);
    const res = await respondWith({
      statusCode: 200,
      headers: { 'content-type': 'image/png' },
      body: bytes.toString('base64'),
      isBase64Encoded: true,
    });
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.body.equals(bytes)).toBe(true);
  });

  it('turns a non-structured result into a 200 JSON response', async () => {
    const object = await respondWith({ message: 'hi' });
    expect(object.status).toBe(200);
    expect(object.headers['content-type']).toBe('application/json');
    expect(object.body.toString()).toBe('{"message":"hi"}');
    expect((await respondWith([1, 2])).body.toString()).toBe('[1,2]');
    const text = await respondWith('plain string');
    expect(text.status).toBe(200);
    expect(text.body.toString()).toBe('plain string');
  });

  it('answers an empty structured result with its status and no body', async () => {
    const res = await respondWith({ statusCode: 204 });
    expect(res.status).toBe(204);
    expect(res.body.length).toBe(0);
  });

  it('settles a callback-style handler through its callback', async () => {
    const res = await raw('GET', '/callback');
    expect(res.status).toBe(201);
    expect(res.body.toString()).toBe('via callback');
  });
});

describe('errors as API Gateway reports them', () => {
  const internal = { message: 'Internal Server Error' };

  it('500 for a malformed result, without details', async () => {
    for (const bad of [
      { statusCode: 'abc' },
      { statusCode: 200, body: { not: 'a string' } },
      { statusCode: 99 },
    ]) {
      const res = await respondWith(bad);
      expect(res.status, JSON.stringify(bad)).toBe(500);
      expect(JSON.parse(res.body.toString())).toEqual(internal);
    }
  });

  it('500 when the handler throws, and nothing of the error reaches the client', async () => {
    const res = await raw('GET', '/throw');
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body.toString())).toEqual(internal);
    expect(res.body.toString()).not.toContain('secret');
  });

  it('500 when the result exceeds the Lambda response limit (6 MB)', async () => {
    const res = await respondWith('x'.repeat(6 * 1024 * 1024 + 1));
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body.toString())).toEqual(internal);
  });

  it('503 when the function runs past its timeout', async () => {
    const res = await raw('GET', '/slow');
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body.toString())).toEqual({ message: 'Service Unavailable' });
  });

  it('accepts a body of exactly 10 MB and refuses one byte more with 413', async () => {
    const octets = [['content-type', 'application/octet-stream']] as Array<[string, string]>;
    const atLimit = await raw('POST', '/size', { headers: octets, body: Buffer.alloc(MAX_REQUEST_BYTES, 7) });
    expect(atLimit.status).toBe(200);
    expect(JSON.parse(atLimit.body.toString())).toEqual({ bytes: MAX_REQUEST_BYTES, isBase64Encoded: true });

    const over = await raw('POST', '/size', {
      headers: octets,
      body: Buffer.alloc(MAX_REQUEST_BYTES + 1, 7),
    });
    expect(over.status).toBe(413);
    expect(JSON.parse(over.body.toString())).toEqual({ message: 'Request Entity Too Large' });
  });

  it('413 for a chunked body that grows past 10 MB, without waiting for its end', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 1);
    let sent = 0;
    // An endless body: only an answer given while it is still being sent can end this test.
    const endless = new Readable({
      read() {
        sent += chunk.length;
        this.push(chunk);
      },
    });
    const url = new URL(runtime.apiUrl);
    const res = await new Promise<RawResponse>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/size',
          // A keep-alive connection: with `connection: close` the server may close it under the upload.
          headers: { 'content-type': 'application/octet-stream', connection: 'keep-alive' },
        },
        (response) => {
          // Like a real client: stop uploading once the server has answered.
          endless.unpipe(req);
          endless.destroy();
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('end', () => {
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks),
            });
            req.destroy();
          });
        },
      );
      req.on('error', (err) => {
        if (!endless.destroyed) reject(err);
      });
      endless.pipe(req);
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body.toString())).toEqual({ message: 'Request Entity Too Large' });
    expect(sent).toBeGreaterThan(MAX_REQUEST_BYTES);
  });
});

describe('CORS', () => {
  it('answers a preflight from an allowed (loopback) origin with the methods and headers routes use', async () => {
    const res = await raw('OPTIONS', '/echo/42', {
      headers: [
        ['Origin', 'http://localhost:5173'],
        ['Access-Control-Request-Method', 'PUT'],
        ['Access-Control-Request-Headers', 'content-type,authorization'],
      ],
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    const methods = [...new Set(fixtureManifest.routes.map((r) => r.method))].sort();
    expect(res.headers['access-control-allow-methods']?.split(',').sort()).toEqual(methods);
    expect(res.headers['access-control-allow-headers']).toBe('authorization,content-type,x-correlation-id');
  });

  it('without a default route, API Gateway answers what no route takes itself: 404 {"message":"Not Found"}', async () => {
    const bare = await startGateway({
      manifest: { routes: fixtureManifest.routes, limits: fixtureManifest.limits },
      auth: { kind: 'off', claims: {} },
      invoke: async () => {
        throw new Error('no function is invoked for an unrouted request');
      },
    });
    try {
      for (const method of ['GET', 'DELETE']) {
        const res = await fetch(`${bare.url}/echo/1/extra`, { method });
        expect(res.status).toBe(404);
        expect(await res.json()).toEqual({ message: 'Not Found' });
      }
    } finally {
      await bare.close();
    }
  });

  it('answers every preflight itself, as API Gateway does once CORS is configured', async () => {
    const res = await raw('OPTIONS', '/nowhere', { headers: [['Origin', 'http://localhost:5173']] });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('http://localhost:5173');
  });

  it('never echoes an origin it does not allow, on a preflight or an answer', async () => {
    for (const origin of ['https://evil.example', 'http://localhost.evil.example', 'null']) {
      const preflight = await raw('OPTIONS', '/echo/42', {
        headers: [
          ['Origin', origin],
          ['Access-Control-Request-Method', 'PUT'],
        ],
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
      const get = await raw('GET', '/echo/42', { headers: [['Origin', origin]] });
      expect(get.status).toBe(200);
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
    }
  });
});
