import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { EventBridgeBus } from '#shared/adapters/eventbridge.ts';
import { resetConfig } from '#shared/config.ts';
import { ConflictError } from '#shared/errors.ts';
import { ConfigStore, resetConfigCache } from '#shared/managers/config-store.ts';
import {
  type Check,
  ContractCallSchema,
  type ContractReply,
  ContractReplySchema,
  DescriptionSchema,
  HealthSchema,
  MetricsSchema,
  StatusSchema,
} from '#shared/managers/contract.ts';
import {
  MANAGER_STOPPED,
  type ManagerImplementation,
  managerHandler,
} from '#shared/managers/contract-handler.ts';
import { LifecycleStore, NEVER_TRANSITIONED } from '#shared/managers/lifecycle.ts';
import { MANAGER_ACTIONS } from '#shared/managers/specs.ts';
import type { PlatformEvent } from '#shared/ports.ts';
import { lambdaContext } from '../http/support.ts';
import {
  declarationOf,
  failingCheck,
  fileStore,
  healthyCheck,
  setEnv,
  tempDir,
  UNSET_PLATFORM_ENV,
} from './support.ts';

/**
 * The contract wrapper with a fake implementation: every call answered from the declaration, the
 * manager's checks, gauges and actions, and every failure carried back as `{ ok: false, error }`.
 */

let dir: { path: string; cleanup(): Promise<void> };
let restoreEnv: () => void;

beforeAll(async () => {
  dir = await tempDir('vp-contract-handler-');
  restoreEnv = setEnv({ ...UNSET_PLATFORM_ENV, STATE_DIR: dir.path, SERVICE_VERSION: '1.2.3' });
});
afterAll(async () => {
  restoreEnv();
  resetConfig();
  await dir.cleanup();
});
beforeEach(() => {
  resetConfig();
  resetConfigCache();
});
afterEach(() => vi.restoreAllMocks());

/** A migration manager whose checks, gauges and actions the test decides. */
function fakeMigration() {
  const fake: {
    checks: Check[];
    failure: unknown;
    seen: Array<{ action: string; input: unknown; by: string; windowMinutes: number }>;
    impl: ManagerImplementation<'migration'>;
  } = {
    checks: [healthyCheck('state-store')],
    failure: undefined,
    seen: [],
    impl: {
      async checks() {
        if (fake.failure !== undefined) throw fake.failure;
        return fake.checks;
      },
      async gauges() {
        return [{ name: 'fake_jobs', help: 'Jobs of the fake', value: 7, labels: { state: 'running' } }];
      },
      actions: {
        start: async () => ({}),
        get: async () => ({}),
        async redrive(input: { jobId: string }, ctx, by) {
          fake.seen.push({ action: 'redrive', input, by, windowMinutes: ctx.config.windowMinutes });
          return { redriven: input.jobId };
        },
        async rollback(input: { jobId: string }) {
          throw new ConflictError(`migration ${input.jobId} has nothing to roll back`, [
            { field: 'jobId', reason: 'it never switched the alias' },
          ]);
        },
      },
    },
  };
  return fake;
}

async function callOf(handler: ReturnType<typeof managerHandler>, call: unknown): Promise<ContractReply> {
  const reply = (await handler(call as never, lambdaContext())) as ContractReply;
  // Whatever the call, the answer is a contract reply.
  return ContractReplySchema.parse(reply);
}

function resultOf(reply: ContractReply): unknown {
  if (!reply.ok) throw new Error(`expected a result, got ${JSON.stringify(reply.error)}`);
  return reply.result;
}

function errorOf(reply: ContractReply) {
  if (reply.ok) throw new Error(`expected an error, got ${JSON.stringify(reply.result)}`);
  return reply.error;
}

