import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { type AppError, UpstreamError } from '#shared/errors.ts';
import { EventPublisher } from '#shared/events/publisher.ts';
import type { Check, ContractCall, Health } from '#shared/managers/contract.ts';
import type { ManagerDeclaration } from '#shared/managers/declaration.ts';
import type { EventSourceSwitch, FunctionInvoker } from '#shared/managers/ports.ts';
import type { ManagerId } from '#shared/managers/specs.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import type { EventBus, ListOptions, PlatformEvent, StateItem, StateStore } from '#shared/ports.ts';

/** Fakes and fixtures of the managers' unit tests: no runtime, no network, a temporary state folder. */

/** A temporary folder, removed by `cleanup`. */
export async function tempDir(
  prefix = 'vp-managers-unit-',
): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A manager's declaration as `infra/managers.ts` would resolve it, with made-up resources. */
export function declarationOf(
  id: ManagerId,
  overrides: Partial<ManagerDeclaration> = {},
): ManagerDeclaration {
  return {
    id,
    name: `The ${id} manager`,
    description: `Runs ${id}`,
    stoppable: id !== 'central-coordinator',
    function: `${id}Manager`,
    functions: [`${id}Manager`, `${id}Worker`],
    routes: [`GET /api/v1/${id}`],
    queues: [`${id}Queue`],
    rules: [`${id}Rule`],
    schedules: [`${id}Schedule`],
    emits: ['ManagerFailed'],
    consumes: ['ManagerStarted'],
    ...overrides,
  };
}

/** An event bus that keeps what it is given; `failures` publishes fail first (a bus that is down). */
export class RecordingBus implements EventBus {
  readonly events: PlatformEvent[] = [];
  failures = 0;

  async publish(events: PlatformEvent[]): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new UpstreamError('EventBridge PutEvents: the bus is down', { retryable: true });
    }
    this.events.push(...events);
  }

  async ping(): Promise<void> {}

  ofType(type: string): Array<Record<string, unknown>> {
    return this.events.filter((e) => e.detailType === type).map((e) => e.detail);
  }

  publisher(): EventPublisher {
    return new EventPublisher(this, EVENT_SOURCE);
  }
}

/** How a fake manager answers one contract call: a reply (any JSON), or a promise of one. */
export type Answer = (call: ContractCall) => unknown;

/**
 * Manager contract functions by deployed name. Like the Lambda adapter, it serializes the payload
 * and the reply (JSON) and keeps the port's promise: a function that does not answer within
 * `timeoutMs` is an UpstreamError naming the bound.
 */
export class FakeInvoker implements FunctionInvoker {
  readonly calls: Array<{ functionName: string; payload: ContractCall; timeoutMs: number }> = [];
  readonly answers: Record<string, Answer>;

  constructor(answers: Record<string, Answer> = {}) {
    this.answers = answers;
  }

