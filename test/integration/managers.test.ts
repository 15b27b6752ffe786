import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import type { LoggedEvent } from '#shared/events/log.ts';
import { parseEvent } from '#shared/events/publisher.ts';
import { GATE_CACHE_MS } from '#shared/managers/gate.ts';
import { MANAGER_ACTIONS, MANAGER_IDS } from '#shared/managers/specs.ts';
import type { JobView } from '#shared/migrations/service.ts';
import { legacyExport } from '../unit/migrations/exports.ts';
import { eventually, queueCounts, s3ClientOf, tokenFor, waitFor } from './support.ts';
import { describeWhere, itWhere, testTarget, whereLocal } from './target.ts';

/**
 * The managers end to end on the local runtime: the coordinator API over HTTP, contract calls
 * through the local Lambda endpoint, stop and start through the event source mappings (messages
 * wait in the queue and are processed after start, with exact counts), the lifecycle surviving a
 * restart, ManagerFailed marking a manager failed, Prometheus exposition checked by promtool.
 * Portable in part: on a deployed stage the coordinator API's reads and its refusals to a reader
 * run against it; stopping, starting and configuring need an administrator, and the rest reads
 * the local runtime's queues, bus and restarts, so they stay local.
 */

let dataDir: string;
let runtime: LocalRuntime;
let s3: S3Client;

const target = testTarget(() => runtime);
const { call } = target;
const readerCall = target.caller('reader');
const ADMIN_ONLY = whereLocal("stops, starts or configures managers, an administrator's routes");
const INTERNALS = whereLocal("stops managers and reads the local runtime's queues, bus and restarts");

/** How long a step that crosses queues, the bus and cold starts may take on a busy machine. */
const SLOW = 60_000;

const start = () => startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false });

/** Puts a platform event on the bus, as a function would (the runtime's own credentials). */
async function putEvent(type: string, detail: Record<string, unknown>): Promise<void> {
  const bus = new EventBridgeClient({
    region: runtime.region,
    endpoint: runtime.eventBridgeEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await bus.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: runtime.busName,
            Source: 'vector-platform',
            DetailType: type,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
  } finally {
    bus.destroy();
  }
}

beforeAll(async () => {
  if (!target.local) return;
  dataDir = await mkdtemp(join(tmpdir(), 'vp-managers-'));
  runtime = await start();
  s3 = s3ClientOf(runtime);
  // The test machine runs other suites at once: contract calls get a generous time bound, set
  // the way an operator would (the coordinator's configuration), before any call reads it.
  const configured = await call('PUT', '/api/v1/managers/central-coordinator/config', {
    config: { checkTimeoutMs: 20_000 },
  });
  expect(configured.status).toBe(200);
});

afterAll(async () => {
  if (!target.local) return;
  s3?.destroy();
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the coordinator API', () => {
  it('lists every declared manager with its status and live health', async () => {
    const { status, body } = await call('GET', '/api/v1/managers/status');
    expect(status).toBe(200);
    const managers = body.managers as Array<{
      id: string;
      status: { state: string };
      health: { status: string; checks: unknown[] };
    }>;
    expect(managers.map((m) => m.id).sort()).toEqual([...MANAGER_IDS].sort());
    for (const m of managers) {
      expect(m.status.state).toBe('running');
      expect(['healthy', 'degraded']).toContain(m.health.status);
      expect(m.health.checks.length).toBeGreaterThan(0);
    }
  });

  it('describes a manager from its declaration: what it owns, its actions and configuration schema', async () => {
    const { status, body } = await call('GET', '/api/v1/managers/migration');
    expect(status).toBe(200);
    expect(body.owns.queues).toEqual(['migrations']);
    expect(body.owns.routes).toContain('POST /api/v1/migrations');
    expect(body.owns.schedules).toEqual(['stalledMigrations']);
    expect(body.actions.map((a: { name: string }) => a.name).sort()).toEqual(
      Object.keys(MANAGER_ACTIONS.migration).sort(),
    );
    expect(body.config.properties).toHaveProperty('windowMinutes');
  });

  itWhere(
    ADMIN_ONLY,
    'answers 404 naming the field for an unknown manager or action, 409 for one that cannot stop',
    async () => {
      const unknown = await call('GET', '/api/v1/managers/nope/health');
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.issues[0].field).toBe('id');
      const action = await call('POST', '/api/v1/managers/roadmap/actions/explode', {});
      expect(action.status).toBe(404);
      expect(action.body.error.issues[0].field).toBe('action');
      const stop = await call('POST', '/api/v1/managers/central-coordinator/stop');
      expect(stop.status).toBe(409);
    },
  );

  it('lets only administrators start and stop, and admin actions need admin', async () => {
    expect((await readerCall('POST', '/api/v1/managers/vectorization/stop')).status).toBe(403);
    expect(
      (await readerCall('POST', '/api/v1/managers/migration/actions/rollback', { jobId: 'x' })).status,
    ).toBe(403);
    expect((await readerCall('GET', '/api/v1/managers/vectorization/status')).status).toBe(200);
  });

  itWhere(ADMIN_ONLY, 'validates a configuration by the manager schema and keeps its versions', async () => {
    const bad = await call('PUT', '/api/v1/managers/roadmap/config', {
      config: { driftThresholdPoints: 101 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].field).toBe('config.driftThresholdPoints');
    const unknownField = await call('PUT', '/api/v1/managers/roadmap/config', { config: { drift: 1 } });
    expect(unknownField.status).toBe(400);

    const first = await call('PUT', '/api/v1/managers/roadmap/config', {
      config: { driftThresholdPoints: 10 },
    });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ version: 1, changed: ['driftThresholdPoints'], by: 'local-admin' });
    const stale = await call('PUT', '/api/v1/managers/roadmap/config', { config: {}, expectedVersion: 0 });
    expect(stale.status).toBe(409);
    const versions = await call('GET', '/api/v1/managers/roadmap/config/versions');
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([1]);
    expect((await call('GET', '/api/v1/managers/roadmap/config')).body.config).toEqual({
      driftThresholdPoints: 10,
    });
  });
});

