import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import type { LambdaClient } from '@aws-sdk/client-lambda';
import { withActor } from '#shared/actor.ts';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { LambdaInvoker } from '#shared/adapters/lambda.ts';
import { resetConfig } from '#shared/config.ts';
import { withCorrelationId } from '#shared/correlation.ts';
import {
  AppError,
  ConflictError,
  NotFoundError,
  ServiceUnavailableError,
  UpstreamError,
} from '#shared/errors.ts';
import { parseEvent } from '#shared/events/publisher.ts';
import { resetConfigCache } from '#shared/managers/config-store.ts';
import type { ContractCall } from '#shared/managers/contract.ts';
import { describe as describeManager, managerHandler } from '#shared/managers/contract-handler.ts';
import { Coordinator } from '#shared/managers/coordinator.ts';
import type { ManagerDeclaration } from '#shared/managers/declaration.ts';
import { LIFECYCLE_KEY, LifecycleStore, managerPartition } from '#shared/managers/lifecycle.ts';
import { MANAGER_ACTIONS, type ManagerId } from '#shared/managers/specs.ts';
import { lambdaContext } from '../http/support.ts';
import {
  type Answer,
  cannedManager,
  declarationOf,
  FakeInvoker,
  failingCheck,
  healthyCheck,
  InstrumentedStore,
  ok,
  RecordingBus,
  RecordingSwitch,
  setEnv,
  tempDir,
  UNSET_PLATFORM_ENV,
} from './support.ts';

/**
 * The coordinator with fakes at every edge: contract functions (canned answers, or the real
 * contract wrapper over a fake implementation), event source mappings that record each switch,
 * files for the state, and a bus that records what is published.
 */

const DECLARATIONS: ManagerDeclaration[] = [
  declarationOf('central-coordinator', { stoppable: false }),
  declarationOf('migration'),
  declarationOf('monitoring'),
  declarationOf('vectorization'),
];
const FUNCTION_NAMES = {
  'central-coordinator': 'coordinatorManager',
  migration: 'migrationManager',
  monitoring: 'monitoringManager',
  vectorization: 'vectorizationManager',
};
const EVENT_SOURCES = {
  migration: ['esm-migrations-1', 'esm-migrations-2'],
  monitoring: ['esm-monitoring'],
};
const TIMEOUT_MS = 150;

let dir: { path: string; cleanup(): Promise<void> };
let restoreEnv: () => void;

beforeEach(async () => {
  dir = await tempDir('vp-coordinator-');
  // The real contract wrapper (some tests) reads its configuration from the environment.
  restoreEnv = setEnv({ ...UNSET_PLATFORM_ENV, STATE_DIR: dir.path });
  resetConfig();
  resetConfigCache();
});
afterEach(async () => {
  restoreEnv();
  resetConfig();
  vi.restoreAllMocks();
  await dir.cleanup();
});

/** A coordinator over fakes; every manager answers by the contract unless the test says otherwise. */
function world(options: { answers?: Partial<Record<ManagerId, Answer>>; publisher?: boolean } = {}) {
  const managers = Object.fromEntries(DECLARATIONS.map((d) => [d.id, cannedManager(d.id)])) as Record<
    string,
    ReturnType<typeof cannedManager>
  >;
  const invoker = new FakeInvoker(
    Object.fromEntries(
      DECLARATIONS.map((d) => [
        FUNCTION_NAMES[d.id as keyof typeof FUNCTION_NAMES],
        (call: ContractCall) => (options.answers?.[d.id] ?? managers[d.id]!.answer)(call),
      ]),
    ),
  );
  const store = new InstrumentedStore(new FileStateStore({ dir: dir.path }));
  const bus = new RecordingBus();
  const sources = new RecordingSwitch();
  const coordinator = new Coordinator({
    declarations: DECLARATIONS,
    functionNames: FUNCTION_NAMES,
    eventSources: EVENT_SOURCES,
    invoker: () => invoker,
    eventSourceSwitch: () => sources,
    state: () => store,
    ...(options.publisher === false ? {} : { publisher: () => bus.publisher() }),
    checkTimeoutMs: TIMEOUT_MS,
  });
  const lifecycle = new LifecycleStore(() => store);
  return { coordinator, invoker, store, bus, sources, managers, lifecycle };
}

/** What a promise rejected with (fails the test if it resolved). */
async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

/** Every event the bus recorded parses against the catalogue. */
function expectCatalogued(bus: RecordingBus) {
  for (const e of bus.events) {
    expect(() =>
      parseEvent({ source: e.source, 'detail-type': e.detailType, detail: e.detail }),
    ).not.toThrow();
  }
}