  async invoke(functionName: string, payload: unknown, options: { timeoutMs: number }): Promise<unknown> {
    const call = JSON.parse(JSON.stringify(payload)) as ContractCall;
    this.calls.push({ functionName, payload: call, timeoutMs: options.timeoutMs });
    const answer = this.answers[functionName];
    if (!answer) throw new UpstreamError(`Lambda Invoke ${functionName}: Function not found`);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UpstreamError(`${functionName} did not answer within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    });
    try {
      const reply = await Promise.race([Promise.resolve().then(() => answer(call)), bound]);
      return reply === undefined ? null : JSON.parse(JSON.stringify(reply));
    } finally {
      clearTimeout(timer);
    }
  }

  /** The calls made to one function, by kind (`health`, `stop`…). */
  callsTo(functionName: string): string[] {
    return this.calls.filter((c) => c.functionName === functionName).map((c) => c.payload.call);
  }
}

/** Records every switch of an event source mapping; `failWith` makes the next switches fail. */
export class RecordingSwitch implements EventSourceSwitch {
  readonly calls: Array<{ uuid: string; enabled: boolean }> = [];
  failWith: AppError | Error | undefined;

  async setEnabled(uuid: string, enabled: boolean): Promise<{ uuid: string; state: string }> {
    this.calls.push({ uuid, enabled });
    if (this.failWith) throw this.failWith;
    // The port resolves once the mapping has settled.
    return { uuid, state: enabled ? 'Enabled' : 'Disabled' };
  }
}

/** A manager's health as its contract function answers it. */
export function healthOf(id: ManagerId, checks: Check[]): Health {
  const statuses = checks.map((c) => c.status);
  return {
    managerId: id,
    status: statuses.includes('unhealthy')
      ? 'unhealthy'
      : statuses.includes('degraded')
        ? 'degraded'
        : 'healthy',
    checks,
    checkedAt: new Date().toISOString(),
  };
}

export const ok = (result: unknown) => ({ ok: true, result });

/**
 * A manager that answers every call by the contract: `health` from `checks` (change it between
 * calls), `start`/`stop` accepted, an action echoed.
 */
export function cannedManager(id: ManagerId, checks: Check[] = [healthyCheck('state-store')]) {
  const manager = {
    checks,
    answer: ((call: ContractCall) => {
      switch (call.call) {
        case 'health':
          return ok(healthOf(id, manager.checks));
        case 'start':
          return ok({ started: true, health: 'healthy' });
        case 'stop':
          return ok({ stopped: true });
        case 'action':
          return ok({ ran: call.action, input: call.input, by: call.by });
        default:
          return { ok: false, error: { statusCode: 400, code: 'VALIDATION_ERROR', message: 'not faked' } };
      }
    }) as Answer,
  };
  return manager;
}

export const healthyCheck = (name: string): Check => ({ name, status: 'healthy', latencyMs: 1 });
export const failingCheck = (name: string, detail: string, status: Check['status'] = 'unhealthy'): Check => ({
  name,
  status,
  latencyMs: 1,
  detail,
});

/** A state store that counts its reads and can run something just before a given write (a concurrent writer). */
export class InstrumentedStore implements StateStore {
  readonly inner: StateStore;
  gets = 0;
  failGets = 0;
  #beforePut: ((pk: string, sk: string) => Promise<void>) | undefined;

  constructor(inner: StateStore) {
    this.inner = inner;
  }

  /** Runs `hook` once, before the next write of `sk` (and before that write reads the stored version). */
  beforeNextPut(sk: string, hook: () => Promise<void>): void {
    this.#beforePut = async (_pk, key) => {
      if (key !== sk) return;
      this.#beforePut = undefined;
      await hook();
    };
  }

  async get<T>(pk: string, sk: string): Promise<StateItem<T> | undefined> {
    this.gets++;
    if (this.failGets > 0) {
      this.failGets--;
      throw new UpstreamError('DynamoDB GetItem: throttled', { retryable: true });
    }
    return this.inner.get<T>(pk, sk);
  }

  async put<T>(
    pk: string,
    sk: string,
    value: T,
    options?: { expectedVersion?: number; expiresAt?: number },
  ): Promise<StateItem<T>> {
    await this.#beforePut?.(pk, sk);
    return this.inner.put(pk, sk, value, options);
  }

  list<T>(pk: string, options?: ListOptions): Promise<Array<{ sk: string } & StateItem<T>>> {
    return this.inner.list<T>(pk, options);
  }

  delete(pk: string, sk: string): Promise<void> {
    return this.inner.delete(pk, sk);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }
}

export const fileStore = (dir: string) => new FileStateStore({ dir });

/**
 * Sets environment variables (undefined: unset) and answers a function that puts back what was
 * there before.
 */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  return () => apply(before);
}

/** The variables a manager function reads besides these tests' own: none of them set. */
export const UNSET_PLATFORM_ENV = {
  STATE_TABLE: undefined,
  STATE_DIR_ACTIONS: undefined,
  EVENT_BUS_NAME: undefined,
  QDRANT_URL: undefined,
  MIGRATIONS_QUEUE_URL: undefined,
  MIGRATIONS_DLQ_URL: undefined,
  EXPORTS_BUCKET: undefined,
  MANAGER_ID: undefined,
  METRIC_FUNCTIONS: undefined,
  MANAGER_FUNCTIONS: undefined,
  MANAGER_EVENT_SOURCES: undefined,
  HTTP_API_ID: undefined,
  HTTP_API_STAGE: undefined,
} as const;
