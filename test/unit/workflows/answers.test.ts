import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MANAGER_ACTIONS } from '#shared/managers/specs.ts';
import {
  ExecutionAnswerSchema,
  ExecutionListSchema,
  ExecutionStartedSchema,
  type HistoryEvent,
  WorkflowAnswerSchema,
  WorkflowListSchema,
} from '#shared/workflows/model.ts';
import type { ExecutionDescription, ExecutionRoles, StateMachines } from '#shared/workflows/ports.ts';
import { WorkflowService } from '#shared/workflows/service.ts';
import { fileStore, tempDir } from '../managers/support.ts';

/**
 * What the workflow service answers is what the OpenAPI document promises: each answer of the
 * `workflows` function parses with its (strict) answer schema from shared/workflows/model.ts.
 */

const ACCOUNT = 'arn:aws:states:eu-west-1:123456789012';
const admin = { id: 'ana', role: 'admin' } as const;

/** Step Functions as far as the service uses it: executions kept in memory, a history of three events. */
class MemoryMachines implements StateMachines {
  readonly executions = new Map<string, ExecutionDescription>();

  async create(name: string) {
    return `${ACCOUNT}:stateMachine:${name}`;
  }
  async update() {}
  async delete() {}
  async start(stateMachineArn: string, name: string, input: string) {
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const startDate = new Date('2026-12-07T09:01:00.000Z');
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
    const at = (ms: number) => new Date(Date.parse('2026-12-07T09:01:00.000Z') + ms).toISOString();
    return {
      events: [
        {
          id: 1,
          previousEventId: 0,
          timestamp: at(0),
          type: 'ExecutionStarted',
          executionStartedEventDetails: {},
        },
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
      stopDate: new Date('2026-12-07T09:02:00.000Z'),
      ...(error !== undefined ? { error } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
  }
}

const roles: ExecutionRoles = {
  put: async (role) => `arn:aws:iam::123456789012:role${role.path}${role.name}`,
  remove: async () => {},
};

const definition = {
  StartAt: 'Reindex',
  States: { Reindex: { Type: 'Task', Resource: 'manager:roadmap:reindex', Parameters: {}, End: true } },
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let service: WorkflowService;

beforeEach(async () => {
  dir = await tempDir('vp-workflow-answers-');
  const state = fileStore(dir.path);
  const machines = new MemoryMachines();
  service = new WorkflowService({
    state: () => state,
    machines: () => machines,
    roles: () => roles,
    settings: () => ({
      stateMachinePrefix: 'vector-platform-test-',
      rolePath: '/vector-platform/test/workflows/',
      boundaryArn: 'arn:aws:iam::123456789012:policy/boundary',
      taskFunctions: {
        roadmap: 'arn:aws:lambda:eu-west-1:123456789012:function:vector-platform-test-roadmapManager:live',
      },
      actionRoles: Object.fromEntries(
        Object.entries(MANAGER_ACTIONS).map(([id, actions]) => [
          id,
          Object.fromEntries(Object.entries(actions).map(([name, spec]) => [name, spec.role])),
        ]),
      ),
    }),
  });
});

afterEach(async () => {
  await dir.cleanup();
});

describe('the workflow answers', () => {
  it('are what the OpenAPI document says, from create to stop', async () => {
    const workflow = await service.create(
      { name: 'Nightly reindex', description: 'plans', definition },
      admin,
    );
    expect(WorkflowAnswerSchema.parse({ workflow })).toEqual({ workflow });
    expect(WorkflowAnswerSchema.parse({ workflow: await service.get(workflow.id) }).workflow.version).toBe(1);
    const replaced = await service.replace(workflow.id, { name: 'Reindex', definition }, admin);
    expect(WorkflowAnswerSchema.parse({ workflow: replaced }).workflow).not.toHaveProperty('description');
    expect(WorkflowListSchema.parse({ workflows: await service.list() }).workflows).toHaveLength(1);

    const execution = await service.execute(workflow.id, { reason: 'nightly' }, admin);
    expect(ExecutionStartedSchema.parse({ execution }).execution.status).toBe('RUNNING');
    const page = await service.executions(workflow.id, { limit: 20 });
    expect(ExecutionListSchema.parse(page)).toEqual(page);
    const view = await service.execution(execution.executionId);
    expect(ExecutionAnswerSchema.parse({ execution: view })).toEqual({ execution: view });
    expect(view.states).toEqual([
      {
        name: 'Reindex',
        type: 'Task',
        enteredAt: '2026-12-07T09:01:00.010Z',
        exitedAt: '2026-12-07T09:01:00.020Z',
      },
    ]);
    const stopped = await service.stop(
      execution.executionId,
      { error: 'Operator', cause: 'not tonight' },
      admin,
    );
    expect(ExecutionAnswerSchema.parse({ execution: stopped }).execution).toMatchObject({
      status: 'ABORTED',
      error: 'Operator',
      stoppedAt: '2026-12-07T09:02:00.000Z',
    });
  });

  it('refuse what the service must not answer (the schemas are strict)', async () => {
    const workflow = await service.create({ name: 'Nightly reindex', definition }, admin);
    // The execution role stays inside the platform.
    expect(
      WorkflowAnswerSchema.safeParse({ workflow: { ...workflow, roleArn: 'arn:aws:iam::1:role/x' } }).success,
    ).toBe(false);
    const execution = await service.execute(workflow.id, {}, admin);
    expect(ExecutionStartedSchema.safeParse({ execution: { ...execution, status: 'PENDING' } }).success).toBe(
      false,
    );
  });
});
