import type { Role } from '#shared/auth/roles.ts';
import { MANAGER_ACTIONS } from '#shared/managers/specs.ts';
import type { HistoryEvent } from '#shared/workflows/model.ts';
import type { ExecutionDescription, ExecutionRoles, StateMachines } from '#shared/workflows/ports.ts';
import type { WorkflowSettings } from '#shared/workflows/service.ts';

/**
 * Step Functions and IAM as far as the workflow service uses them, kept in memory: every call
 * recorded in order, executions started RUNNING at a fixed time, a history of three events, and
 * a CreateStateMachine that fails on demand.
 */

export const ACCOUNT = '123456789012';
const STATES = `arn:aws:states:eu-west-1:${ACCOUNT}`;
export const STARTED_AT = '2026-12-07T09:01:00.000Z';
export const STOPPED_AT = '2026-12-07T09:02:00.000Z';

export class MemoryEngines implements StateMachines, ExecutionRoles {
  readonly calls: string[] = [];
  readonly machines = new Map<string, unknown>();
  readonly roles = new Map<string, readonly string[]>();
  readonly executions = new Map<string, ExecutionDescription>();
  /** The next CreateStateMachine fails (Step Functions refused). */
  failCreate = false;

  async put(role: { name: string; path: string; functionArns: readonly string[] }) {
    this.calls.push(`role:put ${role.name} ${role.functionArns.join(',')}`);
    this.roles.set(role.name, role.functionArns);
    return `arn:aws:iam::${ACCOUNT}:role${role.path}${role.name}`;
  }
  async remove(name: string) {
    this.calls.push(`role:remove ${name}`);
    this.roles.delete(name);
  }
  async create(name: string, definition: string) {
    this.calls.push(`sm:create ${name}`);
    if (this.failCreate) throw new Error('Step Functions refused');
    const arn = `${STATES}:stateMachine:${name}`;
    this.machines.set(arn, JSON.parse(definition));
    return arn;
  }
  async update(arn: string, definition: string) {
    this.calls.push(`sm:update ${nameOf(arn)}`);
    this.machines.set(arn, JSON.parse(definition));
  }
  async delete(arn: string) {
    this.calls.push(`sm:delete ${nameOf(arn)}`);
    this.machines.delete(arn);
  }
  async start(stateMachineArn: string, name: string, input: string) {
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const startDate = new Date(STARTED_AT);
    this.executions.set(executionArn, {
      executionArn,
      stateMachineArn,
      name,
      status: 'RUNNING',
      startDate,
      input,
    });
    return { executionArn, startDate };
  }
  async describe(executionArn: string) {
    return this.executions.get(executionArn);
  }
  async list(stateMachineArn: string) {
    return {
      executions: [...this.executions.values()].filter((e) => e.stateMachineArn === stateMachineArn),
      nextToken: 'next-page',
    };
  }
  async history(): Promise<{ events: HistoryEvent[]; truncated: boolean }> {
    const at = (ms: number) => new Date(Date.parse(STARTED_AT) + ms).toISOString();
    return {
      events: [
        { id: 1, timestamp: at(0), type: 'ExecutionStarted', executionStartedEventDetails: {} },
        {
          id: 2,
          previousEventId: 1,
          timestamp: at(10),
          type: 'TaskStateEntered',
          stateEnteredEventDetails: { name: 'Reindex', input: '{}' },
        },
        {
          id: 3,
          previousEventId: 2,
          timestamp: at(20),
          type: 'TaskStateExited',
          stateExitedEventDetails: { name: 'Reindex', output: '{}' },
        },
      ],
      truncated: false,
    };
  }
  async stop(executionArn: string, error?: string, cause?: string) {
    const e = this.executions.get(executionArn)!;
    this.executions.set(executionArn, {
      ...e,
      status: 'ABORTED',
      stopDate: new Date(STOPPED_AT),
      ...(error !== undefined ? { error } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
  }
}

const nameOf = (arn: string) => arn.slice(arn.lastIndexOf(':') + 1);

/** A stage's settings with made-up names, the managers' real action roles, these task functions. */
export function settingsWith(taskFunctions: Record<string, string>): WorkflowSettings {
  return {
    stateMachinePrefix: 'vp-test-',
    rolePath: '/vp/test/workflows/',
    boundaryArn: `arn:aws:iam::${ACCOUNT}:policy/boundary`,
    taskFunctions,
    actionRoles: Object.fromEntries(
      Object.entries(MANAGER_ACTIONS).map(([id, actions]) => [
        id,
        Object.fromEntries(
          Object.entries(actions as Record<string, { role: Role }>).map(([name, spec]) => [name, spec.role]),
        ),
      ]),
    ),
  };
}
