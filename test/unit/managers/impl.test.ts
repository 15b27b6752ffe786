import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { FileStateStore } from '#shared/adapters/file-state.ts';
import type { Config } from '#shared/config.ts';
import { NotFoundError } from '#shared/errors.ts';
import { AlertLog } from '#shared/managers/alerts.ts';
import { ConfigStore, defaults, resetConfigCache } from '#shared/managers/config-store.ts';
import type { Gauge } from '#shared/managers/contract.ts';
import type { ManagerContext } from '#shared/managers/contract-handler.ts';
import { centralCoordinator } from '#shared/managers/impl/central-coordinator.ts';
import { config as configManager } from '#shared/managers/impl/config.ts';
import { migration } from '#shared/managers/impl/migration.ts';
import { monitoring } from '#shared/managers/impl/monitoring.ts';
import { roadmap } from '#shared/managers/impl/roadmap.ts';
import { LifecycleStore, managerPartition, NEVER_TRANSITIONED } from '#shared/managers/lifecycle.ts';
import { MANAGER_IDS, type ManagerConfig, type ManagerId } from '#shared/managers/specs.ts';
import { MigrationJobs } from '#shared/migrations/jobs.ts';
import type { JobRecord, JobStatus } from '#shared/migrations/model.ts';
import { PLAN_PK, type PlanSummary } from '#shared/plans/service.ts';
import {
  declarationOf,
  failingCheck,
  healthOf,
  healthyCheck,
  setEnv,
  tempDir,
  UNSET_PLATFORM_ENV,
} from './support.ts';

/**
 * The managers whose checks and figures come from the state store alone, on files: config,
 * monitoring, migration, the coordinator, roadmap (and the parts of their actions that need no
 * other service). Vectorization and the API gateway are in impl-services.test.ts.
 */

let dir: { path: string; cleanup(): Promise<void> };
let state: FileStateStore;
let restoreEnv: () => void;

beforeEach(async () => {
  dir = await tempDir('vp-manager-impl-');
  state = new FileStateStore({ dir: dir.path });
  restoreEnv = setEnv({ ...UNSET_PLATFORM_ENV });
  resetConfigCache();
});
afterEach(async () => {
  restoreEnv();
  resetConfigCache();
  await dir.cleanup();
});

function appOf(overrides: Partial<Config> = {}): Config {
  return {
    stage: 'test',
    version: '0.0.0',
    defaultCollection: 'vectors',
    embedder: { provider: 'local', model: 'local-hash-v1', dimensions: 384 },
    maxBodyBytes: 1024 * 1024,
    state: { dir: dir.path },
    s3ForcePathStyle: false,
    ...overrides,
  };
}

function ctxOf<I extends ManagerId>(
  id: I,
  config: Partial<ManagerConfig<I>> = {},
  app = appOf(),
): ManagerContext<I> {
  return { id, config: { ...defaults(id), ...config } as ManagerConfig<I>, app };
}

/** A state store that refuses everything, as DynamoDB refuses a role granted nothing. */
const deniedApp = () => appOf({ state: { dir: dir.path, dirActions: [] } });

const byLabel = (gauges: Gauge[], name: string, label: string) =>
  Object.fromEntries(gauges.filter((g) => g.name === name).map((g) => [g.labels?.[label], g.value]));

describe('config', () => {
  it("checks the state store: healthy, or unhealthy with the store's refusal", async () => {
    expect(await configManager.checks(ctxOf('config'))).toEqual([
      { name: 'state-store', status: 'healthy', latencyMs: expect.any(Number) },
    ]);
    const [denied] = await configManager.checks(ctxOf('config', {}, deniedApp()));
    expect(denied).toMatchObject({ name: 'state-store', status: 'unhealthy' });
    expect(denied?.detail).toMatch(/AccessDenied/);
  });

  it("reports each manager's configuration version, labelled `of` (0: never configured)", async () => {
    const store = new ConfigStore(() => state);
    await store.replace('roadmap', { driftThresholdPoints: 10 }, 'a', { historyLimit: 5 });
    await store.replace('roadmap', { driftThresholdPoints: 20 }, 'a', { historyLimit: 5 });
    await store.replace('migration', {}, 'a', { historyLimit: 5 });

    const gauges = await configManager.gauges(ctxOf('config'));

    expect(gauges).toHaveLength(MANAGER_IDS.length);
    expect(
      gauges.every((g) => g.name === 'config_version' && Object.keys(g.labels ?? {}).join() === 'of'),
    ).toBe(true);
    expect(byLabel(gauges, 'config_version', 'of')).toEqual({
      ...Object.fromEntries(MANAGER_IDS.map((id) => [id, 0])),
      roadmap: 2,
      migration: 1,
    });
  });
});