describe('stop', () => {
  it("passes the request's correlation id in its contract calls, and its events carry it", async () => {
    const { coordinator, invoker, bus } = world();

    await withCorrelationId('req-9', () => coordinator.stop('migration', 'admin-1'));
    await coordinator.start('migration', 'admin-1');

    expect(invoker.calls.map((c) => [c.payload.call, c.payload.correlationId])).toEqual([
      ['stop', 'req-9'],
      ['start', undefined],
    ]);
    expect(bus.ofType('ManagerStopped')[0]).toMatchObject({ correlationId: 'req-9' });
    expect(bus.ofType('ManagerStarted')[0]).not.toHaveProperty('correlationId');
    expectCatalogued(bus);
  });

  it("passes the request's actor in its contract calls, and its events carry it", async () => {
    const { coordinator, invoker, bus } = world();
    const actor = { id: 'admin-1', role: 'admin' as const, sourceIp: '10.0.0.9' };

    await withActor(actor, () => coordinator.stop('migration', 'admin-1'));
    await coordinator.start('migration', 'system');

    expect(invoker.calls.map((c) => [c.payload.call, c.payload.actor])).toEqual([
      ['stop', actor],
      ['start', undefined],
    ]);
    expect(bus.ofType('ManagerStopped')[0]).toMatchObject({ actor });
    expect(bus.ofType('ManagerStarted')[0]).not.toHaveProperty('actor');
    expectCatalogued(bus);
  });

  it('goes stopping → stopped with its history, disables exactly its mappings, publishes ManagerStopped', async () => {
    const { coordinator, invoker, sources, bus } = world();

    const status = await coordinator.stop('migration', 'admin-1');

    expect(status).toMatchObject({ managerId: 'migration', state: 'stopped', by: 'admin-1' });
    expect(status).not.toHaveProperty('lastError');
    expect(await coordinator.status('migration')).toEqual(status);
    const history = await coordinator.history('migration', 10);
    expect(history.map((t) => [t.from, t.to, t.by])).toEqual([
      ['stopping', 'stopped', 'admin-1'],
      ['running', 'stopping', 'admin-1'],
    ]);
    expect(sources.calls).toEqual([
      { uuid: 'esm-migrations-1', enabled: false },
      { uuid: 'esm-migrations-2', enabled: false },
    ]);
    // The manager quiesced itself first; no other manager was asked anything.
    expect(invoker.callsTo('migrationManager')).toEqual(['stop']);
    expect(invoker.calls.every((c) => c.functionName === 'migrationManager')).toBe(true);
    expect(bus.ofType('ManagerStopped')).toEqual([
      { managerId: 'migration', by: 'admin-1', at: expect.any(String), schemaVersion: 1 },
    ]);
    expect(bus.events).toHaveLength(1);
    expectCatalogued(bus);
  });

  it('a manager with no queue is stopped without touching any mapping', async () => {
    const { coordinator, sources } = world();
    expect((await coordinator.stop('vectorization', 'admin-1')).state).toBe('stopped');
    expect(sources.calls).toEqual([]);
  });

  it('stopping a stopped manager changes nothing', async () => {
    const { coordinator, invoker, sources, bus } = world();
    const first = await coordinator.stop('migration', 'admin-1');
    const [callsBefore, switchesBefore, eventsBefore] = [
      invoker.calls.length,
      sources.calls.length,
      bus.events.length,
    ];

    const again = await coordinator.stop('migration', 'admin-2');

    expect(again).toEqual(first);
    expect(await coordinator.history('migration', 10)).toHaveLength(2);
    expect([invoker.calls.length, sources.calls.length, bus.events.length]).toEqual([
      callsBefore,
      switchesBefore,
      eventsBefore,
    ]);
  });

  it('refuses (409, naming id) to stop a manager that cannot be stopped, and writes nothing', async () => {
    const { coordinator, invoker, sources, bus, store } = world();

    const error = await rejection(coordinator.stop('central-coordinator', 'admin-1'));

    expect(error).toBeInstanceOf(ConflictError);
    expect(error.statusCode).toBe(409);
    expect(error.issues).toEqual([{ field: 'id', reason: 'central-coordinator is not stoppable' }]);
    expect(await store.get(managerPartition('central-coordinator'), LIFECYCLE_KEY)).toBeUndefined();
    expect([invoker.calls, sources.calls, bus.events]).toEqual([[], [], []]);
  });

  it('answers 404 naming id for a manager that is not declared', async () => {
    const { coordinator } = world();
    for (const op of [
      () => coordinator.stop('nope', 'a'),
      () => coordinator.start('nope', 'a'),
      () => coordinator.health('nope'),
      () => coordinator.action('nope', 'x', {}, 'a'),
    ]) {
      const error = await rejection(op());
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.issues[0]?.field).toBe('id');
      expect(error.issues[0]?.reason).toBe(
        'must be one of: central-coordinator, migration, monitoring, vectorization',
      );
    }
  });

  it('a manager whose own stop fails is failed with the reason, its mappings untouched', async () => {
    const { coordinator, sources, bus } = world({
      answers: {
        migration: (call) =>
          call.call === 'stop'
            ? {
                ok: false,
                error: { statusCode: 500, code: 'INTERNAL_ERROR', message: 'migration failed: busy' },
              }
            : ok({}),
      },
    });

    const error = await rejection(coordinator.stop('migration', 'admin-1'));

    expect(error).toBeInstanceOf(UpstreamError);
    const status = await coordinator.status('migration');
    expect(status.state).toBe('failed');
    expect(status.lastError?.message).toBe('stop failed: migration failed: busy');
    expect(sources.calls).toEqual([]);
    expect(bus.events).toEqual([]);
  });

  it('a mapping that cannot be disabled leaves the manager failed with the reason, no ManagerStopped', async () => {
    const { coordinator, sources, bus } = world();
    sources.failWith = new UpstreamError(
      'event source mapping esm-migrations-1 is still Disabling, not Disabled',
    );

    await rejection(coordinator.stop('migration', 'admin-1'));

    const status = await coordinator.status('migration');
    expect(status.state).toBe('failed');
    expect(status.lastError?.message).toBe(
      'stop failed: event source mapping esm-migrations-1 is still Disabling, not Disabled',
    );
    expect((await coordinator.history('migration', 1))[0]).toMatchObject({
      from: 'stopping',
      to: 'failed',
      reason: status.lastError?.message,
    });
    expect(bus.ofType('ManagerStopped')).toEqual([]);
  });
});

