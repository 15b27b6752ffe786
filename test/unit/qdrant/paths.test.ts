import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/**
 * A request sent with its target exactly as written: fetch would resolve `.` and `..` segments
 * on the client side, before the server could get them wrong.
 */
function send(method: string, path: string, body?: unknown): Promise<{ status: number; error?: string }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port: h.server.port,
        method,
        path,
        headers: text === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            status: string | { error: string };
          };
          resolve({
            status: res.statusCode ?? -1,
            ...(typeof parsed.status === 'object' ? { error: parsed.status.error } : {}),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

describe('paths are matched literally', () => {
  beforeEach(async () => {
    if (!(await h.client.collectionExists('x')).exists) {
      await h.client.createCollection('x', { vectors: { size: 2, distance: 'Dot' } });
    }
  });

  it('never resolves `..` or `.` segments into another route', async () => {
    for (const path of ['/collections/x/index/..', '/collections/x/index/%2e%2e', '/collections/x/index/.']) {
      const answer = await send('DELETE', path);
      expect(answer.status).toBe(400);
      expect(answer.error).toMatch(
        /^Deserialize error in path parameters: Invalid json path: '\.\.?' at field_name$/,
      );
    }
    expect((await send('DELETE', '/collections/x/points/..')).status).toBe(405);
    expect(await send('GET', '/collections/x/..')).toMatchObject({ status: 404 });
    expect(await send('GET', '/collections/x/./exists')).toMatchObject({ status: 404 });
    expect(await h.client.collectionExists('x')).toEqual({ exists: true });
  });

  it('takes `..` as a collection name, not as the parent path', async () => {
    expect(await send('DELETE', '/collections/..')).toEqual({ status: 200 });
    expect(await send('GET', '/collections/x/points/..')).toMatchObject({ status: 400 });
    expect(await send('GET', '/collections/../collections/x')).toMatchObject({ status: 404 });
    expect(await h.client.collectionExists('x')).toEqual({ exists: true });
  });

  it('matches no route with an empty segment or a trailing slash', async () => {
    expect((await send('GET', '/collections//exists')).status).toBe(404);
    expect((await send('GET', '/collections/x/')).status).toBe(404);
    expect((await send('DELETE', '/collections/x/')).status).toBe(404);
    expect(await h.client.collectionExists('x')).toEqual({ exists: true });
  });
});

describe('collection names in paths', () => {
  const long = 'n'.repeat(256);
  const lengthError = `Validation error in path parameters: [name: value "${long}" invalid, must be from 1 to 255 characters]`;

  it('are at most 255 characters on every route, not only on create', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', `/collections/${long}`],
      ['GET', `/collections/${long}/exists`],
      ['GET', `/collections/${long}/aliases`],
      ['PUT', `/collections/${long}`, { vectors: { size: 2, distance: 'Dot' } }],
      ['PATCH', `/collections/${long}`, {}],
      ['DELETE', `/collections/${long}`],
      ['PUT', `/collections/${long}/index`, { field_name: 'a', field_schema: 'keyword' }],
      ['DELETE', `/collections/${long}/index/a`],
      ['GET', `/collections/${long}/points/1`],
      ['POST', `/collections/${long}/points`, { ids: [1] }],
      ['PUT', `/collections/${long}/points`, { points: [] }],
      ['POST', `/collections/${long}/points/delete`, { points: [1] }],
      ['POST', `/collections/${long}/points/payload`, { payload: {}, points: [1] }],
      ['PUT', `/collections/${long}/points/payload`, { payload: {}, points: [1] }],
      ['POST', `/collections/${long}/points/payload/delete`, { keys: ['a'], points: [1] }],
      ['POST', `/collections/${long}/points/payload/clear`, { points: [1] }],
      ['POST', `/collections/${long}/points/scroll`, {}],
      ['POST', `/collections/${long}/points/count`, {}],
      ['POST', `/collections/${long}/points/query`, {}],
      ['POST', `/collections/${long}/points/query/batch`, { searches: [] }],
    ];
    for (const [method, path, body] of routes) {
      expect({ method, path, ...(await send(method, path, body)) }).toEqual({
        method,
        path,
        status: 422,
        error: lengthError,
      });
    }
  });

  it('count characters, not UTF-16 units', async () => {
    const emoji = '😀'.repeat(255);
    expect(await send('GET', `/collections/${encodeURIComponent(emoji)}/exists`)).toEqual({ status: 200 });
  });
});

describe('the timeout query parameter', () => {
  it('is at least 1 (422) and an unsigned integer (400)', async () => {
    await h.client.createCollection('t', { vectors: { size: 2, distance: 'Dot' } });
    expect(await send('POST', '/collections/t/points/query?timeout=0', {})).toEqual({
      status: 422,
      error: 'Validation error in query parameters: [timeout: value 0 invalid, must be 1 or larger]',
    });
    expect((await send('PUT', '/collections/t/points?wait=true&timeout=0', { points: [] })).status).toBe(422);
    expect((await send('DELETE', '/collections/t?timeout=0')).status).toBe(422);
    expect(await send('POST', '/collections/t/points/count?timeout=soon', {})).toEqual({
      status: 400,
      error: 'Deserialize error in query parameters: timeout: invalid digit found in string',
    });
    expect((await send('POST', '/collections/t/points/count?timeout=-1', {})).status).toBe(400);
    expect((await send('POST', '/collections/t/points/count?timeout=18446744073709551616', {})).status).toBe(
      400,
    );
    expect(await send('POST', '/collections/t/points/count?timeout=30', {})).toEqual({ status: 200 });
    // Routes without the parameter ignore it, as serde ignores unknown query fields.
    expect(await send('GET', '/collections/t?timeout=0')).toEqual({ status: 200 });
    expect(await h.client.collectionExists('t')).toEqual({ exists: true });
  });
});
