import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createInvoker, LambdaTimeoutError } from '#local/functions.ts';
import {
  collectHeaders,
  decodeRawPath,
  fromLambdaResult,
  isTextContentType,
  MalformedResultError,
  parseCookies,
  parseQueryString,
} from '#local/gateway.ts';
import { encodeEventKey, matchesNotification } from '#local/notifications.ts';
import { toErrorResponse } from '#shared/errors.ts';
import { compileRoutes, matchRoute, unroutedError } from '#shared/routes.ts';
import { fixtureManifest } from '../fixtures/gateway/manifest.ts';

/**
 * Properties of the parsers that read untrusted input in the local runtime: the request line,
 * headers and cookies the gateway turns into events, the results functions return, and the S3
 * object keys bucket notifications carry (the local S3's own parsers: test/unit/local-s3).
 */

const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const token = fc.stringMatching(/^[A-Za-z0-9!#$&'*+.^_`|~-]{1,10}$/);

describe('query strings', () => {
  it('decode every encoded key and value and join repeated keys with commas', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { maxLength: 8 }), (pairs) => {
        const raw = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const expected = new Map<string, string>();
        for (const [k, v] of pairs) expected.set(k, expected.has(k) ? `${expected.get(k)},${v}` : v);
        const parsed = parseQueryString(raw);
        if (pairs.length === 0) expect(parsed).toBeUndefined();
        else expect(new Map(Object.entries(parsed!))).toEqual(expected);
      }),
    );
  });

  it('never throw, and give strings only, whatever the raw query', () => {
    fc.assert(
      fc.property(fc.string(), (raw) => {
        const parsed = parseQueryString(raw) ?? {};
        for (const value of Object.values(parsed)) expect(typeof value).toBe('string');
      }),
    );
  });

  it('keep `__proto__` as a parameter, not a prototype', () => {
    const parsed = parseQueryString('__proto__=x&a=1')!;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(parsed.a).toBe('1');
  });
});

describe('headers and cookies', () => {
  it('lower-case header names and join repeated headers with commas, cookies apart', () => {
    const value = fc.stringMatching(/^[\x21-\x7e]{0,8}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(token, value), { maxLength: 10 }), (pairs) => {
        const { headers, cookieValues } = collectHeaders(pairs.flat());
        const expected = new Map<string, string>();
        const cookies: string[] = [];
        for (const [name, v] of pairs) {
          const key = name.toLowerCase();
          if (key === 'cookie') cookies.push(v);
          else if (
            !['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer'].includes(key)
          ) {
            expected.set(key, expected.has(key) ? `${expected.get(key)},${v}` : v);
          }
        }
        expect(new Map(Object.entries(headers))).toEqual(expected);
        expect(cookieValues).toEqual(cookies);
      }),
    );
  });

  it('split every Cookie header into its name=value pairs', () => {
    const cookie = fc
      .tuple(token, fc.stringMatching(/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{0,8}$/))
      .map(([n, v]) => `${n}=${v}`);
    fc.assert(
      fc.property(fc.array(fc.array(cookie, { minLength: 1, maxLength: 4 }), { maxLength: 3 }), (headers) => {
        expect(parseCookies(headers.map((h) => h.join('; ')))).toEqual(headers.flat());
      }),
    );
  });
});