describe('start', () => {
  it('enables exactly its mappings, goes starting → running, publishes ManagerStarted', async () => {
    const { coordinator, invoker, sources, bus } = world();
    await coordinator.stop('migration', 'admin-1');
    sources.calls.length = 0;
    invoker.calls.length = 0;

    const status = await coordinator.start('migration', 'admin-2');

    expect(status).toMatchObject({ managerId: 'migration', state: 'running', by: 'admin-2' });
    expect(sources.calls).toEqual([
      { uuid: 'esm-migrations-1', enabled: true },
      { uuid: 'esm-migrations-2', enabled: true },
    ]);
    expect(invoker.callsTo('migrationManager')).toEqual(['start']);
    expect((await coordinator.history('migration', 10)).map((t) => t.to)).toEqual([
      'running',
      'starting',
      'stopped',
      'stopping',
    ]);
    expect(bus.ofType('ManagerStarted')).toEqual([
      { managerId: 'migration', by: 'admin-2', at: expect.any(String), schemaVersion: 1 },
    ]);
    expectCatalogued(bus);
  });

  it('starting a running manager (or one never stopped) changes nothing', async () => {
    const { coordinator, invoker, sources, bus } = world();
    expect(await coordinator.start('migration', 'admin-1')).toEqual({
      managerId: 'migration',
      state: 'running',
      since: null,
      by: 'deployment',
    });
    expect([invoker.calls, sources.calls, bus.events]).toEqual([[], [], []]);
    expect(await coordinator.history('migration', 10)).toEqual([]);
  });

  it('refused by the manager (a dependency down): stays stopped with the reason, mappings untouched', async () => {
    // The real contract wrapper answers `start`, over a manager whose queue check fails.
    const checks = [
      healthyCheck('state-store'),
      failingCheck('queue', 'connect ECONNREFUSED 127.0.0.1:9324'),
    ];
    const handler = managerHandler(
      { ...declarationOf('migration'), id: 'migration' },
      {
        checks: async () => checks,
        gauges: async () => [],
        actions: {
          start: async () => ({}),
          get: async () => ({}),
          redrive: async () => ({}),
          rollback: async () => ({}),
        },
      },
    );
    const { coordinator, sources, bus } = world({
      answers: { migration: (call) => handler(call as never, lambdaContext()) },
    });
    await coordinator.stop('migration', 'admin-1');
    sources.calls.length = 0;

    const error = await rejection(coordinator.start('migration', 'admin-2'));

    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as ServiceUnavailableError).retryAfterSeconds).toBe(30);
    expect(error.issues).toEqual([{ field: 'checks.queue', reason: 'connect ECONNREFUSED 127.0.0.1:9324' }]);
    const status = await coordinator.status('migration');
    expect(status.state).toBe('stopped');
    expect(status.lastError?.message).toBe(
      'migration cannot start: queue: connect ECONNREFUSED 127.0.0.1:9324',
    );
    expect(sources.calls).toEqual([]);
    expect(bus.ofType('ManagerStarted')).toEqual([]);
    expect((await coordinator.history('migration', 2)).map((t) => [t.from, t.to])).toEqual([
      ['starting', 'stopped'],
      ['stopped', 'starting'],
    ]);

    // Once the dependency is back, it starts, and the old error is gone.
    checks[1] = healthyCheck('queue');
    const started = await coordinator.start('migration', 'admin-2');
    expect(started.state).toBe('running');
    expect(started).not.toHaveProperty('lastError');
  });

  it('a mapping that cannot be enabled leaves the manager failed with the reason, no ManagerStarted', async () => {
    const { coordinator, sources, bus } = world();
    await coordinator.stop('monitoring', 'admin-1');
    sources.failWith = new UpstreamError('Lambda UpdateEventSourceMapping: throttled');

    const error = await rejection(coordinator.start('monitoring', 'admin-1'));

    expect(error.message).toBe('Lambda UpdateEventSourceMapping: throttled');
    const status = await coordinator.status('monitoring');
    expect(status.state).toBe('failed');
    expect(status.lastError?.message).toBe('start failed: Lambda UpdateEventSourceMapping: throttled');
    expect(bus.ofType('ManagerStarted')).toEqual([]);
  });

  it('a failed manager whose start is refused stays failed (its mappings were never disabled), and can be stopped', async () => {
    const refusal = {
      ok: false,
      error: { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'queue down' },
    };
    const { coordinator, sources } = world({
      answers: {
        migration: (call) => (call.call === 'start' ? refusal : cannedManager('migration').answer(call)),
      },
    });
    await coordinator.markFailed('migration', 'disk on fire', new Date().toISOString());

    await rejection(coordinator.start('migration', 'admin-1'));

    const status = await coordinator.status('migration');
    expect(status.state).toBe('failed');
    expect(status.lastError?.message).toBe('queue down');
    expect(sources.calls).toEqual([]);
    // Not `stopped` while consumed: a stop still disables its mappings.
    expect((await coordinator.stop('migration', 'admin-1')).state).toBe('stopped');
    expect(sources.calls).toEqual(EVENT_SOURCES.migration.map((uuid) => ({ uuid, enabled: false })));
  });

  it('starts a failed manager again', async () => {
    const { coordinator } = world();
    await coordinator.markFailed('migration', 'disk on fire', new Date().toISOString());
    expect((await coordinator.status('migration')).state).toBe('failed');

    const status = await coordinator.start('migration', 'admin-1');

    expect(status.state).toBe('running');
    expect(status).not.toHaveProperty('lastError');
  });

  it('a bus that is down does not undo the transition: the manager is running, the event is missing', async () => {
    const { coordinator, bus } = world();
    await coordinator.stop('migration', 'admin-1');
    bus.failures = 1;
    expect((await coordinator.start('migration', 'admin-1')).state).toBe('running');
    expect(bus.ofType('ManagerStarted')).toEqual([]);
  });

  it('needs an event source switch for a manager with queues: failed, saying so', async () => {
    const { coordinator, store, invoker } = world();
    const blind = new Coordinator({
      declarations: DECLARATIONS,
      functionNames: FUNCTION_NAMES,
      eventSources: EVENT_SOURCES,
      invoker: () => invoker,
      state: () => store,
      checkTimeoutMs: TIMEOUT_MS,
    });
    await rejection(blind.stop('migration', 'admin-1'));
    expect((await coordinator.status('migration')).lastError?.message).toBe(
      "stop failed: no event source control: migration's queues cannot be switched",
    );
  });
});