describe('describe', () => {
  it('reflects the declaration, its actions with their input schemas and its configuration schema', async () => {
    const declaration = declarationOf('migration', { stoppable: true });
    const handler = managerHandler({ ...declaration, id: 'migration' }, fakeMigration().impl);

    const description = DescriptionSchema.parse(resultOf(await callOf(handler, { call: 'describe' })));

    expect(description).toMatchObject({
      id: 'migration',
      name: declaration.name,
      description: declaration.description,
      version: '1.2.3',
      stoppable: true,
      owns: {
        functions: declaration.functions,
        routes: declaration.routes,
        queues: declaration.queues,
        rules: declaration.rules,
        schedules: declaration.schedules,
        // The fake owns no collections (no `collections()`).
        collections: [],
      },
      emits: declaration.emits,
      consumes: declaration.consumes,
    });
    expect(description.actions.map((a) => [a.name, a.role])).toEqual([
      ['start', 'admin'],
      ['get', 'writer'],
      ['redrive', 'admin'],
      ['rollback', 'admin'],
    ]);
    const input = description.actions.find((a) => a.name === 'redrive')!.input as {
      properties: Record<string, unknown>;
      required: string[];
      additionalProperties: boolean;
    };
    expect(Object.keys(input.properties)).toEqual(['jobId']);
    expect(input.required).toEqual(['jobId']);
    expect(input.additionalProperties).toBe(false);
    const config = description.config as { properties: Record<string, { default?: unknown }> };
    expect(Object.keys(config.properties).sort()).toEqual(['degradedAfterFailedJobs', 'windowMinutes']);
    expect(config.properties.windowMinutes?.default).toBe(60);
  });

  it('lists the collections the manager owns, and a manager with no action describes none', async () => {
    const handler = managerHandler(
      { ...declarationOf('vectorization'), id: 'vectorization' },
      {
        checks: async () => [],
        gauges: async () => [],
        collections: async () => ['plans', 'tasks'],
        actions: {},
      },
    );
    const description = DescriptionSchema.parse(resultOf(await callOf(handler, { call: 'describe' })));
    expect(description.owns.collections).toEqual(['plans', 'tasks']);
    expect(description.actions).toEqual([]);
    expect(Object.keys((description.config as { properties: object }).properties)).toEqual([
      'degradedAboveMs',
    ]);
  });
});

describe('status, health and metrics', () => {
  it('status is the stored lifecycle: running since deployment, then what the coordinator wrote', async () => {
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fakeMigration().impl);
    expect(resultOf(await callOf(handler, { call: 'status' }))).toEqual({
      managerId: 'migration',
      state: 'running',
      since: null,
      by: 'deployment',
    });
    const lifecycle = new LifecycleStore(() => fileStore(dir.path));
    await lifecycle.transition('migration', NEVER_TRANSITIONED, 'stopped', 'admin-1');
    try {
      const status = StatusSchema.parse(resultOf(await callOf(handler, { call: 'status' })));
      expect(status).toMatchObject({ state: 'stopped', by: 'admin-1' });
    } finally {
      const current = await lifecycle.read('migration');
      await lifecycle.transition('migration', current, 'running', 'admin-1');
    }
  });

  it('health is the worst of the checks, with every check', async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
    fake.checks = [healthyCheck('state-store'), failingCheck('recent-failures', '2 failed', 'degraded')];

    const health = HealthSchema.parse(resultOf(await callOf(handler, { call: 'health' })));

    expect(health.managerId).toBe('migration');
    expect(health.status).toBe('degraded');
    expect(health.checks).toEqual(fake.checks);
    expect(Date.now() - Date.parse(health.checkedAt)).toBeLessThan(60_000);
  });

  it("metrics: the functions' figures (none named), the manager's gauges, over monitoring's window", async () => {
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fakeMigration().impl);
    await new ConfigStore(() => fileStore(dir.path)).replace('monitoring', { windowMinutes: 5 }, 'admin-1', {
      historyLimit: 5,
    });

    const metrics = MetricsSchema.parse(resultOf(await callOf(handler, { call: 'metrics' })));

    expect(metrics.functions).toEqual({});
    expect(metrics.totals).toEqual({ invocations: 0, errors: 0, throttles: 0 });
    expect(metrics.gauges).toEqual([
      { name: 'fake_jobs', help: 'Jobs of the fake', value: 7, labels: { state: 'running' } },
    ]);
    expect(Date.parse(metrics.window.end) - Date.parse(metrics.window.start)).toBe(5 * 60_000);
  });
});

