import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context as LambdaContext } from 'aws-lambda';
import { z } from 'zod';
import { withActor } from '../actor.ts';
import { createEventBus, createMetricsReader, createStateStore } from '../adapters/index.ts';
import { type Config, getConfig } from '../config.ts';
import { CORRELATION_ATTRIBUTE, fieldOf, pickCorrelationId, withCorrelationId } from '../correlation.ts';
import { AppError, NotFoundError, ServiceUnavailableError } from '../errors.ts';
import { EventPublisher } from '../events/publisher.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { logger, metrics } from '../powertools.ts';
import { parseWith } from '../validation.ts';
import { ConfigStore, cachedConfig, validateConfig } from './config-store.ts';
import {
  type Check,
  type ContractCall,
  ContractCallSchema,
  type ContractReply,
  type Description,
  type Gauge,
  type Health,
  type Metrics,
  worstOf,
} from './contract.ts';
import type { ManagerDeclaration } from './declaration.ts';
import { MANAGER_ENV } from './environment.ts';
import { LifecycleStore, PAUSED_STATES, STOPPED_RETRY_AFTER_SECONDS } from './lifecycle.ts';
import type { Window } from './ports.ts';
import { MANAGER_ACTIONS, MANAGER_CONFIG, type ManagerConfig, type ManagerId } from './specs.ts';

/**
 * The one wrapper of manager contract functions: it parses the call, answers `describe`,
 * `status`, `metrics` (its functions' CloudWatch figures plus the manager's gauges), `health`,
 * `validateConfig`, `start`, `stop` and actions from a manager's implementation, and carries a
 * typed error back as `{ ok: false, error }` so the coordinator answers what the manager meant.
 * A `task` call (a workflow's Task state) runs an action too, but answers its bare result and
 * throws its failure, so that Step Functions sees a function error it can Retry/Catch by name.
 * An unexpected error is reported on the bus as ManagerFailed.
 */

/** The error name a workflow's Task state sees when its manager is not running (Retry/Catch on it). */
export const MANAGER_STOPPED = 'ManagerStopped';

export interface ManagerContext<I extends ManagerId> {
  id: I;
  config: ManagerConfig<I>;
  app: Config;
}

export interface ManagerImplementation<I extends ManagerId> {
  /** Its health checks (use `check()` to time each and turn a failure into `unhealthy`). */
  checks(ctx: ManagerContext<I>): Promise<Check[]>;
  /** Its own figures. */
  gauges(ctx: ManagerContext<I>): Promise<Gauge[]>;
  /** The collections it owns, when it owns some. */
  collections?(ctx: ManagerContext<I>): Promise<string[]>;
  /** One entry per action of its spec; the input is already validated by the action's schema. */
  actions: Record<
    keyof (typeof MANAGER_ACTIONS)[I] & string,
    (input: never, ctx: ManagerContext<I>, by: string) => Promise<unknown>
  >;
}