describeWhere(INTERNALS, 'stopping a manager loses nothing', () => {
  it('stopped migration: routes 503, an upload waits in the queue; started: it completes with exact counts', async () => {
    const stopped = await call('POST', '/api/v1/managers/migration/stop');
    expect(stopped.status).toBe(200);
    expect(stopped.body.state).toBe('stopped');

    const refused = await call('GET', '/api/v1/migrations');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.body.error.code).toBe('SERVICE_UNAVAILABLE');
    // Its actions are its work too.
    const action = await call('POST', '/api/v1/managers/migration/actions/redrive', { jobId: 'any' });
    expect(action.status).toBe(503);
    expect(action.headers.get('retry-after')).toBe('30');

    await s3.send(
      new PutObjectCommand({
        Bucket: runtime.bucket,
        Key: 'exports/while-stopped.json',
        Body: legacyExport({ vectors: 20, texts: 2, duplicates: 0, bad: 1, dimensions: 384 }),
      }),
    );
    // The planner (triggered by the upload) has sent the chunks: they wait, visible, untaken.
    await runtime.notificationsSettled();
    const waiting = await queueCounts(runtime, 'migrations');
    expect(waiting.visible).toBeGreaterThan(0);
    expect(waiting.hidden).toBe(0);

    const started = await call('POST', '/api/v1/managers/migration/start');
    expect(started.status).toBe(200);
    expect(started.body.state).toBe('running');
    // Routes serve again once the gate's cached state has expired.
    const job = await eventually(
      'the migration completed',
      async () => {
        const { status, body } = await call('GET', '/api/v1/migrations');
        if (status !== 200) return undefined;
        const found = (body.migrations as JobView[]).find((j) => j.key === 'exports/while-stopped.json');
        return found && (found.status === 'completed' || found.status === 'failed') ? found : undefined;
      },
      SLOW + GATE_CACHE_MS,
    );
    expect(job.status).toBe('completed');
    expect(job.counts).toEqual({ records: 23, written: 22, rejected: 1 });
    expect(await queueCounts(runtime, 'migrations')).toEqual({ visible: 0, hidden: 0 });
  });

  it('events addressed to a stopped manager wait in its queue, across a restart, and are delivered after start', async () => {
    expect((await call('POST', '/api/v1/managers/monitoring/stop')).status).toBe(200);
    await putEvent('SystemCriticalDetected', {
      schemaVersion: 1,
      managers: ['api-gateway'],
      reason: 'test',
      at: new Date().toISOString(),
    });
    await runtime.bus.settled();
    // Waiting, untaken (a health sweep may have queued a ManagerHealthChanged beside it).
    const waiting = await queueCounts(runtime, 'monitoringEvents');
    expect(waiting.visible).toBeGreaterThanOrEqual(1);
    expect(waiting.hidden).toBe(0);
    // They outlive a restart of the runtime, as messages outlive a Lambda deployment in SQS.
    await runtime.stop();
    runtime = await start();
    expect((await queueCounts(runtime, 'monitoringEvents')).visible).toBe(waiting.visible);
    expect((await call('GET', '/api/v1/managers/monitoring/status')).body.state).toBe('stopped');

    expect((await call('POST', '/api/v1/managers/monitoring/start')).status).toBe(200);
    await eventually(
      'the alert was consumed',
      async () => {
        const counts = await queueCounts(runtime, 'monitoringEvents');
        return counts.visible + counts.hidden === 0 ? true : undefined;
      },
      SLOW,
    );
    const metrics = await eventually(
      'monitoring counts the alert',
      async () => {
        const { status, body } = await call('GET', '/api/v1/managers/monitoring/metrics');
        const gauge = (
          body?.gauges as Array<{ labels?: { type?: string }; value: number }> | undefined
        )?.find((g) => g.labels?.type === 'SystemCriticalDetected');
        return status === 200 && gauge && gauge.value > 0 ? gauge : undefined;
      },
      SLOW,
    );
    // At least ours (a health sweep may have raised one of its own meanwhile).
    expect(metrics.value).toBeGreaterThanOrEqual(1);
  });

  it('a stopped manager stays stopped across a restart, with its history', async () => {
    expect((await call('POST', '/api/v1/managers/vectorization/stop')).status).toBe(200);
    await runtime.stop();
    runtime = await start();
    const status = await call('GET', '/api/v1/managers/vectorization/status');
    expect(status.body.state).toBe('stopped');
    expect((await call('GET', '/api/v1/vectors/collections')).status).toBe(503);
    const history = await call('GET', '/api/v1/managers/vectorization/history');
    expect(history.body.transitions.slice(0, 2).map((t: { to: string }) => t.to)).toEqual([
      'stopped',
      'stopping',
    ]);

    expect((await call('POST', '/api/v1/managers/vectorization/start')).body.state).toBe('running');
    await waitFor(
      async () => (await call('GET', '/api/v1/vectors/collections')).status === 200,
      'vector routes serving again',
      SLOW,
    );
  });

  it('a ManagerFailed event marks a running manager failed; starting it again clears the state', async () => {
    await putEvent('ManagerFailed', {
      schemaVersion: 1,
      managerId: 'roadmap',
      error: 'disk on fire',
      at: new Date().toISOString(),
    });
    const failed = await eventually(
      'roadmap marked failed',
      async () => {
        const { body } = await call('GET', '/api/v1/managers/roadmap/status');
        return body.state === 'failed' ? body : undefined;
      },
      SLOW,
    );
    expect(failed.lastError.message).toBe('disk on fire');
    expect((await call('POST', '/api/v1/managers/roadmap/start')).body.state).toBe('running');
  });
});