describe('paths and routes', () => {
  const table = compileRoutes(fixtureManifest.routes);

  it('rawPath decodes every escape but %25', () => {
    fc.assert(
      fc.property(text, (s) => {
        expect(decodeRawPath(`/${encodeURIComponent(s)}`)).toBe(`/${s.replaceAll('%', '%25')}`);
      }),
    );
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(typeof decodeRawPath(s)).toBe('string');
      }),
    );
  });

  it('give back any path parameter value, decoded', () => {
    fc.assert(
      fc.property(
        text.filter((v) => v !== '' && v !== 'literal'),
        (v) => {
          expect(matchRoute(table, 'GET', `/echo/${encodeURIComponent(v)}`)).toMatchObject({
            route: { routeKey: 'GET /echo/{id}' },
            pathParameters: { id: v },
          });
        },
      ),
    );
  });

  it('give back any greedy path, segments decoded and joined', () => {
    fc.assert(
      fc.property(
        fc.array(
          text.filter((s) => s !== ''),
          { minLength: 1, maxLength: 5 },
        ),
        (segments) => {
          const match = matchRoute(table, 'GET', `/files/${segments.map(encodeURIComponent).join('/')}`);
          expect(match?.pathParameters).toEqual({ proxy: segments.join('/') });
        },
      ),
    );
  });

  it('pick the same route whatever the order routes are declared in', () => {
    const paths = [
      '/echo/literal',
      '/echo/x',
      '/items/special/sub',
      '/items/a/sub',
      '/files/a/b',
      '/nope',
      '/e%63ho/literal',
    ];
    const reference = paths.map((p) => matchRoute(table, 'GET', p)?.route.routeKey);
    expect(reference.slice(0, 5)).toEqual([
      'GET /echo/literal',
      'GET /echo/{id}',
      'GET /items/special/{name}',
      'GET /items/{id}/sub',
      'GET /files/{proxy+}',
    ]);
    expect(reference[5]).toBeUndefined();
    expect(reference[6]).toBe('GET /echo/literal');
    fc.assert(
      fc.property(
        fc.shuffledSubarray([...fixtureManifest.routes], { minLength: fixtureManifest.routes.length }),
        (routes) => {
          const shuffled = compileRoutes(routes);
          expect(paths.map((p) => matchRoute(shuffled, 'GET', p)?.route.routeKey)).toEqual(reference);
        },
      ),
    );
  });

  it('answer what no route takes in the platform error shape: 405 + Allow when the path has routes, else 404', () => {
    const methods = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'];
    // Segments of the fixture routes (some escaped), empty ones and anything else.
    const segment = fc.oneof(
      fc.constantFrom('echo', 'literal', 'items', 'special', 'sub', 'files', 'e%63ho', '', '7'),
      text.map(encodeURIComponent),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...methods, 'OPTIONS', 'HEAD'),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        (method, segments) => {
          const path = `/${segments.join('/')}`;
          const routed = methods.filter((m) => matchRoute(table, m, path) !== undefined);
          const res = toErrorResponse(unroutedError(table, method, path), 'req-1');
          const { error } = res.body as { error: { requestId: string } };
          expect(error.requestId).toBe('req-1');
          if (routed.length === 0) {
            expect(res.statusCode).toBe(404);
            expect(res.headers?.allow).toBeUndefined();
            expect(error).toMatchObject({ code: 'NOT_FOUND', issues: [{ field: 'path' }] });
          } else {
            expect(res.statusCode).toBe(405);
            expect(String(res.headers?.allow).split(', ').sort()).toEqual([...routed, 'OPTIONS'].sort());
            expect(error).toMatchObject({ code: 'METHOD_NOT_ALLOWED', issues: [{ field: 'method' }] });
          }
        },
      ),
    );
  });

  it('refuse malformed or duplicate route declarations', () => {
    const route = { method: 'GET', function: 'echo', role: 'public' } as const;
    expect(() => compileRoutes([{ ...route, path: 'no-slash' }])).toThrow();
    expect(() => compileRoutes([{ ...route, path: '/a/{proxy+}/b' }])).toThrow();
    expect(() => compileRoutes([{ ...route, path: '/a/{bad' }])).toThrow();
    expect(() =>
      compileRoutes([
        { ...route, path: '/a' },
        { ...route, path: '/a' },
      ]),
    ).toThrow(/Duplicate/);
  });
});

describe('bodies and results', () => {
  it('treat exactly text/*, JSON, XML and JavaScript as text', () => {
    fc.assert(
      fc.property(fc.string(), (ct) => {
        expect(isTextContentType(ct)).toBe(
          /^\s*text\//i.test(ct) || /^\s*application\/(json|xml|javascript)\s*(;|$)/i.test(ct),
        );
      }),
    );
    expect(isTextContentType('Text/HTML; charset=utf-8')).toBe(true);
    expect(isTextContentType('application/json')).toBe(true);
    expect(isTextContentType('application/octet-stream')).toBe(false);
    expect(isTextContentType(undefined)).toBe(false);
  });

  it('turn any JSON result into a response or a MalformedResultError, nothing else', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.record({ statusCode: fc.jsonValue(), body: fc.jsonValue() })),
        (result) => {
          try {
            const response = fromLambdaResult(result);
            expect(response.statusCode).toBeGreaterThanOrEqual(100);
            expect(Buffer.isBuffer(response.body)).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(MalformedResultError);
          }
        },
      ),
    );
  });
});

describe('S3 notifications', () => {
  it('encode event keys so that unquote_plus gives the key back', () => {
    fc.assert(
      fc.property(text, (k) => {
        const encoded = encodeEventKey(k);
        expect(encoded).not.toContain(' ');
        expect(decodeURIComponent(encoded.replaceAll('+', ' '))).toBe(k);
      }),
    );
    expect(encodeEventKey('exports/task vectors (1).json')).toBe('exports/task+vectors+(1).json');
  });

  it('match notifications on prefix and suffix', () => {
    expect(matchesNotification({ prefix: 'exports/', suffix: '.json' }, 'exports/a.json')).toBe(true);
    expect(matchesNotification({ prefix: 'exports/', suffix: '.json' }, 'exports/a.jsonl')).toBe(false);
    expect(matchesNotification({ prefix: 'exports/' }, 'other/a.json')).toBe(false);
  });
});

describe('function invoker', () => {
  const invoke = createInvoker(fixtureManifest, { rootDir: resolve(import.meta.dirname, '../..') });

  it("rejects past the function's timeout with Lambda's message", async () => {
    const err = await invoke('sleeps', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LambdaTimeoutError);
    expect((err as Error).message).toBe('Task timed out after 1.00 seconds');
  });

  it('rejects an undeclared function', async () => {
    await expect(invoke('nope', {})).rejects.toThrow(/not declared/);
  });
});