/** Runs one health check, timed; a thrown error makes it `unhealthy` with the error's message. */
export async function check(
  name: string,
  run: () => Promise<{ status?: Check['status']; detail?: string } | void>,
): Promise<Check> {
  const started = performance.now();
  try {
    const outcome = (await run()) ?? {};
    return {
      name,
      status: outcome.status ?? 'healthy',
      latencyMs: round(performance.now() - started),
      ...(outcome.detail ? { detail: outcome.detail } : {}),
    };
  } catch (err) {
    return {
      name,
      status: 'unhealthy',
      latencyMs: round(performance.now() - started),
      // Whatever was thrown: a library may reject with a string, or with nothing at all.
      detail: err instanceof Error ? err.message : String(err),
    };
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Checks the state store answers (the store every manager's records live in). */
export function stateStoreCheck(app: Config): Promise<Check> {
  return check('state-store', async () => {
    await createStateStore(app).ping();
  });
}

/**
 * The window every manager's figures are computed over, ending now: the monitoring manager's
 * `windowMinutes`.
 */
export async function metricsWindow(app: Config): Promise<Window> {
  const { windowMinutes } = await cachedConfig(
    'monitoring',
    () => new ConfigStore(() => createStateStore(app)),
  );
  const end = new Date();
  return { start: new Date(end.getTime() - windowMinutes * 60_000), end };
}

export function managerHandler<I extends ManagerId>(
  declaration: ManagerDeclaration & { id: I },
  impl: ManagerImplementation<I>,
) {
  const id = declaration.id;
  const configs = () => new ConfigStore(() => createStateStore(appConfig));
  let appConfig: Config;

  const context = async (): Promise<ManagerContext<I>> => ({
    id,
    config: await cachedConfig(id, configs),
    app: appConfig,
  });

  const health = async (ctx: ManagerContext<I>): Promise<Health> => {
    const checks = await impl.checks(ctx);
    return {
      managerId: id,
      status: worstOf(checks.map((c) => c.status)),
      checks,
      checkedAt: new Date().toISOString(),
    };
  };

  const dispatch = async (call: ContractCall): Promise<unknown> => {
    switch (call.call) {
      case 'describe':
        return describe(declaration, impl.collections ? await impl.collections(await context()) : []);
      case 'status':
        return new LifecycleStore(() => createStateStore(appConfig)).status(id);
      case 'health':
        return health(await context());
      case 'metrics': {
        const ctx = await context();
        const names = JSON.parse(process.env[MANAGER_ENV.metricFunctions] ?? '{}') as Record<string, string>;
        const window = await metricsWindow(appConfig);
        const [functions, gauges] = await Promise.all([
          createMetricsReader().functions(names, window),
          impl.gauges(ctx),
        ]);
        const sum = (k: 'invocations' | 'errors' | 'throttles') =>
          Object.values(functions).reduce((total, f) => total + f[k], 0);
        return {
          managerId: id,
          window: { start: window.start.toISOString(), end: window.end.toISOString() },
          functions,
          totals: { invocations: sum('invocations'), errors: sum('errors'), throttles: sum('throttles') },
          gauges,
        } satisfies Metrics;
      }
      case 'validateConfig':
        return validateConfig(id, call.config);
      case 'start': {
        // A manager whose dependencies are down is not started (it would fail every request).
        const h = await health(await context());
        const failing = h.checks.filter((c) => c.status === 'unhealthy');
        if (failing.length > 0) {
          throw new ServiceUnavailableError(
            `${id} cannot start: ${failing.map((c) => `${c.name}: ${c.detail ?? 'unhealthy'}`).join('; ')}`,
            {
              retryAfterSeconds: STOPPED_RETRY_AFTER_SECONDS,
              issues: failing.map((c) => ({ field: `checks.${c.name}`, reason: c.detail ?? 'unhealthy' })),
            },
          );
        }
        return { started: true, health: h.status };
      }
      case 'stop':
        // Nothing of its own to quiesce: its functions stop through the gate and its mappings.
        return { stopped: true };
      case 'action':
        return runAction(call.action, call.input, call.by);
      case 'task': {
        // A workflow does not run a paused manager's work, as the coordinator does not.
        const { state } = await new LifecycleStore(() => createStateStore(appConfig)).status(id);
        if (PAUSED_STATES.has(state)) {
          throw Object.assign(new Error(`the ${id} manager is ${state}; start it to run ${call.action}`), {
            name: MANAGER_STOPPED,
          });
        }
        return runAction(call.action, call.input, call.workflow ?? 'workflow');
      }
    }
  };

  const runAction = async (action: string, input: unknown, by: string): Promise<unknown> => {
    const specs = MANAGER_ACTIONS[id] as Record<string, { input: z.ZodType }>;
    // Own keys only: `toString` or `__proto__` is no action.
    const spec = Object.hasOwn(specs, action) ? specs[action] : undefined;
    const run = Object.hasOwn(impl.actions, action)
      ? (
          impl.actions as Record<
            string,
            (input: never, ctx: ManagerContext<I>, by: string) => Promise<unknown>
          >
        )[action]
      : undefined;
    if (!spec || !run) {
      throw new NotFoundError(`${id} has no action "${action}"`, [
        { field: 'action', reason: `must be one of: ${Object.keys(specs).join(', ') || '(none)'}` },
      ]);
    }
    return run(parseWith(spec.input, input ?? {}, 'input') as never, await context(), by);
  };

  const handler = middy(async (raw: unknown): Promise<ContractReply | unknown> => {
    // A task call is answered to Step Functions, which reads failures from thrown errors only.
    const task = fieldOf(raw, 'call') === 'task';
    try {
      appConfig ??= await getConfig();
      const call = parseWith(ContractCallSchema, raw, 'call');
      metrics.addMetric('ContractCalls', MetricUnit.Count, 1);
      const result = await withActor(call.actor, () => dispatch(call));
      return task ? result : { ok: true, result };
    } catch (err) {
      if (task && err instanceof AppError) throw taskError(err);
      if (task && err instanceof Error && err.name === MANAGER_STOPPED) throw err;
      if (err instanceof AppError) {
        return {
          ok: false,
          error: {
            statusCode: err.statusCode,
            code: err.code,
            message: err.message,
            ...(err.issues.length > 0 ? { issues: err.issues } : {}),
          },
        };
      }
      logger.error('contract call failed', { error: err as Error });
      await reportFailure(id, err as Error, appConfig);
      if (task) throw err;
      return {
        ok: false,
        error: {
          statusCode: 500,
          code: 'INTERNAL_ERROR',
          message: `${id} failed: ${(err as Error).message}`,
        },
      };
    }
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
  // The coordinator passes its request's id in the call; a call without one starts its own.
  return (raw: unknown, context: LambdaContext) =>
    withCorrelationId(pickCorrelationId(fieldOf(raw, CORRELATION_ATTRIBUTE), context.awsRequestId), () =>
      handler(raw, context),
    );
}

/**
 * A typed error as a task's failure: named by its code (what Retry/Catch match), its message with
 * the issues it does not already say.
 */
function taskError(err: AppError): Error {
  const said = err.issues
    .map((i) => `${i.field}: ${i.reason}`)
    .filter((issue) => !err.message.includes(issue));
  const failure = new Error(said.length > 0 ? `${err.message} (${said.join('; ')})` : err.message);
  failure.name = err.code;
  return failure;
}

/** ManagerFailed on the bus, best effort: a bus that is down must not hide the original error. */
async function reportFailure(id: ManagerId, err: Error, config: Config | undefined): Promise<void> {
  if (!config?.eventBusName) return;
  try {
    await new EventPublisher(createEventBus(config), EVENT_SOURCE).publish('ManagerFailed', {
      managerId: id,
      error: err.message || err.name,
      at: new Date().toISOString(),
    });
  } catch (publishError) {
    logger.error('could not publish ManagerFailed', { error: publishError as Error });
  }
}

export function describe(declaration: ManagerDeclaration, collections: string[]): Description {
  const specs = MANAGER_ACTIONS[declaration.id] as Record<
    string,
    { description: string; input: z.ZodType; role: 'writer' | 'admin' }
  >;
  return {
    id: declaration.id,
    name: declaration.name,
    description: declaration.description,
    version: process.env.SERVICE_VERSION ?? '0.0.0',
    stoppable: declaration.stoppable,
    owns: {
      functions: [...declaration.functions],
      routes: [...declaration.routes],
      queues: [...declaration.queues],
      rules: [...declaration.rules],
      schedules: [...declaration.schedules],
      collections,
    },
    emits: [...declaration.emits],
    consumes: [...declaration.consumes],
    actions: Object.entries(specs).map(([name, spec]) => ({
      name,
      description: spec.description,
      role: spec.role,
      input: z.toJSONSchema(spec.input, { io: 'input' }) as Record<string, unknown>,
    })),
    config: z.toJSONSchema(MANAGER_CONFIG[declaration.id], { io: 'input' }) as Record<string, unknown>,
  };
}