describe('validateConfig', () => {
  it('answers the configuration with its defaults, or the issues naming config.<field>', async () => {
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fakeMigration().impl);

    expect(resultOf(await callOf(handler, { call: 'validateConfig', config: { windowMinutes: 5 } }))).toEqual(
      {
        valid: true,
        issues: [],
        config: { windowMinutes: 5, degradedAfterFailedJobs: 1 },
      },
    );
    const invalid = resultOf(
      await callOf(handler, {
        call: 'validateConfig',
        config: { windowMinutes: 0, degradedAfterFailedJobs: 'x' },
      }),
    ) as { valid: boolean; issues: Array<{ field: string }> };
    expect(invalid.valid).toBe(false);
    expect(invalid.issues.map((i) => i.field).sort()).toEqual([
      'config.degradedAfterFailedJobs',
      'config.windowMinutes',
    ]);
    // Not an object at all: the configuration itself is named.
    const notObject = resultOf(await callOf(handler, { call: 'validateConfig', config: 'nope' })) as {
      issues: Array<{ field: string }>;
    };
    expect(notObject.issues.map((i) => i.field)).toEqual(['config']);
  });
});

describe('actions', () => {
  it('runs the action with its validated input, the stored configuration and who asked', async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);

    const reply = await callOf(handler, {
      call: 'action',
      action: 'redrive',
      input: { jobId: 'j1' },
      by: 'admin-1',
    });

    expect(resultOf(reply)).toEqual({ redriven: 'j1' });
    expect(fake.seen).toEqual([
      { action: 'redrive', input: { jobId: 'j1' }, by: 'admin-1', windowMinutes: 60 },
    ]);
  });

  it('answers 404 naming `action` for an action the manager does not have', async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);

    const error = errorOf(
      await callOf(handler, { call: 'action', action: 'explode', input: {}, by: 'admin-1' }),
    );

    expect(error).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    expect(error.message).toContain('explode');
    expect(error.issues).toEqual([
      { field: 'action', reason: 'must be one of: start, get, redrive, rollback' },
    ]);
    // Inherited object keys are not actions either (they were: 500, and ManagerFailed).
    for (const action of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const inherited = errorOf(await callOf(handler, { call: 'action', action, input: {}, by: 'admin-1' }));
      expect(inherited.statusCode, action).toBe(404);
      expect(inherited.issues?.[0]?.field).toBe('action');
    }
    expect(fake.seen).toEqual([]);
  });

  it('a manager with no actions says so', async () => {
    const handler = managerHandler(
      { ...declarationOf('monitoring'), id: 'monitoring' },
      { checks: async () => [], gauges: async () => [], actions: {} },
    );
    const error = errorOf(await callOf(handler, { call: 'action', action: 'sweep', input: {}, by: 'a' }));
    expect(error.statusCode).toBe(404);
    expect(error.issues).toEqual([{ field: 'action', reason: 'must be one of: (none)' }]);
  });

  it("validates the action's input: 400 naming input.<field>, and the action is not run", async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
    const cases: Array<[unknown, string]> = [
      [{}, 'input.jobId'],
      [{ jobId: '' }, 'input.jobId'],
      [{ jobId: 'x'.repeat(201) }, 'input.jobId'],
      [{ jobId: 7 }, 'input.jobId'],
      [{ jobId: 'j1', extra: true }, 'input'],
      [[], 'input'],
    ];
    for (const [input, field] of cases) {
      const error = errorOf(
        await callOf(handler, { call: 'action', action: 'redrive', input, by: 'admin-1' }),
      );
      expect(error.statusCode, JSON.stringify(input)).toBe(400);
      expect(error.code).toBe('VALIDATION_ERROR');
      expect(error.issues?.[0]?.field, JSON.stringify(input)).toBe(field);
    }
    // A null input is an empty one; a call without the field is malformed.
    const empty = errorOf(await callOf(handler, { call: 'action', action: 'redrive', input: null, by: 'a' }));
    expect(empty.issues?.[0]?.field).toBe('input.jobId');
    const missing = errorOf(await callOf(handler, { call: 'action', action: 'redrive', by: 'admin-1' }));
    expect(missing.issues?.[0]?.field).toBe('call.input');
    expect(fake.seen).toEqual([]);
  });

  it("carries the action's typed error back as it is (status, code, issues)", async () => {
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fakeMigration().impl);
    const error = errorOf(
      await callOf(handler, { call: 'action', action: 'rollback', input: { jobId: 'j1' }, by: 'admin-1' }),
    );
    expect(error).toEqual({
      statusCode: 409,
      code: 'CONFLICT',
      message: 'migration j1 has nothing to roll back',
      issues: [{ field: 'jobId', reason: 'it never switched the alias' }],
    });
  });
});