describe('monitoring', () => {
  it('counts the alerts of its window by type, each delivery of an event once', async () => {
    const log = new AlertLog(() => state);
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    await log.record({ id: 'e1', type: 'ManagerHealthChanged', time: ago(1), managers: ['migration'] });
    const e2 = { id: 'e2', type: 'ManagerHealthChanged', time: ago(4), managers: ['roadmap'] };
    await log.record(e2);
    // Delivered twice (at least once delivery): the same event, counted once.
    await log.record({ ...e2 });
    await log.record({
      id: 'e3',
      type: 'SystemCriticalDetected',
      time: ago(9),
      managers: ['central-coordinator'],
    });
    // Outside a 10-minute window.
    await log.record({ id: 'e4', type: 'ManagerFailed', time: ago(11), managers: ['migration'] });

    const gauges = await monitoring.gauges(ctxOf('monitoring', { windowMinutes: 10 }));

    expect(byLabel(gauges, 'monitoring_alerts', 'type')).toEqual({
      ManagerHealthChanged: 2,
      ManagerFailed: 0,
      SystemCriticalDetected: 1,
    });
    // A wider window takes the old one in.
    const wider = await monitoring.gauges(ctxOf('monitoring', { windowMinutes: 15 }));
    expect(byLabel(wider, 'monitoring_alerts', 'type').ManagerFailed).toBe(1);
  });

  it('checks the state store', async () => {
    expect((await monitoring.checks(ctxOf('monitoring')))[0]?.status).toBe('healthy');
    expect((await monitoring.checks(ctxOf('monitoring', {}, deniedApp())))[0]?.status).toBe('unhealthy');
  });
});

