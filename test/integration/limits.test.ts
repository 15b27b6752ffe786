import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Limits, type Manifest, manifest } from '#infra/manifest.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { RATE_LIMITED_BODY } from '#shared/edge.ts';

/**
 * The manifest's limits hold in the local gateway, with small numbers so a test can reach them:
 * a burst over the stage throttle gets API Gateway's 429, a client over its per-minute count gets
 * the edge's 429 (the platform's shape, `Retry-After`) while another client is unaffected, the
 * overall count stops everyone, a route's own throttle applies to it alone, and traffic under
 * the limits is never refused.
 */

const dirs: string[] = [];
const runtimes: LocalRuntime[] = [];

async function runtimeWith(
  limits: Limits,
  routes: Manifest['routes'] = manifest.routes,
): Promise<LocalRuntime> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vp-limits-'));
  dirs.push(dataDir);
  const rt = await startLocalRuntime({
    dataDir,
    port: 0,
    quiet: true,
    manifest: { ...manifest, limits, routes },
  });
  runtimes.push(rt);
  return rt;
}

afterAll(async () => {
  await Promise.all(runtimes.map((rt) => rt.stop()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

/** A GET from a chosen loopback source address (a different client IP for the gateway). */
function get(url: string, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: res.headers['retry-after'],
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GENEROUS = 1_000_000;

describe('stage throttle (API Gateway token bucket)', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await runtimeWith({
      stage: { ratePerSecond: 20, burst: 10 },
      overallPerMinute: GENEROUS,
      perClientPerMinute: GENEROUS,
    });
  });

  it('a burst over it gets 429 beyond the bucket; paced traffic under the rate is never refused', async () => {
    const started = performance.now();
    const burst = await Promise.all(Array.from({ length: 40 }, () => get(`${rt.apiUrl}/api/v1/health`)));
    const seconds = (performance.now() - started) / 1000;
    const passed = burst.filter((a) => a.status === 200).length;
    // The bucket's 10, plus what it refilled while the burst was being served.
    expect(passed).toBeGreaterThanOrEqual(10);
    expect(passed).toBeLessThanOrEqual(10 + Math.ceil(20 * seconds) + 1);
    const refused = burst.filter((a) => a.status !== 200);
    expect(refused.length).toBe(40 - passed);
    for (const a of refused) {
      expect(a.status).toBe(429);
      expect(JSON.parse(a.body)).toEqual({ message: 'Too Many Requests' });
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }

    await sleep(600); // refills the bucket (20/s)
    for (let i = 0; i < 15; i++) {
      expect((await get(`${rt.apiUrl}/api/v1/health`)).status).toBe(200);
      await sleep(100); // 10 requests a second, half the rate
    }
  });
});

describe('per-client and overall limits (WAF rate rules)', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await runtimeWith({
      stage: { ratePerSecond: GENEROUS, burst: GENEROUS },
      overallPerMinute: 30,
      perClientPerMinute: 20,
    });
  });

  it("a client over its count gets the platform's 429 with Retry-After; another client is unaffected until the overall count", async () => {
    const first: Answer[] = [];
    for (let i = 0; i < 25; i++) first.push(await get(`${rt.apiUrl}/api/v1/health`, '127.0.0.1'));
    expect(first.slice(0, 20).every((a) => a.status === 200)).toBe(true);
    for (const a of first.slice(20)) {
      expect(a.status).toBe(429);
      expect(JSON.parse(a.body)).toEqual(RATE_LIMITED_BODY);
      const retry = Number(a.retryAfter);
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(60);
    }

    // Another address: its own count; the 20 requests of the first one count overall.
    const second: Answer[] = [];
    for (let i = 0; i < 12; i++) second.push(await get(`${rt.apiUrl}/api/v1/health`, '127.0.0.2'));
    expect(second.slice(0, 10).map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(second.slice(10).map((a) => a.status)).toEqual([429, 429]);
    expect(JSON.parse(second[11]!.body)).toEqual(RATE_LIMITED_BODY);
  });
});

describe("a route's own throttle", () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    const routes = manifest.routes.map((r) =>
      r.path === '/api/v1/version' ? { ...r, throttle: { ratePerSecond: 1, burst: 3 } } : r,
    );
    rt = await runtimeWith(
      {
        stage: { ratePerSecond: GENEROUS, burst: GENEROUS },
        overallPerMinute: GENEROUS,
        perClientPerMinute: GENEROUS,
      },
      routes,
    );
  });

  it('applies to that route only', async () => {
    const version = await Promise.all(Array.from({ length: 8 }, () => get(`${rt.apiUrl}/api/v1/version`)));
    const passed = version.filter((a) => a.status === 200).length;
    expect(passed).toBeGreaterThanOrEqual(3);
    expect(passed).toBeLessThan(8);
    expect(version.filter((a) => a.status === 429).length).toBe(8 - passed);
    const health = await Promise.all(Array.from({ length: 8 }, () => get(`${rt.apiUrl}/api/v1/health`)));
    expect(health.map((a) => a.status)).toEqual(Array(8).fill(200));
  });
});