describe("task (a workflow's Task state)", () => {
  const execution = 'arn:aws:states:us-east-1:123456789012:execution:vp-dev-wf-0123456789:run-1';

  /** What the Lambda runtime would report: the thrown error's name and message. */
  async function failureOf(handler: ReturnType<typeof managerHandler>, call: unknown): Promise<Error> {
    try {
      const result = await handler(call as never, lambdaContext());
      throw new Error(`expected a thrown error, got ${JSON.stringify(result)}`);
    } catch (err) {
      expect(err).toBeInstanceOf(Error);
      return err as Error;
    }
  }

  it("answers the action's bare result, run with its validated input and the execution as who asked", async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);

    const result = await handler(
      { call: 'task', action: 'redrive', input: { jobId: 'j1' }, workflow: execution } as never,
      lambdaContext(),
    );

    expect(result).toEqual({ redriven: 'j1' });
    expect(fake.seen).toEqual([
      { action: 'redrive', input: { jobId: 'j1' }, by: execution, windowMinutes: 60 },
    ]);
    // Without the execution, the action is the workflow's.
    await handler({ call: 'task', action: 'redrive', input: { jobId: 'j2' } } as never, lambdaContext());
    expect(fake.seen[1]?.by).toBe('workflow');
  });

  it('throws ManagerStopped naming the manager and its state while it is paused, and runs nothing', async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
    const lifecycle = new LifecycleStore(() => fileStore(dir.path));
    await lifecycle.transition('migration', await lifecycle.read('migration'), 'stopped', 'admin-1');
    try {
      const failure = await failureOf(handler, {
        call: 'task',
        action: 'redrive',
        input: { jobId: 'j1' },
        workflow: execution,
      });
      expect(failure.name).toBe(MANAGER_STOPPED);
      expect(failure.message).toBe('the migration manager is stopped; start it to run redrive');
      expect(fake.seen).toEqual([]);
    } finally {
      await lifecycle.transition('migration', await lifecycle.read('migration'), 'running', 'admin-1');
    }
  });

  it("throws a typed error named by its code: invalid input, unknown action, the action's own", async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);

    const invalid = await failureOf(handler, { call: 'task', action: 'redrive', input: { jobId: 7 } });
    expect(invalid.name).toBe('VALIDATION_ERROR');
    expect(invalid.message).toMatch(/^input\.jobId: /);

    const unknown = await failureOf(handler, { call: 'task', action: 'explode', input: {} });
    expect(unknown.name).toBe('NOT_FOUND');
    expect(unknown.message).toBe(
      `migration has no action "explode" (action: must be one of: ${Object.keys(MANAGER_ACTIONS.migration).join(', ')})`,
    );

    const own = await failureOf(handler, { call: 'task', action: 'rollback', input: { jobId: 'j1' } });
    expect(own.name).toBe('CONFLICT');
    expect(own.message).toBe('migration j1 has nothing to roll back (jobId: it never switched the alias)');

    // A malformed task call is thrown too: Step Functions must not take it for a result.
    const malformed = await failureOf(handler, { call: 'task', action: 'redrive', input: {}, by: 'a' });
    expect(malformed.name).toBe('VALIDATION_ERROR');
    expect(malformed.message).toContain('call');
    const longArn = await failureOf(handler, {
      call: 'task',
      action: 'redrive',
      input: {},
      workflow: 'x'.repeat(2049),
    });
    expect(longArn.message).toContain('call.workflow');
    expect(fake.seen).toEqual([]);
  });

  it('reports an unexpected error as ManagerFailed and rethrows it with its own name', async () => {
    const restore = setEnv({ EVENT_BUS_NAME: 'platform-bus', AWS_REGION: 'us-east-1' });
    resetConfig();
    try {
      const fake = fakeMigration();
      fake.impl.actions.redrive = async () => {
        throw new TypeError('boom');
      };
      const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
      const published: PlatformEvent[] = [];
      vi.spyOn(EventBridgeBus.prototype, 'publish').mockImplementation(async (events) => {
        published.push(...events);
      });

      const failure = await failureOf(handler, { call: 'task', action: 'redrive', input: { jobId: 'j1' } });

      expect(failure).toBeInstanceOf(TypeError);
      expect(failure.message).toBe('boom');
      expect(published.map((e) => [e.detailType, (e.detail as { error: string }).error])).toEqual([
        ['ManagerFailed', 'boom'],
      ]);
      // A stopped manager or a typed error is the manager's answer, not a failure.
      await failureOf(handler, { call: 'task', action: 'explode', input: {} });
      expect(published).toHaveLength(1);
    } finally {
      restore();
      resetConfig();
    }
  });
});