describe('migration', () => {
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

  async function seed(
    id: string,
    status: JobStatus,
    times: { created: number; updated: number; started?: number; completed?: number },
    written = 0,
  ): Promise<void> {
    const job: JobRecord = {
      id,
      key: `exports/${id}.json`,
      etag: 'etag',
      size: 1,
      target: 'tasks',
      collection: `tasks__${id}`,
      dryRun: false,
      rejectThreshold: 0.05,
      chunkBytes: 4096,
      status,
      plannedRecords: written,
      chunks: { total: 1, done: 1, failed: 0 },
      doneBits: '',
      failedBits: '',
      counts: { records: written, written, rejected: 0 },
      planRejects: [],
      createdAt: minutesAgo(times.created),
      updatedAt: minutesAgo(times.updated),
      ...(times.started === undefined ? {} : { startedAt: minutesAgo(times.started) }),
      ...(times.completed === undefined ? {} : { completedAt: minutesAgo(times.completed) }),
    };
    const jobs = new MigrationJobs(
      () => state,
      () => new Date().toISOString(),
    );
    await jobs.create(job);
    await jobs.index(job);
  }

  it('counts jobs by state, and records/s of the jobs completed in its window', async () => {
    // 1,000 records in 10 s and 500 in 40 s within the window: 1,500 / 50 s.
    await seed(
      '00000000000000a1',
      'completed',
      { created: 30, updated: 20, started: 20.5, completed: 20.5 - 10 / 60 },
      1_000,
    );
    await seed(
      '00000000000000a2',
      'completed',
      { created: 30, updated: 5, started: 5 + 40 / 60, completed: 5 },
      500,
    );
    // Completed before the window, or never started: not in the rate.
    await seed(
      '00000000000000a3',
      'completed',
      { created: 200, updated: 120, started: 121, completed: 120 },
      9_999,
    );
    await seed('00000000000000a4', 'completed', { created: 10, updated: 9, completed: 9 }, 9_999);
    await seed('00000000000000a5', 'running', { created: 3, updated: 1, started: 2 });
    await seed('00000000000000a6', 'failed', { created: 3, updated: 1, started: 2 });
    await seed('00000000000000a7', 'rolled-back', { created: 3, updated: 1 });

    const gauges = await migration.gauges(ctxOf('migration', { windowMinutes: 60 }));

    expect(byLabel(gauges, 'migration_jobs', 'state')).toEqual({
      planning: 0,
      running: 1,
      finalizing: 0,
      completed: 4,
      failed: 1,
      'rolled-back': 1,
    });
    expect(gauges.find((g) => g.name === 'migration_records_per_second')?.value).toBe(30);
  });

  it('no job completed in the window: 0 records/s, not a division by zero', async () => {
    await seed('00000000000000b1', 'running', { created: 3, updated: 1, started: 2 });
    const gauges = await migration.gauges(ctxOf('migration'));
    expect(gauges.find((g) => g.name === 'migration_records_per_second')?.value).toBe(0);
  });

  it('is degraded once failed jobs in its window reach the threshold; older failures do not count', async () => {
    await seed('00000000000000c1', 'failed', { created: 30, updated: 10 });
    await seed('00000000000000c2', 'failed', { created: 300, updated: 90 });
    await seed('00000000000000c3', 'completed', { created: 30, updated: 5, started: 6, completed: 5 });

    const at = async (config: Partial<ManagerConfig<'migration'>>) =>
      (await migration.checks(ctxOf('migration', config))).find((c) => c.name === 'recent-failures');

    expect(await at({ windowMinutes: 60, degradedAfterFailedJobs: 2 })).toMatchObject({
      status: 'healthy',
      detail: '1 failed in the last 60 min',
    });
    expect(await at({ windowMinutes: 60, degradedAfterFailedJobs: 1 })).toMatchObject({
      status: 'degraded',
      detail: '1 failed in the last 60 min',
    });
    expect(await at({ windowMinutes: 120, degradedAfterFailedJobs: 2 })).toMatchObject({
      status: 'degraded',
      detail: '2 failed in the last 120 min',
    });
  });

  it('checks the store and its queue: a queue it was not given is unhealthy, saying so', async () => {
    const checks = await migration.checks(ctxOf('migration'));
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['state-store', 'healthy'],
      ['queue', 'unhealthy'],
      ['recent-failures', 'healthy'],
    ]);
    expect(checks[1]?.detail).toBe('Invalid configuration: MIGRATIONS_QUEUE_URL is not set');
  });

  it('redrive and rollback of a job that does not exist: 404 naming id', async () => {
    for (const run of [
      () => migration.actions.redrive({ jobId: '0000000000000000' } as never, ctxOf('migration'), 'a'),
      () => migration.actions.rollback({ jobId: '0000000000000000' } as never, ctxOf('migration'), 'a'),
    ]) {
      const error = await run().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as NotFoundError).issues[0]?.field).toBe('id');
    }
  });
});

describe('central-coordinator', () => {
  const declarations = (['central-coordinator', 'migration', 'monitoring', 'roadmap'] as const).map((id) =>
    declarationOf(id),
  );

  it('counts the managers by lifecycle state and by the health the last sweep recorded', async () => {
    const lifecycle = new LifecycleStore(() => state);
    await lifecycle.transition('migration', NEVER_TRANSITIONED, 'stopped', 'admin-1');
    await lifecycle.transition('monitoring', NEVER_TRANSITIONED, 'failed', 'coordinator', { error: 'boom' });
    const record = (id: ManagerId, h: ReturnType<typeof healthOf>) =>
      state.put(managerPartition(id), 'HEALTH', h);
    await record('central-coordinator', healthOf('central-coordinator', [healthyCheck('state-store')]));
    await record('migration', healthOf('migration', [failingCheck('queue', 'down')]));
    await record('monitoring', healthOf('monitoring', [failingCheck('x', 'slow', 'degraded')]));
    // roadmap: never swept.

    const gauges = await centralCoordinator(declarations).gauges(ctxOf('central-coordinator'));

    expect(byLabel(gauges, 'coordinator_managers', 'state')).toEqual({
      running: 2,
      stopped: 1,
      starting: 0,
      stopping: 0,
      failed: 1,
    });
    expect(byLabel(gauges, 'coordinator_managers_health', 'status')).toEqual({
      healthy: 1,
      degraded: 1,
      unhealthy: 1,
    });
  });

  it('checks the state store', async () => {
    const impl = centralCoordinator(declarations);
    expect((await impl.checks(ctxOf('central-coordinator')))[0]?.status).toBe('healthy');
    expect((await impl.checks(ctxOf('central-coordinator', {}, deniedApp())))[0]?.status).toBe('unhealthy');
  });
});