describe('concurrent transitions', () => {
  it('a transition that lost the race answers 409 naming id, and does nothing else', async () => {
    const { coordinator, store, invoker, sources, bus } = world();
    // Another coordinator writes the lifecycle between this one's read and its write.
    store.beforeNextPut(LIFECYCLE_KEY, async () => {
      await store.inner.put(managerPartition('migration'), LIFECYCLE_KEY, {
        state: 'stopping',
        since: new Date().toISOString(),
        by: 'admin-other',
      });
    });

    const error = await rejection(coordinator.stop('migration', 'admin-1'));

    expect(error).toBeInstanceOf(ConflictError);
    expect(error.issues).toEqual([
      { field: 'id', reason: 'another transition of this manager happened at the same time' },
    ]);
    expect(await coordinator.status('migration')).toMatchObject({ state: 'stopping', by: 'admin-other' });
    expect([invoker.calls, sources.calls, bus.events]).toEqual([[], [], []]);
  });

  it('two coordinators stopping at once: one stops it, the other gets 409 or finds it stopped', async () => {
    const a = world();
    const b = world();
    // `b` shares `a`'s store.
    const other = new Coordinator({
      declarations: DECLARATIONS,
      functionNames: FUNCTION_NAMES,
      eventSources: EVENT_SOURCES,
      invoker: () => b.invoker,
      eventSourceSwitch: () => b.sources,
      state: () => a.store,
      publisher: () => b.bus.publisher(),
      checkTimeoutMs: TIMEOUT_MS,
    });

    const outcomes = await Promise.allSettled([
      a.coordinator.stop('migration', 'a'),
      other.stop('migration', 'b'),
    ]);

    expect((await a.coordinator.status('migration')).state).toBe('stopped');
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConflictError);
      else expect(o.value.state).toBe('stopped');
    }
    expect(
      a.bus.ofType('ManagerStopped').length + b.bus.ofType('ManagerStopped').length,
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('markFailed', () => {
  it('marks a running manager failed with the error, in its history', async () => {
    const { coordinator } = world();
    const at = new Date().toISOString();

    await coordinator.markFailed('migration', 'disk on fire', at);

    const status = await coordinator.status('migration');
    expect(status).toMatchObject({ state: 'failed', by: 'coordinator' });
    expect(status.lastError?.message).toBe('disk on fire');
    expect((await coordinator.history('migration', 1))[0]).toMatchObject({
      from: 'running',
      to: 'failed',
      by: 'coordinator',
      reason: 'disk on fire',
    });
  });

  it('records a newer failure of a failed manager', async () => {
    const { coordinator } = world();
    await coordinator.markFailed('migration', 'first', new Date().toISOString());
    await coordinator.markFailed('migration', 'second', new Date(Date.now() + 1_000).toISOString());
    expect((await coordinator.status('migration')).lastError?.message).toBe('second');
  });

  it('leaves a stopped, stopping or starting manager as it is', async () => {
    const { coordinator, lifecycle } = world();
    for (const state of ['stopped', 'stopping', 'starting'] as const) {
      const current = await lifecycle.read('migration');
      await lifecycle.transition('migration', current, state, 'admin-1');

      await coordinator.markFailed('migration', 'late failure', new Date(Date.now() + 60_000).toISOString());

      const status = await coordinator.status('migration');
      expect(status.state, state).toBe(state);
      expect(status).not.toHaveProperty('lastError');
    }
  });

  it('ignores a failure older than the current state (it happened before the last start)', async () => {
    const { coordinator } = world();
    await coordinator.stop('migration', 'admin-1');
    const beforeStart = new Date(Date.now() - 60_000).toISOString();
    await coordinator.start('migration', 'admin-1');

    await coordinator.markFailed('migration', 'stale failure', beforeStart);

    const status = await coordinator.status('migration');
    expect(status.state).toBe('running');
    expect(status).not.toHaveProperty('lastError');
  });

  it('refuses a manager id that is not one', async () => {
    const { coordinator } = world();
    await expect(coordinator.markFailed('nobody', 'x', new Date().toISOString())).rejects.toThrow();
  });
});

describe('health', () => {
  it("is the manager's answer, called with the configured time bound", async () => {
    const { coordinator, invoker } = world();
    const health = await coordinator.health('migration');
    expect(health).toMatchObject({ managerId: 'migration', status: 'healthy' });
    expect(invoker.calls).toEqual([
      { functionName: 'migrationManager', payload: { call: 'health' }, timeoutMs: TIMEOUT_MS },
    ]);
  });

  it('a manager that does not answer within the bound is unhealthy, with a `contract` check saying so', async () => {
    const { coordinator } = world({ answers: { migration: () => new Promise(() => {}) } });
    const started = performance.now();

    const health = await coordinator.health('migration');

    const elapsed = performance.now() - started;
    expect(health.managerId).toBe('migration');
    expect(health.status).toBe('unhealthy');
    expect(health.checks).toHaveLength(1);
    expect(health.checks[0]).toMatchObject({
      name: 'contract',
      status: 'unhealthy',
      detail: `migrationManager did not answer within ${TIMEOUT_MS} ms`,
    });
    expect(health.checks[0]!.latencyMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 2_000);
  });

  it('a manager answering outside the contract, or with an error, is unhealthy with what went wrong', async () => {
    const replies: unknown[] = [
      ok({ status: 'fine' }),
      'not a reply',
      { ok: false, error: { statusCode: 500, code: 'INTERNAL_ERROR', message: 'migration failed: boom' } },
    ];
    let next = 0;
    const { coordinator } = world({ answers: { migration: () => replies[next++] } });
    const details: string[] = [];
    for (let i = 0; i < replies.length; i++) {
      const health = await coordinator.health('migration');
      expect(health.status).toBe('unhealthy');
      expect(health.checks.map((c) => c.name)).toEqual(['contract']);
      details.push(health.checks[0]!.detail ?? '');
    }
    expect(details[0]).toMatch(/^migration answered outside the contract: result\./);
    expect(details[1]).toMatch(/^migration answered outside the contract: reply/);
    expect(details[2]).toBe('migration failed: boom');
  });

  it('statusAll is not held up by a manager that does not answer', async () => {
    const { coordinator } = world({ answers: { monitoring: () => new Promise(() => {}) } });
    const { managers } = await coordinator.statusAll();
    const byId = Object.fromEntries(managers.map((m) => [m.id, m]));
    expect(Object.keys(byId).sort()).toEqual(DECLARATIONS.map((d) => d.id).sort());
    expect(byId.monitoring?.health.checks[0]?.name).toBe('contract');
    expect(byId.migration?.health.status).toBe('healthy');
    expect(byId.migration?.status.state).toBe('running');
  });
});

describe('the Lambda invoker', () => {
  it('abandons a call after timeoutMs with an UpstreamError naming the bound', async () => {
    // A Lambda client whose call never answers, but honours its abort signal as the SDK does.
    const client = {
      send: (_command: unknown, options: { abortSignal: AbortSignal }) =>
        new Promise((_, reject) => {
          options.abortSignal.addEventListener('abort', () => reject(new Error('Request aborted')));
        }),
    } as unknown as LambdaClient;
    const started = performance.now();

    const error = await rejection(
      new LambdaInvoker(client).invoke('migrationManager', { call: 'health' }, { timeoutMs: 40 }),
    );

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.message).toBe('migrationManager did not answer within 40 ms');
    expect((error as UpstreamError).retryable).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
  });
});

describe('the health sweep', () => {
  it('publishes ManagerHealthChanged for each change only, and records the health', async () => {
    const { coordinator, managers, bus } = world();

    // First sweep: every manager's health is new (no `from`).
    const first = await coordinator.sweep();
    expect(first.checked).toBe(DECLARATIONS.length);
    expect(first.changed.sort()).toEqual(DECLARATIONS.map((d) => d.id).sort());
    expect(bus.ofType('ManagerHealthChanged').map((e) => [e.managerId, e.from, e.to])).toEqual(
      DECLARATIONS.map((d) => [d.id, undefined, 'healthy']),
    );

    // Nothing changed: nothing published.
    bus.events.length = 0;
    expect((await coordinator.sweep()).changed).toEqual([]);
    expect(bus.events).toEqual([]);

    // Migration degraded: one event, naming the failing check.
    managers.migration!.checks = [
      healthyCheck('state-store'),
      failingCheck('recent-failures', '2 failed', 'degraded'),
    ];
    const third = await coordinator.sweep();
    expect(third.changed).toEqual(['migration']);
    // Every manager's status, changed or not (the sweep's metric per manager).
    expect(third.health).toEqual({
      ...Object.fromEntries(DECLARATIONS.map((d) => [d.id, 'healthy'])),
      migration: 'degraded',
    });
    expect(bus.events.map((e) => e.detailType)).toEqual(['ManagerHealthChanged']);
    expect(bus.ofType('ManagerHealthChanged')[0]).toMatchObject({
      managerId: 'migration',
      from: 'healthy',
      to: 'degraded',
      failing: [{ name: 'recent-failures', status: 'degraded', detail: '2 failed' }],
    });
    expect((await coordinator.recordedHealth('migration'))?.status).toBe('degraded');
    expectCatalogued(bus);
  });

  it('a change whose event could not be published is published by the next sweep', async () => {
    const { coordinator, bus } = world();
    bus.failures = 1;

    await rejection(coordinator.sweep());
    expect(bus.events).toEqual([]);
    expect(await coordinator.recordedHealth('migration')).toBeUndefined();

    const retried = await coordinator.sweep();
    expect(retried.changed.sort()).toEqual(DECLARATIONS.map((d) => d.id).sort());
    expect(bus.ofType('ManagerHealthChanged')).toHaveLength(DECLARATIONS.length);
  });

  it('publishes SystemCriticalDetected only when a manager that cannot be stopped turns unhealthy', async () => {
    const { coordinator, managers, bus } = world();
    await coordinator.sweep();
    bus.events.length = 0;

    // A stoppable manager turning unhealthy is not critical.
    managers.monitoring!.checks = [failingCheck('state-store', 'EACCES')];
    await coordinator.sweep();
    expect(bus.ofType('SystemCriticalDetected')).toEqual([]);
    expect(bus.ofType('ManagerHealthChanged').map((e) => e.managerId)).toEqual(['monitoring']);

    // The coordinator (not stoppable) turning unhealthy is.
    bus.events.length = 0;
    managers['central-coordinator']!.checks = [
      healthyCheck('a'),
      failingCheck('state-store', 'table is gone'),
    ];
    await coordinator.sweep();
    expect(bus.ofType('SystemCriticalDetected')).toEqual([
      {
        managers: ['central-coordinator'],
        reason: 'central-coordinator: table is gone',
        at: expect.any(String),
        schemaVersion: 1,
      },
    ]);

    // Still unhealthy: no news, no second alert.
    bus.events.length = 0;
    await coordinator.sweep();
    expect(bus.events).toEqual([]);

    // Degraded (better, not unhealthy): a change, not critical.
    managers['central-coordinator']!.checks = [failingCheck('state-store', 'slow', 'degraded')];
    await coordinator.sweep();
    expect(bus.events.map((e) => e.detailType)).toEqual(['ManagerHealthChanged']);
    expectCatalogued(bus);
  });

  it('a coordinator that does not answer in time is critical too', async () => {
    const { coordinator, bus } = world({ answers: { 'central-coordinator': () => new Promise(() => {}) } });
    expect((await coordinator.sweep()).health['central-coordinator']).toBe('unhealthy');
    expect(bus.ofType('SystemCriticalDetected')).toEqual([
      expect.objectContaining({
        managers: ['central-coordinator'],
        reason: `central-coordinator: coordinatorManager did not answer within ${TIMEOUT_MS} ms`,
      }),
    ]);
  });

  it('without a publisher, records the health and publishes nothing', async () => {
    const { coordinator, bus } = world({ publisher: false });
    expect((await coordinator.sweep()).changed).toHaveLength(DECLARATIONS.length);
    expect(bus.events).toEqual([]);
    expect((await coordinator.recordedHealth('vectorization'))?.status).toBe('healthy');
  });
});

describe('actions', () => {
  it("answers each action's role, and 404 naming `action` for one the manager does not have", () => {
    const { coordinator } = world();
    expect(coordinator.actionRole('migration', 'redrive')).toBe('admin');
    expect(coordinator.actionRole('central-coordinator', 'sweep')).toBe('admin');
    for (const action of ['explode', 'toString', '__proto__', 'constructor']) {
      let error: AppError | undefined;
      try {
        coordinator.actionRole('migration', action);
      } catch (err) {
        error = err as AppError;
      }
      expect(error, action).toBeInstanceOf(NotFoundError);
      expect(error?.issues).toEqual([
        { field: 'action', reason: `must be one of: ${Object.keys(MANAGER_ACTIONS.migration).join(', ')}` },
      ]);
    }
    expect(() => coordinator.actionRole('monitoring', 'sweep')).toThrow(/monitoring has no action "sweep"/);
  });

  it('runs an action on a running manager through its contract, with the input (none: {}) and who asked', async () => {
    const { coordinator, invoker } = world();
    expect(await coordinator.action('migration', 'redrive', { jobId: 'j1' }, 'admin-1')).toEqual({
      ran: 'redrive',
      input: { jobId: 'j1' },
      by: 'admin-1',
    });
    await coordinator.action('migration', 'redrive', undefined, 'admin-1');
    expect(invoker.calls.map((c) => c.payload)).toEqual([
      { call: 'action', action: 'redrive', input: { jobId: 'j1' }, by: 'admin-1' },
      { call: 'action', action: 'redrive', input: {}, by: 'admin-1' },
    ]);
  });

  it('refuses (503, Retry-After 30, naming id) an action while the manager is stopped, without calling it', async () => {
    const { coordinator, invoker } = world();
    await coordinator.stop('migration', 'admin-1');
    invoker.calls.length = 0;

    const error = await rejection(coordinator.action('migration', 'redrive', { jobId: 'j1' }, 'admin-1'));

    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as ServiceUnavailableError).retryAfterSeconds).toBe(30);
    expect(error.issues).toEqual([{ field: 'id', reason: 'migration is stopped' }]);
    expect(invoker.calls).toEqual([]);
  });

  it("carries the manager's typed error back with its status, code and issues", async () => {
    const { coordinator } = world({
      answers: {
        migration: () => ({
          ok: false,
          error: {
            statusCode: 404,
            code: 'NOT_FOUND',
            message: 'migration j1 does not exist',
            issues: [{ field: 'id', reason: 'no such migration' }],
          },
        }),
      },
    });
    const error = await rejection(coordinator.action('migration', 'redrive', { jobId: 'j1' }, 'a'));
    expect(error).toBeInstanceOf(AppError);
    expect([error.statusCode, error.code, error.message, error.issues]).toEqual([
      404,
      'NOT_FOUND',
      'migration j1 does not exist',
      [{ field: 'id', reason: 'no such migration' }],
    ]);
  });

  it("a manager's 503 is a 503 with Retry-After; its 5xx is a 502", async () => {
    let reply: unknown;
    const { coordinator } = world({ answers: { migration: () => reply } });
    reply = { ok: false, error: { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'busy' } };
    const busy = await rejection(coordinator.action('migration', 'redrive', {}, 'a'));
    expect(busy).toBeInstanceOf(ServiceUnavailableError);
    expect((busy as ServiceUnavailableError).retryAfterSeconds).toBe(30);
    reply = { ok: false, error: { statusCode: 500, code: 'INTERNAL_ERROR', message: 'migration failed: x' } };
    const failed = await rejection(coordinator.action('migration', 'redrive', {}, 'a'));
    expect(failed).toBeInstanceOf(UpstreamError);
    expect(failed.statusCode).toBe(502);
  });
});

