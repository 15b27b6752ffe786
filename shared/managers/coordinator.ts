import type { z } from 'zod';
import { currentActor } from '../actor.ts';
import { correlationId } from '../correlation.ts';
import { AppError, ConflictError, NotFoundError, ServiceUnavailableError, UpstreamError } from '../errors.ts';
import type { EventPublisher } from '../events/publisher.ts';
import type { StateStore } from '../ports.ts';
import { logger } from '../powertools.ts';
import { parseWith } from '../validation.ts';
import {
  type ContractCall,
  type ContractReply,
  ContractReplySchema,
  type Description,
  DescriptionSchema,
  type Health,
  HealthSchema,
  type Metrics,
  MetricsSchema,
  type Status,
} from './contract.ts';
import type { ManagerDeclaration } from './declaration.ts';
import {
  type LifecycleRecord,
  LifecycleStore,
  managerPartition,
  PAUSED_STATES,
  STOPPED_RETRY_AFTER_SECONDS,
  statusOf,
  type Transition,
} from './lifecycle.ts';
import type { EventSourceSwitch, FunctionInvoker } from './ports.ts';
import { MANAGER_ACTIONS, type ManagerId, ManagerIdSchema } from './specs.ts';

/**
 * The central coordinator: the registry of the declared managers, their lifecycle (start, stop,
 * persisted with a history), contract calls to their functions (each time-bounded), and the
 * health sweep. It reaches managers only through their contract functions and the Lambda API.
 */

export interface CoordinatorDeps {
  declarations: readonly ManagerDeclaration[];
  /** Manager id → its contract function's live alias, `<deployed name>:live` (MANAGER_FUNCTIONS). */
  functionNames: Readonly<Record<string, string>>;
  /** Manager id → the UUIDs of its queues' event source mappings (MANAGER_EVENT_SOURCES). */
  eventSources?: Readonly<Record<string, readonly string[]>>;
  invoker: () => FunctionInvoker;
  eventSourceSwitch?: () => EventSourceSwitch;
  state: () => StateStore;
  publisher?: () => EventPublisher;
  /** Each contract call is abandoned after this long. */
  checkTimeoutMs: number;
}

/** A manager's typed error, carried back from its contract function. */
class ManagerError extends AppError {
  readonly statusCode: number;
  readonly code: string;
  constructor(statusCode: number, code: string, message: string, issues: AppError['issues'] = []) {
    super(message, issues);
    this.statusCode = statusCode;
    this.code = code;
  }
}

const HEALTH_KEY = 'HEALTH';

export interface ManagerSummary {
  id: ManagerId;
  name: string;
  description: string;
  stoppable: boolean;
  status: Status;
}

export interface ManagerState extends ManagerSummary {
  health: Health;
}

export class Coordinator {
  readonly #deps: CoordinatorDeps;
  readonly #lifecycle: LifecycleStore;

  constructor(deps: CoordinatorDeps) {
    this.#deps = deps;
    this.#lifecycle = new LifecycleStore(deps.state);
  }

