import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, manifest } from '#infra/manifest.ts';
import { FUNCTION_ERROR_MESSAGE } from '#local/gateway.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import type { LoggedEvent } from '#shared/events/log.ts';
import { apiCaller, eventually, tokenFor } from './support.ts';

/**
 * The access-log pipeline on the local runtime: the gateway's lines for 401, 403 and 5xx answers
 * reach the access-log consumer as a CloudWatch Logs subscription delivery, and its events reach
 * the event log through the bus. The platform's manifest, plus one route whose function fails.
 */
/** The first calls start each function's worker thread: seconds each on a busy machine. */
const SLOW = 90_000;

const withFailingRoute: Manifest = {
  ...manifest,
  functions: {
    ...manifest.functions,
    failing: {
      entry: 'test/fixtures/gateway/throws.ts',
      description: 'fails as a handler bug does',
      memoryMb: 192,
      timeoutSeconds: 5,
      access: [],
    },
  },
  routes: [
    ...manifest.routes,
    { method: 'GET', path: '/api/v1/test/fail', function: 'failing', role: 'public' },
  ],
};

describe('the access-log pipeline on the local runtime', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  const base = () => `${rt.apiUrl}/api/v1`;
  const reader = apiCaller(
    base,
    tokenFor(() => rt, ['readonly']),
  );
  const anonymous = apiCaller(base);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-access-log-'));
    rt = await startLocalRuntime({
      dataDir,
      port: 0,
      quiet: true,
      limits: false,
      manifest: withFailingRoute,
    });
  });
  afterAll(async () => {
    await rt?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The logged events of `type` matching `where`, once there are `count`. */
  const logged = (type: string, where: (e: LoggedEvent) => boolean, count: number) =>
    eventually(
      `${count} ${type}`,
      async () => {
        await rt.accessLogSettled();
        const { body } = await reader('GET', `/events?type=${type}&limit=1000`);
        const found = (body.events as LoggedEvent[]).filter(where);
        return found.length >= count ? found : undefined;
      },
      60_000,
    );

  it(
    'reports requests refused for want of a valid token as one ApiAccessDenied per client, with the count',
    async () => {
      const agent = { 'user-agent': 'access-log-test/401' };
      for (let i = 0; i < 3; i++)
        expect((await anonymous('GET', '/plans', undefined, agent)).status).toBe(401);
      const bad = await anonymous('GET', '/plans/p1', undefined, { ...agent, authorization: 'Bearer nope' });
      expect(bad.status).toBe(401);
      const [denied] = await logged(
        'ApiAccessDenied',
        (e) => (e.detail.userAgents as string[]).includes(agent['user-agent']),
        1,
      );
      expect(denied!.detail).toMatchObject({
        ip: '127.0.0.1',
        status: 401,
        count: 4,
        routes: ['GET /api/v1/plans', 'GET /api/v1/plans/{id}'],
      });
      expect(denied!.detail.sub).toBeUndefined();
      expect(denied!.detail.sampleRequestIds).toHaveLength(4);
    },
    SLOW,
  );

  it(
    'reports a role refused by the function (403) with the token’s subject',
    async () => {
      expect((await reader('DELETE', '/plans/p1')).status).toBe(403);
      const [denied] = await logged('ApiAccessDenied', (e) => e.detail.status === 403, 1);
      expect(denied!.detail).toMatchObject({ count: 1, routes: ['DELETE /api/v1/plans/{id}'] });
      expect(denied!.detail.sub).toEqual(expect.any(String));
    },
    SLOW,
  );

  it(
    'reports each 5xx answer as ApiRequestFailed, more than one PutEvents batch of them, under its request id, without the function’s error message',
    async () => {
      const requestIds: string[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await anonymous('GET', '/test/fail');
        expect(res.status).toBe(500);
        requestIds.push(res.headers.get('apigw-requestid')!);
      }
      const failed = await logged(
        'ApiRequestFailed',
        (e) => requestIds.includes(e.detail.requestId as string),
        12,
      );
      expect(failed).toHaveLength(12);
      expect(JSON.stringify(failed)).not.toContain('secret database password');
      for (const event of failed) {
        expect(event.detail).toMatchObject({
          routeKey: 'GET /api/v1/test/fail',
          status: 500,
          error: 'Internal Server Error',
          integrationError: FUNCTION_ERROR_MESSAGE,
          correlationId: event.detail.requestId,
        });
        // The consumer names functions from the manifest it was built with, which lacks this route.
        expect(event.detail.function).toBeUndefined();
      }
    },
    SLOW,
  );
});
