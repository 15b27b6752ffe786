import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ExecutionAnswerSchema,
  ExecutionListSchema,
  ExecutionStartedSchema,
  WorkflowAnswerSchema,
  WorkflowListSchema,
} from '#shared/workflows/model.ts';
import { WorkflowService } from '#shared/workflows/service.ts';
import { fileStore, tempDir } from '../managers/support.ts';
import { MemoryEngines, STOPPED_AT, settingsWith } from './engines.ts';

/**
 * What the workflow service answers is what the OpenAPI document promises: each answer of the
 * `workflows` function parses with its (strict) answer schema from shared/workflows/model.ts.
 */

const admin = { id: 'ana', role: 'admin' } as const;

const definition = {
  StartAt: 'Reindex',
  States: { Reindex: { Type: 'Task', Resource: 'manager:roadmap:reindex', Parameters: {}, End: true } },
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let service: WorkflowService;

beforeEach(async () => {
  dir = await tempDir('vp-workflow-answers-');
  const state = fileStore(dir.path);
  const engines = new MemoryEngines();
  service = new WorkflowService({
    state: () => state,
    machines: () => engines,
    roles: () => engines,
    settings: () =>
      settingsWith({ roadmap: 'arn:aws:lambda:eu-west-1:123456789012:function:vp-test-roadmapManager:live' }),
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
      stoppedAt: STOPPED_AT,
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