describeWhere(INTERNALS, 'events and metrics', () => {
  it('every logged event matches its schema', async () => {
    await call('POST', '/api/v1/managers/central-coordinator/actions/sweep', {});
    await runtime.bus.settled();
    const { body } = await call('GET', '/api/v1/events?limit=1000');
    const events = body.events as LoggedEvent[];
    const types = new Set(events.map((e) => e.type));
    for (const type of [
      'ManagerStopped',
      'ManagerStarted',
      'ManagerHealthChanged',
      'ConfigChanged',
      'MigrationCompleted',
    ]) {
      expect(types).toContain(type);
    }
    for (const e of events)
      expect(() => parseEvent({ source: e.source, 'detail-type': e.type, detail: e.detail })).not.toThrow();
  });

  it('GET /api/v1/metrics is Prometheus text exposition that promtool accepts', async (ctx) => {
    const res = await fetch(`${runtime.apiUrl}/api/v1/metrics`, {
      headers: { authorization: `Bearer ${await tokenFor(() => runtime, ['readonly'])()}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^vector_platform_manager_state\{manager="migration",state="running"\} 1$/m);
    // Metrics are the runtime's since its last start (like CloudWatch's, per window): the sweep
    // above invoked the coordinator's contract function.
    expect(text).toMatch(
      /^vector_platform_function_invocations\{manager="central-coordinator",function="coordinatorManager"\} [1-9]/m,
    );
    expect(text).toMatch(/^vector_platform_migration_jobs\{[^}]*state="completed"[^}]*\} 1$/m);
    const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (promtool.error) {
      // CI installs Debian's prometheus (.ci/run); there a missing promtool is a failure.
      if (process.env.CI) throw new Error('promtool is not installed (Debian package prometheus)');
      ctx.skip('promtool is not installed (apt install prometheus)');
    }
    // `promtool check metrics` reads the exposition on stdin and exits non-zero on a format error.
    expect(() =>
      execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' }),
    ).not.toThrow();
  });
});