  /** The declared managers with their lifecycle status. */
  async list(): Promise<ManagerSummary[]> {
    return Promise.all(this.#deps.declarations.map(async (d) => this.#summary(d)));
  }

  /** Every manager's status and live health, all at once, each health check time-bounded. */
  async statusAll(): Promise<{ managers: ManagerState[]; checkedAt: string }> {
    const managers = await Promise.all(
      this.#deps.declarations.map(async (d) => {
        const [summary, health] = await Promise.all([this.#summary(d), this.health(d.id)]);
        return { ...summary, health };
      }),
    );
    return { managers, checkedAt: new Date().toISOString() };
  }

  async describe(id: string): Promise<Description & { status: Status }> {
    const declaration = this.declaration(id);
    const [description, status] = await Promise.all([
      this.#call(declaration, { call: 'describe' }, DescriptionSchema),
      this.#lifecycle.status(declaration.id),
    ]);
    return { ...description, status };
  }

  async status(id: string): Promise<Status> {
    return this.#lifecycle.status(this.declaration(id).id);
  }

  async history(id: string, limit: number): Promise<Transition[]> {
    return this.#lifecycle.history(this.declaration(id).id, limit);
  }

  /** The manager's health; a manager that does not answer in time is `unhealthy`, not an error. */
  async health(id: string): Promise<Health> {
    const declaration = this.declaration(id);
    const started = performance.now();
    try {
      return await this.#call(declaration, { call: 'health' }, HealthSchema);
    } catch (err) {
      return {
        managerId: declaration.id,
        status: 'unhealthy',
        checks: [
          {
            name: 'contract',
            status: 'unhealthy',
            latencyMs: Math.round(performance.now() - started),
            detail: (err as Error).message,
          },
        ],
        checkedAt: new Date().toISOString(),
      };
    }
  }

  async metrics(id: string): Promise<Metrics> {
    return this.#call(this.declaration(id), { call: 'metrics' }, MetricsSchema);
  }

  /**
   * Stops a manager: `stopping` (its routes answer 503 from now on), its own quiescing, its
   * queues' event source mappings disabled (their messages wait), then `stopped` and
   * ManagerStopped. Stopping a stopped manager changes nothing.
   */
  async stop(id: string, by: string): Promise<Status> {
    const declaration = this.#stoppable(id);
    const current = await this.#lifecycle.read(declaration.id);
    if (current.record?.state === 'stopped') return statusOf(declaration.id, current.record);
    const stopping = await this.#lifecycle.transition(
      declaration.id,
      current,
      'stopping',
      by,
      keep(current.record),
    );
    try {
      await this.#call(declaration, { call: 'stop' });
      await this.#switchSources(declaration.id, false);
    } catch (err) {
      await this.#lifecycle.transition(declaration.id, stopping, 'failed', by, {
        error: `stop failed: ${(err as Error).message}`,
      });
      throw err;
    }
    const stopped = await this.#lifecycle.transition(
      declaration.id,
      stopping,
      'stopped',
      by,
      keep(current.record),
    );
    await this.#publish('ManagerStopped', declaration.id, by);
    return statusOf(declaration.id, stopped.record);
  }

  /**
   * Starts a manager: `starting`, its own start (which refuses while a dependency is down: it is
   * then left stopped, with the reason as its last error), its mappings enabled (the messages
   * that waited are processed), then `running` and ManagerStarted. Starting a running manager
   * changes nothing; starting a `failed` one starts it again.
   */
  async start(id: string, by: string): Promise<Status> {
    const declaration = this.declaration(id);
    const current = await this.#lifecycle.read(declaration.id);
    const { record } = current;
    if (!record || record.state === 'running') return statusOf(declaration.id, record);
    const starting = await this.#lifecycle.transition(declaration.id, current, 'starting', by, keep(record));
    try {
      await this.#call(declaration, { call: 'start' });
    } catch (err) {
      // Back where it was: a failed manager's mappings were never disabled, so it is `failed`
      // still (with this error), not `stopped` while its queues are consumed.
      const back = record.state === 'failed' ? 'failed' : 'stopped';
      await this.#lifecycle.transition(declaration.id, starting, back, by, {
        error: (err as Error).message,
      });
      throw err;
    }
    try {
      await this.#switchSources(declaration.id, true);
    } catch (err) {
      await this.#lifecycle.transition(declaration.id, starting, 'failed', by, {
        error: `start failed: ${(err as Error).message}`,
      });
      throw err;
    }
    const running = await this.#lifecycle.transition(declaration.id, starting, 'running', by);
    await this.#publish('ManagerStarted', declaration.id, by);
    return statusOf(declaration.id, running.record);
  }

  /** Marks a running manager `failed` (its ManagerFailed event): its work goes on, the error shows. */
  async markFailed(id: string, error: string, at: string): Promise<void> {
    const managerId = ManagerIdSchema.parse(id);
    const current = await this.#lifecycle.read(managerId);
    const { record } = current;
    // A stopped manager stays stopped; a failure after it is not news.
    if (record && record.state !== 'running' && record.state !== 'failed') return;
    if (record && Date.parse(record.since) > Date.parse(at)) return;
    await this.#lifecycle.transition(managerId, current, 'failed', 'coordinator', { error });
  }

  /** The action's role (stricter than the route's) is checked by the caller with `actionRole`. */
  async action(id: string, action: string, input: unknown, by: string): Promise<unknown> {
    const declaration = this.declaration(id);
    // An action is the manager's work too: a stopped manager runs none.
    const { state } = await this.#lifecycle.status(declaration.id);
    if (PAUSED_STATES.has(state)) {
      throw new ServiceUnavailableError(
        `the ${declaration.id} manager is ${state}; start it to run ${action}`,
        {
          retryAfterSeconds: STOPPED_RETRY_AFTER_SECONDS,
          issues: [{ field: 'id', reason: `${declaration.id} is ${state}` }],
        },
      );
    }
    return this.#call(declaration, { call: 'action', action, input: input ?? {}, by });
  }

  /** The role an action needs, or NotFoundError naming the manager's actions. */
  actionRole(id: string, action: string): 'writer' | 'admin' {
    const declaration = this.declaration(id);
    const specs = MANAGER_ACTIONS[declaration.id] as Record<string, { role: 'writer' | 'admin' }>;
    // Own keys only: `toString` or `__proto__` is no action.
    const spec = Object.hasOwn(specs, action) ? specs[action] : undefined;
    if (!spec) {
      throw new NotFoundError(`${declaration.id} has no action "${action}"`, [
        { field: 'action', reason: `must be one of: ${Object.keys(specs).join(', ') || '(none)'}` },
      ]);
    }
    return spec.role;
  }

  /**
   * The health sweep: every manager's health, recorded; ManagerHealthChanged for each change, and
   * SystemCriticalDetected when a manager that cannot be stopped turns unhealthy. Answers every
   * manager's status too, changed or not: the sweep publishes each one as a metric alarms watch.
   */
  async sweep(): Promise<{
    checked: number;
    changed: ManagerId[];
    health: Partial<Record<ManagerId, Health['status']>>;
  }> {
    const results = await Promise.all(
      this.#deps.declarations.map(async (d) => {
        const health = await this.health(d.id);
        const previous = await this.#deps.state().get<Health>(managerPartition(d.id), HEALTH_KEY);
        const from = previous?.value.status;
        return { declaration: d, health, changed: from !== health.status, from };
      }),
    );
    const changed = results.filter((r) => r.changed);
    await this.#publishChanges(changed);
    // Recorded once published: a sweep whose events did not go out finds the same changes again
    // next time (an event may be sent twice, never lost).
    await Promise.all(
      results.map((r) => this.#deps.state().put(managerPartition(r.declaration.id), HEALTH_KEY, r.health)),
    );
    return {
      checked: results.length,
      changed: changed.map((r) => r.declaration.id),
      health: Object.fromEntries(results.map((r) => [r.declaration.id, r.health.status])),
    };
  }

  async #publishChanges(
    changed: ReadonlyArray<{
      declaration: ManagerDeclaration;
      health: Health;
      from: Health['status'] | undefined;
    }>,
  ): Promise<void> {
    for (const r of changed) {
      await this.#deps.publisher?.().publish('ManagerHealthChanged', {
        managerId: r.declaration.id,
        ...(r.from ? { from: r.from } : {}),
        to: r.health.status,
        failing: r.health.checks
          .filter((c) => c.status !== 'healthy')
          .map((c) => ({ name: c.name, status: c.status, ...(c.detail ? { detail: c.detail } : {}) })),
        at: r.health.checkedAt,
      });
    }
    const critical = changed.filter((r) => !r.declaration.stoppable && r.health.status === 'unhealthy');
    if (critical.length > 0) {
      await this.#deps.publisher?.().publish('SystemCriticalDetected', {
        managers: critical.map((r) => r.declaration.id),
        reason: critical
          .map(
            (r) =>
              `${r.declaration.id}: ${r.health.checks.find((c) => c.status === 'unhealthy')?.detail ?? 'unhealthy'}`,
          )
          .join('; '),
        at: new Date().toISOString(),
      });
    }
  }

  /** The last health the sweep recorded. */
  async recordedHealth(id: string): Promise<Health | undefined> {
    return (await this.#deps.state().get<Health>(managerPartition(this.declaration(id).id), HEALTH_KEY))
      ?.value;
  }

  declaration(id: string): ManagerDeclaration {
    const found = this.#deps.declarations.find((d) => d.id === id);
    if (!found) {
      throw new NotFoundError(`no manager "${id}"`, [
        { field: 'id', reason: `must be one of: ${this.#deps.declarations.map((d) => d.id).join(', ')}` },
      ]);
    }
    return found;
  }

  #stoppable(id: string): ManagerDeclaration {
    const declaration = this.declaration(id);
    if (!declaration.stoppable) {
      throw new ConflictError(`${declaration.id} cannot be stopped: the platform cannot run without it`, [
        { field: 'id', reason: `${declaration.id} is not stoppable` },
      ]);
    }
    return declaration;
  }

  async #summary(d: ManagerDeclaration): Promise<ManagerSummary> {
    return {
      id: d.id,
      name: d.name,
      description: d.description,
      stoppable: d.stoppable,
      status: await this.#lifecycle.status(d.id),
    };
  }

  async #switchSources(id: ManagerId, enabled: boolean): Promise<void> {
    const uuids = this.#deps.eventSources?.[id] ?? [];
    if (uuids.length === 0) return;
    const control = this.#deps.eventSourceSwitch;
    if (!control) throw new Error(`no event source control: ${id}'s queues cannot be switched`);
    await Promise.all(uuids.map((uuid) => control().setEnabled(uuid, enabled)));
  }

  async #publish(type: 'ManagerStarted' | 'ManagerStopped', id: ManagerId, by: string): Promise<void> {
    const publisher = this.#deps.publisher;
    if (!publisher) return;
    try {
      await publisher().publish(type, { managerId: id, by, at: new Date().toISOString() });
    } catch (err) {
      // The transition is done and recorded; the event is what is missing, and the log says so.
      logger.error(`could not publish ${type}`, { manager: id, error: err as Error });
    }
  }

  /** A contract call, time-bounded, its reply parsed: the manager's typed error is rethrown as is. */
  async #call<S extends z.ZodType>(
    declaration: ManagerDeclaration,
    call: ContractCall,
    schema?: S,
  ): Promise<z.output<S>> {
    const name = this.#deps.functionNames[declaration.id];
    if (!name) throw new Error(`MANAGER_FUNCTIONS names no function for ${declaration.id}`);
    // The request's chain and actor go on in the manager (its events carry them).
    const id = correlationId();
    const actor = currentActor();
    const raw = await this.#deps.invoker().invoke(
      name,
      {
        ...call,
        ...(id === undefined ? {} : { correlationId: id }),
        ...(actor === undefined ? {} : { actor }),
      },
      { timeoutMs: this.#deps.checkTimeoutMs },
    );
    let reply: ContractReply;
    try {
      reply = parseWith(ContractReplySchema, raw, 'reply');
    } catch (err) {
      throw new UpstreamError(`${declaration.id} answered outside the contract: ${(err as Error).message}`);
    }
    if (!reply.ok) {
      const { statusCode, code, message, issues } = reply.error;
      if (statusCode === 503)
        throw new ServiceUnavailableError(message, {
          retryAfterSeconds: STOPPED_RETRY_AFTER_SECONDS,
          issues: issues ?? [],
        });
      if (statusCode >= 500) throw new UpstreamError(message);
      throw new ManagerError(statusCode, code, message, issues ?? []);
    }
    if (!schema) return reply.result as z.output<S>;
    try {
      return parseWith(schema, reply.result, 'result');
    } catch (err) {
      throw new UpstreamError(`${declaration.id} answered outside the contract: ${(err as Error).message}`);
    }
  }
}

const keep = (record: LifecycleRecord | undefined) =>
  record?.lastError ? { keepError: record.lastError } : {};
