import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { QdrantClient } from '@qdrant/js-client-rest';
import { startCloudWatchEndpoint } from '#local/cloudwatch.ts';
import { LocalIam } from '#local/iam.ts';
import { MetricRecorder, recordApiRequest } from '#local/metrics.ts';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import type { Config } from '#shared/config.ts';
import { defaults, resetConfigCache } from '#shared/managers/config-store.ts';
import type { Gauge } from '#shared/managers/contract.ts';
import type { ManagerContext } from '#shared/managers/contract-handler.ts';
import { apiGateway } from '#shared/managers/impl/api-gateway.ts';
import { vectorization } from '#shared/managers/impl/vectorization.ts';
import type { ManagerConfig, ManagerId } from '#shared/managers/specs.ts';
import { setEnv, tempDir, UNSET_PLATFORM_ENV } from './support.ts';

/**
 * The managers whose figures come from another service, against the local ones the runtime
 * serves them with (no runtime): vectorization against the embedded Qdrant server (behind a proxy
 * that can slow its queries down), the API gateway against the local CloudWatch endpoint fed
 * with requests as the local gateway records them.
 */

let dir: { path: string; cleanup(): Promise<void> };
let restoreEnv: () => void;

beforeAll(async () => {
  dir = await tempDir('vp-manager-services-');
  restoreEnv = setEnv({ ...UNSET_PLATFORM_ENV, STATE_DIR: dir.path });
});
afterAll(async () => {
  restoreEnv();
  await dir.cleanup();
});
beforeEach(() => resetConfigCache());

function ctxOf<I extends ManagerId>(
  id: I,
  config: Partial<ManagerConfig<I>>,
  app: Partial<Config> = {},
): ManagerContext<I> {
  return {
    id,
    config: { ...defaults(id), ...config } as ManagerConfig<I>,
    app: {
      stage: 'test',
      version: '0.0.0',
      defaultCollection: 'vectors',
      embedder: { provider: 'local', model: 'local-hash-v1', dimensions: 384 },
      maxBodyBytes: 1024 * 1024,
      state: { dir: dir.path },
      s3ForcePathStyle: false,
      ...app,
    },
  };
}