describe('replies outside the contract', () => {
  it('are a 502 naming the manager, whatever the call', async () => {
    let reply: unknown;
    const { coordinator } = world({ answers: { migration: () => reply } });
    const cases: Array<[unknown, () => Promise<unknown>]> = [
      ['not json at all', () => coordinator.action('migration', 'redrive', {}, 'a')],
      [{ ok: true }, () => coordinator.action('migration', 'redrive', {}, 'a')],
      [
        { ok: false, error: { message: 'no status' } },
        () => coordinator.action('migration', 'redrive', {}, 'a'),
      ],
      [ok({ managerId: 'migration' }), () => coordinator.metrics('migration')],
      [ok({ id: 'migration' }), () => coordinator.describe('migration')],
      [
        ok({ ...describeManager(declarationOf('migration'), []), extra: 1 }),
        () => coordinator.describe('migration'),
      ],
      [
        { ok: false, error: { statusCode: 200, code: 'OK', message: 'an error that is a success' } },
        () => coordinator.action('migration', 'redrive', {}, 'a'),
      ],
      [
        { ok: false, error: { statusCode: 0, code: 'X', message: 'no status' } },
        () => coordinator.action('migration', 'redrive', {}, 'a'),
      ],
    ];
    for (const [answer, run] of cases) {
      reply = answer;
      const error = await rejection(run());
      expect(error, JSON.stringify(answer)).toBeInstanceOf(UpstreamError);
      expect(error.statusCode).toBe(502);
      expect(error.message, JSON.stringify(answer)).toMatch(/^migration answered outside the contract: /);
    }
  });

  it('a well-formed description is answered with the lifecycle status', async () => {
    const { coordinator } = world({
      answers: { migration: () => ok(describeManager(declarationOf('migration'), [])) },
    });
    const description = await coordinator.describe('migration');
    expect(description.id).toBe('migration');
    expect(description.status).toEqual({
      managerId: 'migration',
      state: 'running',
      since: null,
      by: 'deployment',
    });
  });

  it('a manager with no deployed function cannot be called', async () => {
    const { store, invoker } = world();
    const coordinator = new Coordinator({
      declarations: DECLARATIONS,
      functionNames: {},
      invoker: () => invoker,
      state: () => store,
      checkTimeoutMs: TIMEOUT_MS,
    });
    await expect(coordinator.metrics('migration')).rejects.toThrow(
      'MANAGER_FUNCTIONS names no function for migration',
    );
    expect((await coordinator.health('migration')).checks[0]?.detail).toBe(
      'MANAGER_FUNCTIONS names no function for migration',
    );
  });
});

describe('list', () => {
  it('lists every declared manager with its lifecycle status, without calling any', async () => {
    const { coordinator, invoker } = world();
    await coordinator.stop('monitoring', 'admin-1');
    invoker.calls.length = 0;
    const list = await coordinator.list();
    expect(list.map((m) => [m.id, m.stoppable, m.status.state])).toEqual([
      ['central-coordinator', false, 'running'],
      ['migration', true, 'running'],
      ['monitoring', true, 'stopped'],
      ['vectorization', true, 'running'],
    ]);
    expect(invoker.calls).toEqual([]);
  });
});