describe('roadmap', () => {
  async function plan(planId: string, drift: number | null, tasks: number, source: PlanSummary['source']) {
    const summary: Omit<PlanSummary, 'id'> = {
      planId,
      title: planId,
      source,
      sha256: '0'.repeat(64),
      indexedAt: new Date().toISOString(),
      counts: { tasks, headings: 1 },
      progress: {
        total: tasks,
        done: 0,
        inProgress: 0,
        blocked: 0,
        todo: tasks,
        computed: 0,
        declared: null,
        drift,
      },
    };
    await state.put(PLAN_PK, planId, summary);
  }

  it('counts plans and tasks, and the plans drifting more than the threshold, with each drift', async () => {
    await plan('plans/a.md', -12, 10, { kind: 's3', key: 'plans/a.md', bytes: 10 });
    await plan('plans/b.md', 3, 4, { kind: 'body', bytes: 10 });
    await plan('plans/c.md', null, 0, { kind: 'body', bytes: 10 });

    const gauges = await roadmap.gauges(ctxOf('roadmap', { driftThresholdPoints: 5 }));

    const value = (name: string) => gauges.find((g) => g.name === name)?.value;
    expect(value('roadmap_plans')).toBe(3);
    expect(value('roadmap_tasks')).toBe(14);
    expect(value('roadmap_plans_drifting')).toBe(1);
    // Absolute points; a plan with no declared progress has no drift sample.
    expect(byLabel(gauges, 'roadmap_plan_progress_drift_points', 'plan')).toEqual({
      'plans/a.md': 12,
      'plans/b.md': 3,
    });
    // A threshold of 2 points takes plan b in; exactly at the threshold is not over it.
    expect(
      (await roadmap.gauges(ctxOf('roadmap', { driftThresholdPoints: 2 }))).find(
        (g) => g.name === 'roadmap_plans_drifting',
      )?.value,
    ).toBe(2);
    expect(
      (await roadmap.gauges(ctxOf('roadmap', { driftThresholdPoints: 12 }))).find(
        (g) => g.name === 'roadmap_plans_drifting',
      )?.value,
    ).toBe(0);
  });

  it('checks the store and Qdrant: no Qdrant granted is unhealthy, saying so', async () => {
    const checks = await roadmap.checks(ctxOf('roadmap'));
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['state-store', 'healthy'],
      ['qdrant', 'unhealthy'],
    ]);
    expect(checks[1]?.detail).toMatch(/QDRANT_URL/);
  });

  it('reindex: skips plans indexed from a request body, and 404 naming input.planId for an unknown plan', async () => {
    const app = appOf({ eventBusName: 'platform-bus' });
    await plan('plans/b.md', 3, 4, { kind: 'body', bytes: 10 });

    // By plan id, or by URL id.
    for (const planId of ['plans/b.md', 'plans~b.md']) {
      expect(
        await roadmap.actions.reindex({ planId } as never, ctxOf('roadmap', {}, app), 'admin-1'),
      ).toEqual({
        reindexed: [],
        skipped: [
          { planId: 'plans/b.md', reason: 'indexed from a request body: send it again to reindex it' },
        ],
      });
    }
    const error: unknown = await roadmap.actions
      .reindex({ planId: 'plans/nope.md' } as never, ctxOf('roadmap', {}, app), 'admin-1')
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).issues).toEqual([
      { field: 'input.planId', reason: 'no indexed plan has this id' },
    ]);
  });
});
