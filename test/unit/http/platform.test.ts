import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { handler as status } from '#functions/platform/status/handler.ts';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { resetConfig } from '#shared/config.ts';
import { UpstreamError } from '#shared/errors.ts';
import { runChecks } from '#shared/platform/status.ts';
import { invoke } from './support.ts';

describe('runChecks', () => {
  it('is ok when every check is, with a latency for each', async () => {
    const report = await runChecks({ a: async () => undefined, b: async () => undefined });
    expect(report).toEqual({
      status: 'ok',
      checks: {
        a: { status: 'ok', latencyMs: expect.any(Number) },
        b: { status: 'ok', latencyMs: expect.any(Number) },
      },
    });
  });

  it('reports each failure on its own, with a reason that leaks no address', async () => {
    const report = await runChecks(
      {
        typed: async () => {
          throw new UpstreamError('S3 HeadBucket failed: NoSuchBucket (HTTP 404)');
        },
        socket: async () => {
          throw Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:443'), { code: 'ECONNREFUSED' });
        },
        raw: async () => {
          throw new Error('GET https://user:pw@host/x failed');
        },
        sync: () => {
          throw new Error('Invalid configuration: EVENT_BUS_NAME is not set');
        },
        hung: () => new Promise<void>(() => undefined),
        fine: async () => undefined,
      },
      50,
    );
    expect(report.status).toBe('degraded');
    expect(report.checks).toMatchObject({
      typed: { status: 'error', reason: 'S3 HeadBucket failed: NoSuchBucket (HTTP 404)' },
      socket: { status: 'error', reason: 'ECONNREFUSED' },
      raw: { status: 'error', reason: 'Error' },
      sync: { status: 'error', reason: 'Invalid configuration: EVENT_BUS_NAME is not set' },
      hung: { status: 'error', reason: 'timed out after 50 ms' },
      fine: { status: 'ok' },
    });
  });
});

describe('GET /api/v1/status', () => {
  let dataDir: string;
  let server: QdrantServer;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-status-'));
    server = await startQdrantServer({ dataDir: join(dataDir, 'qdrant'), port: 0 });
    vi.stubEnv('QDRANT_URL', server.url);
    vi.stubEnv('STATE_DIR', join(dataDir, 'state'));
    resetConfig();
  });

  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
    vi.unstubAllEnvs();
    resetConfig();
  });

  it('answers 503 with every check when a dependency is missing', async () => {
    const res = await invoke(status);
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('degraded');
    expect(res.body.checks).toMatchObject({
      qdrant: { status: 'ok' },
      stateStore: { status: 'ok' },
      exportsBucket: { status: 'error', reason: 'Invalid configuration: EXPORTS_BUCKET is not set' },
      migrationsQueue: { status: 'error' },
      eventBus: { status: 'error' },
    });
  });
});