describe('start and stop', () => {
  it('starts when no check is unhealthy (degraded is not a reason to refuse)', async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
    expect(resultOf(await callOf(handler, { call: 'start' }))).toEqual({ started: true, health: 'healthy' });
    fake.checks = [healthyCheck('state-store'), failingCheck('recent-failures', '3 failed', 'degraded')];
    expect(resultOf(await callOf(handler, { call: 'start' }))).toEqual({ started: true, health: 'degraded' });
    expect(resultOf(await callOf(handler, { call: 'stop' }))).toEqual({ stopped: true });
  });

  it('refuses to start (503) naming each unhealthy check, with its detail', async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
    fake.checks = [
      healthyCheck('state-store'),
      failingCheck('queue', 'connect ECONNREFUSED'),
      failingCheck('recent-failures', '1 failed', 'degraded'),
      { name: 'qdrant', status: 'unhealthy', latencyMs: 3 },
    ];

    const error = errorOf(await callOf(handler, { call: 'start' }));

    expect(error.statusCode).toBe(503);
    expect(error.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.message).toBe('migration cannot start: queue: connect ECONNREFUSED; qdrant: unhealthy');
    expect(error.issues).toEqual([
      { field: 'checks.queue', reason: 'connect ECONNREFUSED' },
      { field: 'checks.qdrant', reason: 'unhealthy' },
    ]);
  });
});

