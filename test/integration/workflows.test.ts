import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import type { LoggedEvent } from '#shared/events/log.ts';
import { EXAMPLES } from '#shared/workflows/examples.ts';
import type { ExecutionView, Workflow } from '#shared/workflows/model.ts';
import { callersByRole, eventually, s3ClientOf } from './support.ts';

/**
 * Workflows end to end on the local runtime: the shipped examples installed at start, one run to
 * success through the managers (its history through every state), definitions refused with the
 * state named, each state type's semantics over real manager actions (retry then success, catch to
 * a fallback, Choice, Map over plans, Parallel branches), a stopped manager waited for or failing
 * as declared, stop (ABORTED), roles, the WorkflowExecution events, delete. Waits and retry pauses
 * last `WAITS_MS` (the runtime's `workflowWaitsMs`).
 */

/** Each function's first invocation starts its worker thread: seconds on a busy machine. */
const SLOW = 90_000;
const WAITS_MS = 200;

const plan = (name: string, task: string) => ({
  planId: `plans/${name}.md`,
  markdown: `# ${name}\n\n## Work\n- [ ] ${task}\n`,
});

describe('workflows on the local runtime', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  const { admin, writer, reader } = callersByRole(() => rt);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-workflows-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false, workflowWaitsMs: WAITS_MS });
  });
  afterAll(async () => {
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const create = async (name: string, definition: object, call = admin) => {
    const created = await call('POST', '/workflows', { name, definition });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.workflow as Workflow;
  };
  const execute = async (id: string, input: unknown = {}, call = admin) => {
    const started = await call('POST', `/workflows/${id}/execute`, { input });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.headers.get('location')).toBe(`/api/v1/executions/${started.body.execution.executionId}`);
    return started.body.execution.executionId as string;
  };
  const execution = async (executionId: string) => {
    const got = await reader('GET', `/executions/${executionId}`);
    expect(got.status, JSON.stringify(got.body)).toBe(200);
    return got.body.execution as ExecutionView;
  };
  const ended = (executionId: string, ms = 60_000) =>
    eventually(
      `execution ${executionId} to end`,
      async () => {
        const view = await execution(executionId);
        return view.status === 'RUNNING' ? undefined : view;
      },
      ms,
    );
  const types = (view: ExecutionView) => view.history.map((e) => e.type);

  it(
    'installs the shipped examples at start, and runs one to success through every state',
    async () => {
      // The schedule's catch-up run at start installs them (cold starts: seconds on a busy machine).
      const listed = await eventually(
        'the examples',
        async () => {
          const { body } = await reader('GET', '/workflows');
          return body.workflows.length === Object.keys(EXAMPLES).length
            ? (body.workflows as Workflow[])
            : undefined;
        },
        SLOW - 20_000,
      );
      expect(listed.map((w) => w.name).sort()).toEqual(
        Object.values(EXAMPLES)
          .map((e) => e.name)
          .sort(),
      );
      const example = listed.find((w) => w.example === 'reindex-and-back-up')!;
      expect(example.managers).toEqual(['backup', 'notifications', 'roadmap']);

      // Something to back up: a plan's tasks (a fresh platform has no tasks collection, and the
      // example then fails its backup step, notifying the operators).
      const indexed = await writer('POST', '/plans', plan('maintenance', 'Rotate the certificates'));
      expect(indexed.status, JSON.stringify(indexed.body)).toBeLessThan(300);
      // A workflow created from the example's definition, as a user would.
      const { body } = await reader('GET', `/workflows/${example.id}`);
      const copy = await create('Nightly maintenance', body.workflow.definition);
      const id = await execute(copy.id);
      const view = await ended(id);
      expect(view.status, JSON.stringify(view.error ?? view.cause)).toBe('SUCCEEDED');
      const names = view.states.map((s) => s.name);
      expect(names.slice(0, 5)).toEqual([
        'Reindex plans',
        'Back up tasks',
        'Wait for the backup',
        'Check the backup',
        'Backup done?',
      ]);
      expect(names.at(-1)).toBe('Done');
      expect(types(view)[0]).toBe('ExecutionStarted');
      expect(types(view).at(-1)).toBe('ExecutionSucceeded');
      expect(types(view)).toContain('LambdaFunctionSucceeded');
      // Every event in order, each naming the one before it.
      view.history.forEach((e, i) => {
        expect(e.id).toBe(i + 1);
        if (i > 0) expect(e.previousEventId).toBeLessThan(e.id);
      });
      expect((view.output as { backup: { status: string } }).backup.status).toBe('completed');

      const listedRuns = await reader('GET', `/workflows/${copy.id}/executions?status=SUCCEEDED`);
      expect(listedRuns.body.executions.map((e: { executionId: string }) => e.executionId)).toEqual([id]);
    },
    SLOW,
  );

  it(
    'runs the shipped migration example: migrate an export, wait until verified and switched, notify',
    async () => {
      const lines = Array.from({ length: 20 }, (_, i) =>
        JSON.stringify({ id: `ex-${i}`, vector: [i + 1, 1, 0, 0], payload: { i } }),
      );
      // Outside exports/: only the workflow starts its migration.
      await s3ClientOf(rt).send(
        new PutObjectCommand({ Bucket: rt.bucket, Key: 'staging/example.jsonl', Body: lines.join('\n') }),
      );
      const { body } = await reader('GET', '/workflows');
      const example = (body.workflows as Workflow[]).find((w) => w.example === 'migrate-and-switch')!;
      const view = await ended(
        await execute(example.id, { key: 'staging/example.jsonl', collection: 'wfexample' }),
      );
      expect(view.status, JSON.stringify([view.error, view.cause])).toBe('SUCCEEDED');
      const names = view.states.map((s) => s.name);
      expect(names.slice(0, 4)).toEqual([
        'Migrate',
        'Wait for the migration',
        'Check the migration',
        'Verified and switched?',
      ]);
      expect(names.at(-1)).toBe('Notify success');
      expect(view.output).toMatchObject({ job: { status: 'completed', counts: { written: 20 } } });
      const alias = await reader('GET', '/vectors/collections');
      expect(JSON.stringify(alias.body)).toContain('wfexample');
      await eventually('the success notice in the outbox', async () => {
        const files = (await readdir(rt.outboxDir).catch(() => [])).filter((f) => f.endsWith('.eml'));
        const texts = await Promise.all(files.map((f) => readFile(join(rt.outboxDir, f), 'utf8')));
        return texts.find(
          (t) => t.includes('OperatorNotice') && t.replace(/=\r?\n/g, '').includes('Migration switched'),
        );
      });
    },
    SLOW,
  );

  it(
    'refuses broken definitions naming the state and the field, and answers unknown ids',
    async () => {
      const badResource = await admin('POST', '/workflows', {
        name: 'bad',
        definition: {
          StartAt: 'Call',
          States: { Call: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', End: true } },
        },
      });
      expect(badResource.status).toBe(400);
      expect(badResource.body.error.issues[0].field).toBe('definition.States.Call.Resource');
      const unknownAction = await admin('POST', '/workflows', {
        name: 'bad',
        definition: {
          StartAt: 'Call',
          States: { Call: { Type: 'Task', Resource: 'manager:roadmap:explode', End: true } },
        },
      });
      expect(unknownAction.status).toBe(400);
      expect(unknownAction.body.error.issues[0]).toMatchObject({ field: 'definition.States.Call.Resource' });
      expect(unknownAction.body.error.issues[0].reason).toContain('reindex');
      const dangling = await admin('POST', '/workflows', {
        name: 'bad',
        definition: { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Nowhere' } } },
      });
      expect(dangling.status).toBe(400);
      expect(dangling.body.error.issues.map((i: { field: string }) => i.field)).toContain(
        'definition.States.A.Next',
      );
      expect((await admin('POST', '/workflows', { name: 'x' })).status).toBe(400);
      const taken = await admin('POST', '/workflows', {
        name: 'Nightly maintenance',
        definition: { StartAt: 'A', States: { A: { Type: 'Succeed' } } },
      });
      expect(taken.status).toBe(409);
      expect((await reader('GET', '/workflows/wf-0000000000')).status).toBe(404);
      expect((await reader('GET', '/workflows/nope')).status).toBe(400);
      expect(
        (await reader('GET', '/executions/wf-0000000000.00000000-0000-4000-8000-000000000000')).status,
      ).toBe(404);
      expect((await reader('GET', '/executions/garbage')).status).toBe(400);
    },
    SLOW,
  );

  it(
    'retries a failing task then catches it to a fallback, as declared',
    async () => {
      const wf = await create('Retry then catch', {
        StartAt: 'Read a missing backup',
        States: {
          'Read a missing backup': {
            Type: 'Task',
            Resource: 'manager:backup:get',
            Parameters: { id: '20200101T000000Z-00000000' },
            Retry: [{ ErrorEquals: ['NOT_FOUND'], IntervalSeconds: 1, MaxAttempts: 2 }],
            Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: 'Fallback' }],
            End: true,
          },
          Fallback: { Type: 'Pass', Result: 'fell back', ResultPath: '$.fallback', End: true },
        },
      });
      const view = await ended(await execute(wf.id, { start: true }));
      expect(view.status).toBe('SUCCEEDED');
      expect(types(view).filter((t) => t === 'LambdaFunctionFailed')).toHaveLength(3);
      const output = view.output as {
        start: boolean;
        fallback: string;
        caught: { Error: string; Cause: string };
      };
      expect(output).toMatchObject({ start: true, fallback: 'fell back', caught: { Error: 'NOT_FOUND' } });
      expect(JSON.parse(output.caught.Cause)).toMatchObject({ errorType: 'NOT_FOUND' });
      expect(view.states.map((s) => s.name)).toEqual(['Read a missing backup', 'Fallback']);
    },
    SLOW,
  );

  it(
    'maps over plans, runs Parallel branches and chooses by their results',
    async () => {
      const wf = await create('Index plans in parallel', {
        StartAt: 'Both',
        States: {
          Both: {
            Type: 'Parallel',
            Branches: [
              {
                StartAt: 'Index each plan',
                States: {
                  'Index each plan': {
                    Type: 'Map',
                    ItemsPath: '$.plans',
                    MaxConcurrency: 2,
                    ItemProcessor: {
                      StartAt: 'Index',
                      States: { Index: { Type: 'Task', Resource: 'manager:roadmap:index', End: true } },
                    },
                    End: true,
                  },
                },
              },
              {
                StartAt: 'Reindex templates',
                States: {
                  'Reindex templates': {
                    Type: 'Task',
                    Resource: 'manager:templates:reindex',
                    Parameters: {},
                    End: true,
                  },
                },
              },
            ],
            ResultSelector: { 'indexed.$': '$[0]', 'templates.$': '$[1]' },
            Next: 'Any plan?',
          },
          'Any plan?': {
            Type: 'Choice',
            Choices: [{ Variable: '$.indexed[0]', IsPresent: true, Next: 'Indexed' }],
            Default: 'Nothing',
          },
          Indexed: { Type: 'Succeed' },
          Nothing: { Type: 'Fail', Error: 'NoPlans' },
        },
      });
      const plans = [
        plan('alpha', 'Write the alpha spec'),
        plan('beta', 'Ship beta'),
        plan('gamma', 'Review gamma'),
      ];
      const view = await ended(await execute(wf.id, { plans }, writer));
      expect(view.status, view.cause).toBe('SUCCEEDED');
      expect(view.states.map((s) => s.name)).toContain('Indexed');
      expect(types(view).filter((t) => t === 'MapIterationSucceeded')).toHaveLength(3);
      expect(types(view)).toContain('ParallelStateSucceeded');
      const output = view.output as { indexed: unknown[] };
      expect(output.indexed).toHaveLength(3);
      const listed = await reader('GET', '/plans');
      expect(listed.body.plans.map((p: { planId: string }) => p.planId)).toEqual(
        expect.arrayContaining(plans.map((p) => p.planId)),
      );
      // The Choice's other branch: no plans, so the Fail state.
      const none = await ended(await execute(wf.id, { plans: [] }, writer));
      expect(none).toMatchObject({ status: 'FAILED', error: 'NoPlans' });
    },
    SLOW,
  );

  it(
    'waits for a stopped manager when told to, and fails on it otherwise',
    async () => {
      const waiting = await create('Wait for templates', {
        StartAt: 'Reindex',
        States: {
          Reindex: {
            Type: 'Task',
            Resource: 'manager:templates:reindex',
            Parameters: {},
            Retry: [
              { ErrorEquals: ['ManagerStopped'], IntervalSeconds: 1, MaxAttempts: 100, BackoffRate: 1 },
            ],
            End: true,
          },
        },
      });
      const failing = await create('Fail without templates', {
        StartAt: 'Reindex',
        States: {
          Reindex: { Type: 'Task', Resource: 'manager:templates:reindex', Parameters: {}, End: true },
        },
      });
      expect((await admin('POST', '/managers/templates/stop')).status).toBe(200);
      try {
        const failed = await ended(await execute(failing.id));
        expect(failed).toMatchObject({ status: 'FAILED', error: 'ManagerStopped' });
        expect(failed.cause).toContain('templates');

        const id = await execute(waiting.id);
        await eventually('a retry on the stopped manager', async () => {
          const view = await execution(id);
          return types(view).includes('LambdaFunctionFailed') ? view : undefined;
        });
        expect((await execution(id)).status).toBe('RUNNING');
        expect((await admin('POST', '/managers/templates/start')).status).toBe(200);
        const view = await ended(id);
        expect(view.status).toBe('SUCCEEDED');
        expect(types(view).filter((t) => t === 'LambdaFunctionSucceeded')).toHaveLength(1);
      } finally {
        await admin('POST', '/managers/templates/start');
      }
    },
    SLOW,
  );

  it(
    'stops a running execution (ABORTED) and refuses to stop one that ended',
    async () => {
      const wf = await create('Long wait', {
        StartAt: 'Retry forever',
        States: {
          'Retry forever': {
            Type: 'Task',
            Resource: 'manager:backup:get',
            Parameters: { id: '20200101T000000Z-00000001' },
            Retry: [{ ErrorEquals: ['NOT_FOUND'], MaxAttempts: 99 }],
            End: true,
          },
        },
      });
      const id = await execute(wf.id);
      const stopped = await writer('POST', `/executions/${id}/stop`, {
        error: 'Operator',
        cause: 'not needed',
      });
      expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
      const view = await ended(id);
      expect(view).toMatchObject({ status: 'ABORTED', error: 'Operator', cause: 'not needed' });
      expect(types(view).at(-1)).toBe('ExecutionAborted');
      expect((await writer('POST', `/executions/${id}/stop`)).status).toBe(409);
    },
    SLOW,
  );

  it(
    'lets each role do what its actions need: readers read, writers run writer actions only',
    async () => {
      const definition = {
        StartAt: 'Backup',
        States: { Backup: { Type: 'Task', Resource: 'manager:backup:backup', Parameters: {}, End: true } },
      };
      expect((await reader('POST', '/workflows', { name: 'r', definition })).status).toBe(403);
      const refused = await writer('POST', '/workflows', { name: 'w', definition });
      expect(refused.status).toBe(403);
      expect(refused.body.error.issues[0]).toMatchObject({ field: 'definition.States.Backup.Resource' });
      const adminOnly = await create('Admin backup', definition);
      expect((await writer('POST', `/workflows/${adminOnly.id}/execute`, {})).status).toBe(403);
      expect((await writer('DELETE', `/workflows/${adminOnly.id}`)).status).toBe(403);
      expect((await reader('GET', `/workflows/${adminOnly.id}/executions`)).status).toBe(200);
    },
    SLOW,
  );

  it(
    'publishes the executions as WorkflowExecution events, and deletes a workflow',
    async () => {
      const events = await eventually('the workflow events', async () => {
        const { body } = await reader('GET', '/events?limit=200');
        const found = (body.events as LoggedEvent[]).filter((e) => e.type.startsWith('WorkflowExecution'));
        const kinds = new Set(found.map((e) => e.type));
        return ['Started', 'Succeeded', 'Failed', 'Aborted'].every((k) => kinds.has(`WorkflowExecution${k}`))
          ? found
          : undefined;
      });
      const failed = events.find((e) => e.type === 'WorkflowExecutionFailed')!;
      expect(failed.detail).toMatchObject({ status: 'FAILED' });
      expect(typeof (failed.detail as { durationMs: number }).durationMs).toBe('number');

      const wf = await create('To delete', { StartAt: 'A', States: { A: { Type: 'Succeed' } } });
      expect((await admin('DELETE', `/workflows/${wf.id}`)).status).toBe(204);
      expect((await reader('GET', `/workflows/${wf.id}`)).status).toBe(404);
    },
    SLOW,
  );
});