const listen = (server: Server) =>
  new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('vectorization', () => {
  let qdrant: QdrantServer;
  let proxy: Server;
  let proxyUrl: string;
  /** Milliseconds the proxy holds each query back. */
  let queryDelayMs = 0;

  beforeAll(async () => {
    qdrant = await startQdrantServer({ dataDir: join(dir.path, 'qdrant') });
    proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      if (req.url?.includes('/points/query')) await new Promise((r) => setTimeout(r, queryDelayMs));
      const body = Buffer.concat(chunks);
      const upstream = await fetch(`${qdrant.url}${req.url}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(body.length > 0 ? { body } : {}),
      });
      res.writeHead(upstream.status, {
        'content-type': upstream.headers.get('content-type') ?? 'application/json',
      });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    proxyUrl = await listen(proxy);
  });
  afterAll(async () => {
    await close(proxy);
    await qdrant.close();
  });
  afterEach(() => {
    queryDelayMs = 0;
  });

  const ctx = (config: Partial<ManagerConfig<'vectorization'>> = {}, url = proxyUrl) =>
    ctxOf('vectorization', config, { qdrant: { url } });

  it('with no collection: Qdrant answers, and there is nothing to query', async () => {
    const checks = await vectorization.checks(ctx());
    expect(checks.map((c) => [c.name, c.status, c.detail])).toEqual([
      ['qdrant', 'healthy', '0 collections'],
      ['qdrant-query', 'healthy', 'no collection to query'],
    ]);
    expect(await vectorization.gauges(ctx())).toEqual([
      { name: 'vectorization_collections', help: 'Collections in Qdrant', value: 0 },
    ]);
    expect(await vectorization.collections?.(ctx())).toEqual([]);
  });

  it('counts collections and points, queries one, and is degraded when a query is slower than its bound', async () => {
    const client = new QdrantClient({ url: qdrant.url, checkCompatibility: false });
    for (const [name, points] of [
      ['tasks', 3],
      ['plans', 1],
    ] as const) {
      await client.createCollection(name, { vectors: { size: 4, distance: 'Cosine' } });
      await client.upsert(name, {
        wait: true,
        points: Array.from({ length: points }, (_, i) => ({ id: i + 1, vector: [1, i, 0, 1] })),
      });
    }

    const gauges = await vectorization.gauges(ctx());
    expect(gauges.find((g: Gauge) => g.name === 'vectorization_collections')?.value).toBe(2);
    expect(
      Object.fromEntries(
        gauges.filter((g) => g.name === 'vectorization_points').map((g) => [g.labels?.collection, g.value]),
      ),
    ).toEqual({ tasks: 3, plans: 1 });
    expect(await vectorization.collections?.(ctx())).toEqual(['plans', 'tasks']);

    const healthy = await vectorization.checks(ctx({ degradedAboveMs: 10_000 }));
    expect(healthy.map((c) => [c.name, c.status])).toEqual([
      ['qdrant', 'healthy'],
      ['qdrant-query', 'healthy'],
    ]);
    expect(healthy[0]?.detail).toBe('2 collections');
    expect(healthy[1]?.detail).toMatch(/^queried (tasks|plans)$/);

    queryDelayMs = 60;
    const slow = await vectorization.checks(ctx({ degradedAboveMs: 20 }));
    expect(slow[1]?.status).toBe('degraded');
    expect(slow[1]?.detail).toMatch(/^a query took \d+ ms \(over 20 ms\)$/);
    expect(Number(/took (\d+)/.exec(slow[1]!.detail!)?.[1])).toBeGreaterThanOrEqual(55);
  });

  it('Qdrant unreachable: one unhealthy check, the query is not tried', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await close(closed);
    const checks = await vectorization.checks(ctx({}, url));
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ name: 'qdrant', status: 'unhealthy' });
    expect(checks[0]?.detail).toBeTruthy();
  });
});

describe('api-gateway', () => {
  const api = { id: 'api-test', stage: '$default' };
  const ROUTES = [
    { method: 'GET', resource: '/api/v1/vectors/collections' },
    { method: 'POST', resource: '/api/v1/vectors/search' },
    { method: 'GET', resource: '/api/v1/unused' },
  ];
  let recorder: MetricRecorder;
  let cloudwatch: { url: string; close(): Promise<void> };
  let restore: () => void;

  beforeAll(async () => {
    recorder = new MetricRecorder();
    cloudwatch = await startCloudWatchEndpoint({ recorder, iam: new LocalIam() });
    restore = setEnv({
      AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      HTTP_API_ID: api.id,
      HTTP_API_STAGE: api.stage,
    });
    // 20 fast reads, 2 of them refused (4xx); 10 slow searches, 1 of them a 5xx.
    for (let i = 0; i < 20; i++) {
      recordApiRequest(recorder, api, { route: ROUTES[0], status: i < 2 ? 429 : 200, latencyMs: 40 });
    }
    for (let i = 0; i < 10; i++) {
      recordApiRequest(recorder, api, { route: ROUTES[1], status: i === 0 ? 502 : 200, latencyMs: 900 });
    }
  });
  afterAll(async () => {
    restore();
    await cloudwatch.close();
  });

  it('per route: requests, 4xx, 5xx and latency by percentile in seconds; a route never called has no sample', async () => {
    const gauges = await apiGateway(ROUTES).gauges(ctxOf('api-gateway', {}));

    const of = (name: string, method: string, route: string, percentile?: string) =>
      gauges.find(
        (g) =>
          g.name === name &&
          g.labels?.method === method &&
          g.labels?.route === route &&
          g.labels?.percentile === percentile,
      )?.value;
    expect(of('api_requests', 'GET', '/api/v1/vectors/collections')).toBe(20);
    expect(of('api_client_errors', 'GET', '/api/v1/vectors/collections')).toBe(2);
    expect(of('api_server_errors', 'GET', '/api/v1/vectors/collections')).toBe(0);
    expect(of('api_requests', 'POST', '/api/v1/vectors/search')).toBe(10);
    expect(of('api_server_errors', 'POST', '/api/v1/vectors/search')).toBe(1);
    for (const p of ['p50', 'p95', 'p99']) {
      expect(of('api_latency_seconds', 'GET', '/api/v1/vectors/collections', p)).toBeCloseTo(0.04, 6);
      expect(of('api_latency_seconds', 'POST', '/api/v1/vectors/search', p)).toBeCloseTo(0.9, 6);
    }
    expect(gauges.filter((g) => g.labels?.route === '/api/v1/unused')).toEqual([]);
    expect(gauges).toHaveLength(2 * (3 + 3));
  });

  it('is degraded over its p95 target, naming the slow route, and over its 5xx rate', async () => {
    const checks = await apiGateway(ROUTES).checks(
      ctxOf('api-gateway', { p95TargetMs: 500, errorRateDegraded: 0.01 }),
    );

    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['metrics', 'healthy'],
      ['latency', 'degraded'],
      ['server-errors', 'degraded'],
    ]);
    expect(checks[1]?.detail).toBe('p95 over 500 ms: POST /api/v1/vectors/search (900 ms)');
    expect(checks[2]?.detail).toBe('1 of 30 requests answered 5xx');
  });

  it('within its targets: healthy', async () => {
    const checks = await apiGateway(ROUTES).checks(
      ctxOf('api-gateway', { p95TargetMs: 1_000, errorRateDegraded: 0.05 }),
    );
    expect(checks.map((c) => c.status)).toEqual(['healthy', 'healthy', 'healthy']);
    expect(checks[1]?.detail).toBe("every route's p95 within 1000 ms");
  });

  it('without api:metrics access: one unhealthy check saying which variables are missing', async () => {
    const unset = setEnv({ HTTP_API_ID: undefined });
    try {
      const checks = await apiGateway(ROUTES).checks(ctxOf('api-gateway', {}));
      expect(checks).toEqual([
        {
          name: 'metrics',
          status: 'unhealthy',
          latencyMs: expect.any(Number),
          detail: 'HTTP_API_ID and HTTP_API_STAGE are not set (no api:metrics access)',
        },
      ]);
    } finally {
      unset();
    }
  });
});
