import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Actor } from '#shared/actor.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '#shared/errors.ts';
import { EXAMPLES, installExamples } from '#shared/workflows/examples.ts';
import { MAX_EXECUTION_INPUT_BYTES } from '#shared/workflows/model.ts';
import { WorkflowService } from '#shared/workflows/service.ts';
import { fileStore, tempDir } from '../managers/support.ts';
import { MemoryEngines, settingsWith } from './engines.ts';

/**
 * The workflow service against engines kept in memory: what it creates and in which order, what
 * it refuses (definitions, names, roles, inputs) and that a refusal leaves nothing behind.
 */

const admin: Actor = { id: 'ana', role: 'admin' };
const writer: Actor = { id: 'wes', role: 'writer' };
const FUNCTIONS = {
  roadmap: 'arn:roadmap:live',
  backup: 'arn:backup:live',
  notifications: 'arn:notifications:live',
  migration: 'arn:migration:live',
};

const reindex = {
  StartAt: 'Reindex',
  States: { Reindex: { Type: 'Task', Resource: 'manager:roadmap:reindex', Parameters: {}, End: true } },
};
const backup = {
  StartAt: 'Backup',
  States: { Backup: { Type: 'Task', Resource: 'manager:backup:backup', End: true } },
};

describe('WorkflowService', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let engines: MemoryEngines;
  let service: WorkflowService;
  beforeEach(async () => {
    dir = await tempDir('vp-workflows-unit-');
    engines = new MemoryEngines();
    service = new WorkflowService({
      state: () => fileStore(dir.path),
      machines: () => engines,
      roles: () => engines,
      settings: () => settingsWith(FUNCTIONS),
    });
  });
  afterEach(() => dir.cleanup());

  it('creates the role first, naming exactly the managers the tasks call, then the state machine', async () => {
    const wf = await service.create({ name: 'Nightly', definition: reindex }, writer);
    expect(wf).toMatchObject({ name: 'Nightly', managers: ['roadmap'], version: 1, createdBy: 'wes' });
    expect(wf).not.toHaveProperty('roleArn');
    expect(engines.calls).toEqual([`role:put ${wf.id} arn:roadmap:live`, `sm:create vp-test-${wf.id}`]);
    // The engine gets the translation; the record keeps what the client wrote.
    const engine = engines.machines.get(wf.stateMachineArn) as { States: { Reindex: { Resource: string } } };
    expect(engine.States.Reindex.Resource).toBe('arn:roadmap:live');
    expect((await service.get(wf.id)).definition).toEqual(reindex);
  });

  it('refuses an invalid definition, a taken name and a missing right before making anything', async () => {
    const invalid = service.create(
      { name: 'x', definition: { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'B' } } } },
      admin,
    );
    await expect(invalid).rejects.toBeInstanceOf(ValidationError);
    await expect(invalid).rejects.toMatchObject({
      issues: expect.arrayContaining([expect.objectContaining({ field: 'definition.States.A.Next' })]),
    });
    const forbidden = service.create({ name: 'x', definition: backup }, writer);
    await expect(forbidden).rejects.toBeInstanceOf(ForbiddenError);
    await expect(forbidden).rejects.toMatchObject({
      issues: [{ field: 'definition.States.Backup.Resource' }],
    });
    expect(engines.calls).toEqual([]);
    await service.create({ name: 'Nightly', definition: reindex }, admin);
    await expect(service.create({ name: 'NIGHTLY', definition: reindex }, admin)).rejects.toBeInstanceOf(
      ConflictError,
    );
  });

  it('removes the role it made when the state machine cannot be created, and stores nothing', async () => {
    engines.failCreate = true;
    await expect(service.create({ name: 'Nightly', definition: reindex }, admin)).rejects.toThrow(
      'Step Functions refused',
    );
    expect(engines.calls.at(-1)).toMatch(/^role:remove wf-[0-9a-f]{10}$/);
    expect(engines.roles.size).toBe(0);
    expect(await service.list()).toEqual([]);
  });

  it('replaces the role before the state machine, and refuses a writer replacing an administrator’s workflow', async () => {
    const wf = await service.create({ name: 'Nightly', definition: reindex }, admin);
    engines.calls.length = 0;
    const replaced = await service.replace(
      wf.id,
      { name: 'Nightly', definition: backup, description: 'now a backup' },
      admin,
    );
    expect(replaced).toMatchObject({ managers: ['backup'], version: 2, description: 'now a backup' });
    expect(engines.calls).toEqual([`role:put ${wf.id} arn:backup:live`, `sm:update vp-test-${wf.id}`]);
    await expect(
      service.replace(wf.id, { name: 'Nightly', definition: reindex }, writer),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await expect(service.delete(wf.id, writer)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(service.execute(wf.id, {}, writer)).rejects.toBeInstanceOf(ForbiddenError);
    // Its own name in another case is no conflict; another workflow's is.
    expect((await service.replace(wf.id, { name: 'NIGHTLY', definition: backup }, admin)).name).toBe(
      'NIGHTLY',
    );
    await service.create({ name: 'Other', definition: reindex }, admin);
    await expect(service.replace(wf.id, { name: 'other', definition: backup }, admin)).rejects.toBeInstanceOf(
      ConflictError,
    );
  });

  it('deletes the state machine, then the role, then the record', async () => {
    const wf = await service.create({ name: 'Nightly', definition: reindex }, admin);
    engines.calls.length = 0;
    await service.delete(wf.id, admin);
    expect(engines.calls).toEqual([`sm:delete vp-test-${wf.id}`, `role:remove ${wf.id}`]);
    await expect(service.get(wf.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('runs with the input as JSON, refuses one over 256 KiB, stops only a running execution', async () => {
    const wf = await service.create({ name: 'Nightly', definition: reindex }, writer);
    const started = await service.execute(wf.id, { plan: 'a' }, writer);
    expect(started.executionId).toMatch(new RegExp(`^${wf.id}\\.[0-9a-f-]{36}$`));
    const view = await service.execution(started.executionId);
    expect(view).toMatchObject({ status: 'RUNNING', input: { plan: 'a' }, workflowId: wf.id });
    await expect(
      service.execute(wf.id, { big: 'x'.repeat(MAX_EXECUTION_INPUT_BYTES) }, writer),
    ).rejects.toMatchObject({ issues: [{ field: 'input' }] });
    const stopped = await service.stop(started.executionId, { error: 'Operator' }, writer);
    expect(stopped).toMatchObject({ status: 'ABORTED', error: 'Operator' });
    await expect(service.stop(started.executionId, {}, writer)).rejects.toBeInstanceOf(ConflictError);
    await expect(service.execution(`${wf.id}.00000000-0000-4000-8000-000000000000`)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(
      service.execution('wf-0000000000.00000000-0000-4000-8000-000000000000'),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(service.execution('../etc')).rejects.toBeInstanceOf(ValidationError);
  });

  it('installs the examples once with firstRun, and the missing ones when asked', async () => {
    const state = fileStore(dir.path);
    const first = await installExamples(service, state, admin, { firstRun: true });
    expect(first.installed.sort()).toEqual(
      Object.values(EXAMPLES)
        .map((e) => e.name)
        .sort(),
    );
    const examples = await service.list();
    expect(examples.map((w) => w.example).sort()).toEqual(Object.keys(EXAMPLES).sort());
    await service.delete(examples[0]!.id, admin);
    expect(await installExamples(service, state, admin, { firstRun: true })).toEqual({
      installed: [],
      present: [],
      skipped: 'installed-before',
    });
    const again = await installExamples(service, state, admin, { firstRun: false });
    expect(again).toEqual({ installed: [examples[0]!.name], present: [examples[1]!.name] });
  });
});