describe('failures', () => {
  it('answers 500 for an unexpected error, and does not throw', async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
    fake.failure = new TypeError("Cannot read properties of undefined (reading 'ping')");

    const reply = await callOf(handler, { call: 'health' });

    expect(errorOf(reply)).toEqual({
      statusCode: 500,
      code: 'INTERNAL_ERROR',
      message: "migration failed: Cannot read properties of undefined (reading 'ping')",
    });
  });

  it('reports an unexpected error as ManagerFailed on the bus, and a bus that is down hides nothing', async () => {
    const restore = setEnv({ EVENT_BUS_NAME: 'platform-bus', AWS_REGION: 'us-east-1' });
    resetConfig();
    try {
      const fake = fakeMigration();
      const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
      fake.failure = new Error('disk on fire');
      const published: PlatformEvent[] = [];
      const publish = vi.spyOn(EventBridgeBus.prototype, 'publish').mockImplementation(async (events) => {
        published.push(...events);
      });

      expect(errorOf(await callOf(handler, { call: 'health', correlationId: 'coord-1' })).statusCode).toBe(
        500,
      );
      expect(published).toHaveLength(1);
      expect(published[0]).toMatchObject({
        source: 'vector-platform',
        detailType: 'ManagerFailed',
        // The coordinator's request goes on in the manager's events.
        detail: { managerId: 'migration', error: 'disk on fire', schemaVersion: 1, correlationId: 'coord-1' },
      });
      // A call that names no id starts its own chain: the invocation's request id.
      await callOf(handler, { call: 'health' });
      expect(published[1]?.detail).toMatchObject({ correlationId: 'req-123' });

      // The bus is down: the answer is the same 500 about the manager's own error.
      publish.mockRejectedValue(new Error('EventBridge is unreachable'));
      expect(errorOf(await callOf(handler, { call: 'health' }))).toMatchObject({
        statusCode: 500,
        message: 'migration failed: disk on fire',
      });
      // A typed error is the manager's answer, not a failure: nothing is reported.
      publish.mockClear();
      await callOf(handler, { call: 'action', action: 'explode', input: {}, by: 'a' });
      expect(publish).not.toHaveBeenCalled();
    } finally {
      restore();
      resetConfig();
    }
  });

  it('answers 500 (not a throw) when its own configuration cannot be read', async () => {
    const restore = setEnv({ EMBEDDING_DIMENSIONS: 'many' });
    resetConfig();
    try {
      const handler = managerHandler(
        { ...declarationOf('migration'), id: 'migration' },
        fakeMigration().impl,
      );
      const error = errorOf(await callOf(handler, { call: 'describe' }));
      expect(error.statusCode).toBe(500);
      expect(error.message).toContain('EMBEDDING_DIMENSIONS');
    } finally {
      restore();
      resetConfig();
    }
  });
});

describe('malformed calls', () => {
  it('answers 400 naming the call for the usual mistakes', async () => {
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fakeMigration().impl);
    const cases: Array<[unknown, string]> = [
      [null, 'call'],
      ['describe', 'call'],
      [{}, 'call.call'],
      [{ call: 'explode' }, 'call.call'],
      [{ call: 'describe', extra: 1 }, 'call'],
      [{ call: 'action', input: {}, by: 'a' }, 'call.action'],
      [{ call: 'action', action: 'redrive', input: {} }, 'call.by'],
    ];
    for (const [call, field] of cases) {
      const error = errorOf(await callOf(handler, call));
      expect(error.statusCode, JSON.stringify(call)).toBe(400);
      expect(error.code).toBe('VALIDATION_ERROR');
      expect(error.issues?.[0]?.field, JSON.stringify(call)).toBe(field);
    }
  });

  it('never throws on any payload: a call it cannot parse is always a 400 reply', async () => {
    const fake = fakeMigration();
    const handler = managerHandler({ ...declarationOf('migration'), id: 'migration' }, fake.impl);
    const callLike = fc.record(
      {
        call: fc.oneof(
          fc.constantFrom('describe', 'health', 'status', 'validateConfig', 'start', 'stop', 'action'),
          fc.string(),
        ),
        action: fc.oneof(fc.constantFrom('redrive', 'rollback', 'explode', ''), fc.jsonValue()),
        input: fc.jsonValue(),
        by: fc.oneof(fc.string(), fc.jsonValue()),
        config: fc.jsonValue(),
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['call'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), callLike), async (payload) => {
        // A task call throws its failures by design (tested above).
        fc.pre((payload as { call?: unknown } | null)?.call !== 'task');
        let reply: ContractReply;
        try {
          reply = await callOf(handler, payload);
        } catch (err) {
          throw new Error(`the handler threw on ${JSON.stringify(payload)}: ${String(err)}`);
        }
        if (!ContractCallSchema.safeParse(payload).success) {
          const error = errorOf(reply);
          expect(error.statusCode).toBe(400);
          expect(error.code).toBe('VALIDATION_ERROR');
          expect(error.issues?.every((i) => i.field === 'call' || i.field.startsWith('call.'))).toBe(true);
        } else if (!reply.ok) {
          // A well-formed call may still be refused, but only by the manager's typed errors.
          expect([400, 404, 409, 503]).toContain(reply.error.statusCode);
        }
      }),
      { numRuns: 200 },
    );
  });
});
