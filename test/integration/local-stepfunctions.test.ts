import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  CreateStateMachineCommand,
  DeleteStateMachineCommand,
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  UpdateStateMachineCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventSourceMappings } from '#local/event-source-mappings.ts';
import { LocalIam } from '#local/iam.ts';
import { LocalIamRoles, startIamRolesEndpoint } from '#local/iam-roles.ts';
import { startLambdaEndpoint } from '#local/lambda.ts';
import {
  RECOVERY_CAUSE,
  type StepFunctionsEndpoint,
  startStepFunctionsEndpoint,
} from '#local/stepfunctions/endpoint.ts';
import type { AwsServiceEvent } from '#local/stepfunctions/execution.ts';
import { eventually, waitFor } from './support.ts';

/**
 * The local Step Functions and IAM roles endpoints on their own, through the SDK clients: a local
 * Lambda endpoint whose functions are a fake `invoke`, state machines run as their roles (inline
 * policy within a boundary), the ASL features the workflows use, stops, timeouts, persistence
 * across a restart and the status events.
 */

const REGION = 'eu-west-1';
const ACCOUNT = '000000000000';
const ADMIN = { accessKeyId: 'local', secretAccessKey: 'local' };
const SERVICE = 'svc';
const BOUNDARY = `arn:aws:iam::${ACCOUNT}:policy/svc-local-workflow-task-boundary`;
const fnArn = (key: string, qualifier = 'live') =>
  `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${SERVICE}-${key}${qualifier ? `:${qualifier}` : ''}`;
const TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/** What the fake functions were called with, and the gates slow calls wait on. */
const calls: { fn: string; event: Record<string, unknown> }[] = [];
const failures = new Map<string, number>();
const gates: (() => void)[] = [];

async function invoke(fn: string, event: unknown): Promise<unknown> {
  const e = event as Record<string, unknown>;
  calls.push({ fn, event: e });
  if (e.mode === 'fail') {
    throw Object.assign(new Error(`failed on purpose: ${String(e.why)}`), {
      name: String(e.errorType ?? 'Boom'),
    });
  }
  if (e.mode === 'flaky') {
    const key = String(e.key);
    const seen = failures.get(key) ?? 0;
    failures.set(key, seen + 1);
    if (seen < Number(e.failTimes)) throw Object.assign(new Error(`attempt ${seen + 1}`), { name: 'Flaky' });
    return { attempts: seen + 1 };
  }
  if (e.mode === 'slow') await new Promise<void>((resolve) => gates.push(resolve));
  return { fn, echo: e };
}

let dataDir: string;
let iam: LocalIam;
let roles: LocalIamRoles;
let lambda: { url: string; close(): Promise<void> };
let iamEndpoint: { url: string; close(): Promise<void> };
let sfnEndpoint: StepFunctionsEndpoint;
let sfn: SFNClient;
let iamClient: IAMClient;
const statusEvents: AwsServiceEvent[] = [];

async function startSfn(): Promise<void> {
  sfnEndpoint = await startStepFunctionsEndpoint({
    region: REGION,
    iam,
    roles,
    lambdaUrl: lambda.url,
    dataDir: join(dataDir, 'stepfunctions'),
    waitsMs: 5,
    onStatusChange: (event) => statusEvents.push(event),
    log: () => undefined,
  });
  sfn = new SFNClient({ region: REGION, endpoint: sfnEndpoint.url, credentials: ADMIN, maxAttempts: 1 });
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-sfn-'));
  iam = new LocalIam();
  roles = await LocalIamRoles.open(join(dataDir, 'iam'));
  roles.registerManagedPolicy(BOUNDARY, {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: `${fnArn('*', '')}:live` }],
  });
  lambda = await startLambdaEndpoint({
    manifest: { service: SERVICE, functions: { alpha: {}, beta: {} } } as never,
    region: REGION,
    iam,
    invoke,
    mappings: {} as EventSourceMappings,
    log: () => undefined,
  });
  iamEndpoint = await startIamRolesEndpoint({ iam, roles });
  iamClient = new IAMClient({
    region: REGION,
    endpoint: iamEndpoint.url,
    credentials: ADMIN,
    maxAttempts: 1,
  });
  await startSfn();
  // The workflows' role: may invoke alpha's live alias only, within the boundary.
  await createRole('wf-alpha', [fnArn('alpha')]);
  // A role whose own policy allows any function: the boundary still limits it to live aliases.
  await createRole('wf-any', ['*']);
});

afterAll(async () => {
  for (const open of gates.splice(0)) open();
  await sfnEndpoint?.close();
  await iamEndpoint?.close();
  await lambda?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/svc/local/workflows/${name}`;

async function createRole(name: string, resources: string[]): Promise<void> {
  await iamClient.send(
    new CreateRoleCommand({
      RoleName: name,
      Path: '/svc/local/workflows/',
      AssumeRolePolicyDocument: TRUST,
      PermissionsBoundary: BOUNDARY,
    }),
  );
  await iamClient.send(
    new PutRolePolicyCommand({
      RoleName: name,
      PolicyName: 'invoke-managers',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: resources }],
      }),
    }),
  );
}

let machineCount = 0;
async function machine(definition: object, role = 'wf-alpha'): Promise<string> {
  machineCount += 1;
  const out = await sfn.send(
    new CreateStateMachineCommand({
      name: `svc-local-wf-test${machineCount}`,
      definition: JSON.stringify(definition),
      roleArn: roleArn(role),
    }),
  );
  return out.stateMachineArn!;
}

const task = (extra: Record<string, unknown> = {}, key = 'alpha') => ({
  Type: 'Task',
  Resource: fnArn(key),
  ...extra,
});

/** Starts an execution and waits for its end. */
async function run(stateMachineArn: string, input: unknown = {}) {
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }),
  );
  const done = await eventually(`the end of ${executionArn}`, async () => {
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return d.status === 'RUNNING' ? undefined : d;
  });
  return { ...done, executionArn: executionArn! };
}

async function history(executionArn: string): Promise<HistoryEvent[]> {
  return (await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }))).events ?? [];
}
const types = (events: HistoryEvent[]) => events.map((e) => e.type);

describe('executions', () => {
  it('runs a task as the role and records AWS history events', async () => {
    const arn = await machine({
      StartAt: 'Call',
      States: {
        Call: task({
          Parameters: { call: 'task', 'input.$': '$', 'workflow.$': '$$.Execution.Id' },
          End: true,
        }),
      },
    });
    const done = await run(arn, { hello: 'world' });
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output!)).toEqual({
      fn: 'alpha',
      echo: { call: 'task', input: { hello: 'world' }, workflow: done.executionArn },
    });
    const events = await history(done.executionArn);
    expect(types(events)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(events[0]?.executionStartedEventDetails).toMatchObject({
      input: '{"hello":"world"}',
      roleArn: roleArn('wf-alpha'),
    });
    expect(events[2]?.lambdaFunctionScheduledEventDetails?.resource).toBe(fnArn('alpha'));
    expect(events[1]?.stateEnteredEventDetails?.name).toBe('Call');
    expect(events[0]?.timestamp).toBeInstanceOf(Date);

    const reversed = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn: done.executionArn,
        reverseOrder: true,
        maxResults: 2,
        includeExecutionData: false,
      }),
    );
    expect(types(reversed.events ?? [])).toEqual(['ExecutionSucceeded', 'TaskStateExited']);
    expect(reversed.events?.[0]?.executionSucceededEventDetails?.output).toBeUndefined();
    const rest = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn: done.executionArn,
        reverseOrder: true,
        nextToken: reversed.nextToken!,
      }),
    );
    expect(rest.events?.map((e) => e.id)).toEqual([5, 4, 3, 2, 1]);
  });

  it('retries a failing task (each attempt in the history) until it succeeds', async () => {
    const arn = await machine({
      StartAt: 'Flaky',
      States: {
        Flaky: task({
          Retry: [{ ErrorEquals: ['Flaky'], IntervalSeconds: 30, MaxAttempts: 3 }],
          End: true,
        }),
      },
    });
    const done = await run(arn, { mode: 'flaky', key: 'retry', failTimes: 2 });
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output!)).toEqual({ attempts: 3 });
    const events = types(await history(done.executionArn));
    expect(events.filter((t) => t === 'LambdaFunctionScheduled')).toHaveLength(3);
    expect(events.filter((t) => t === 'LambdaFunctionFailed')).toHaveLength(2);
    expect(events.at(-1)).toBe('ExecutionSucceeded');
  });

  it('catches a function error into a fallback, with Step Functions’ error and cause', async () => {
    const arn = await machine({
      StartAt: 'Try',
      States: {
        Try: task({
          Catch: [{ ErrorEquals: ['Boom'], ResultPath: '$.failure', Next: 'Fallback' }],
          End: true,
        }),
        Fallback: { Type: 'Pass', End: true },
      },
    });
    const done = await run(arn, { mode: 'fail', why: 'test' });
    expect(done.status).toBe('SUCCEEDED');
    const output = JSON.parse(done.output!);
    expect(output.failure.Error).toBe('Boom');
    expect(JSON.parse(output.failure.Cause)).toMatchObject({
      errorType: 'Boom',
      errorMessage: 'failed on purpose: test',
    });
    const events = await history(done.executionArn);
    const failed = events.find((e) => e.type === 'LambdaFunctionFailed');
    expect(failed?.lambdaFunctionFailedEventDetails?.error).toBe('Boom');
    expect(types(events)).toContain('PassStateEntered');
  });

  it('chooses a branch', async () => {
    const arn = await machine({
      StartAt: 'Which',
      States: {
        Which: {
          Type: 'Choice',
          Choices: [{ Variable: '$.n', NumericGreaterThan: 10, Next: 'Big' }],
          Default: 'Small',
        },
        Big: { Type: 'Pass', Result: 'big', End: true },
        Small: { Type: 'Pass', Result: 'small', End: true },
      },
    });
    expect((await run(arn, { n: 11 })).output).toBe('"big"');
    const small = await run(arn, { n: 1 });
    expect(small.output).toBe('"small"');
    expect(types(await history(small.executionArn))).toEqual([
      'ExecutionStarted',
      'ChoiceStateEntered',
      'ChoiceStateExited',
      'PassStateEntered',
      'PassStateExited',
      'ExecutionSucceeded',
    ]);
  });

  it('maps a task over items', async () => {
    const arn = await machine({
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          ItemsPath: '$.items',
          ItemProcessor: { StartAt: 'One', States: { One: task({ End: true }) } },
          End: true,
        },
      },
    });
    const done = await run(arn, { items: [{ i: 1 }, { i: 2 }, { i: 3 }] });
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output!).map((o: { echo: { i: number } }) => o.echo.i)).toEqual([1, 2, 3]);
    const events = types(await history(done.executionArn));
    expect(events.slice(0, 3)).toEqual(['ExecutionStarted', 'MapStateEntered', 'MapStateStarted']);
    expect(events.filter((t) => t === 'MapIterationStarted')).toHaveLength(3);
    expect(events.filter((t) => t === 'MapIterationSucceeded')).toHaveLength(3);
    expect(events.filter((t) => t === 'LambdaFunctionSucceeded')).toHaveLength(3);
    expect(events.slice(-3)).toEqual(['MapStateSucceeded', 'MapStateExited', 'ExecutionSucceeded']);
  });

  it('runs parallel branches', async () => {
    const arn = await machine({
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'Left', States: { Left: task({ Parameters: { side: 'left' }, End: true }) } },
            { StartAt: 'Right', States: { Right: { Type: 'Pass', Result: 'right', End: true } } },
          ],
          End: true,
        },
      },
    });
    const done = await run(arn);
    expect(JSON.parse(done.output!)).toEqual([{ fn: 'alpha', echo: { side: 'left' } }, 'right']);
    const events = types(await history(done.executionArn));
    expect(events.slice(0, 3)).toEqual(['ExecutionStarted', 'ParallelStateEntered', 'ParallelStateStarted']);
    expect(events.slice(-3)).toEqual(['ParallelStateSucceeded', 'ParallelStateExited', 'ExecutionSucceeded']);
  });

  it('waits as long as waitsMs says', async () => {
    const arn = await machine({
      StartAt: 'Pause',
      States: { Pause: { Type: 'Wait', Seconds: 3600, End: true } },
    });
    const done = await run(arn, { x: 1 });
    expect(done.status).toBe('SUCCEEDED');
    expect(types(await history(done.executionArn))).toContain('WaitStateExited');
  });

  it('fails at a Fail state with its error and cause', async () => {
    const arn = await machine({
      StartAt: 'Stop',
      States: { Stop: { Type: 'Fail', Error: 'Custom.Error', Cause: 'why not' } },
    });
    const done = await run(arn);
    expect(done).toMatchObject({ status: 'FAILED', error: 'Custom.Error', cause: 'why not' });
    const events = await history(done.executionArn);
    expect(types(events)).toEqual(['ExecutionStarted', 'FailStateEntered', 'ExecutionFailed']);
    expect(events[2]?.executionFailedEventDetails).toEqual({ error: 'Custom.Error', cause: 'why not' });
  });

  it('fails a task its role may not invoke with Lambda.AWSLambdaException, the inline policy or the boundary refusing', async () => {
    const notAllowed = await machine({ StartAt: 'Beta', States: { Beta: task({ End: true }, 'beta') } });
    const refused = await run(notAllowed);
    expect(refused).toMatchObject({ status: 'FAILED', error: 'Lambda.AWSLambdaException' });
    expect(refused.cause).toMatch(
      /assumed-role\/wf-alpha\/.* is not authorized to perform: lambda:InvokeFunction on resource: .*svc-beta:live/,
    );
    expect(calls.some((c) => c.fn === 'beta')).toBe(false);

    // wf-any's own policy allows every function; its boundary only the live aliases.
    const live = await run(
      await machine({ StartAt: 'B', States: { B: task({ End: true }, 'beta') } }, 'wf-any'),
    );
    expect(live.status).toBe('SUCCEEDED');
    const unqualified = await machine(
      { StartAt: 'Latest', States: { Latest: { Type: 'Task', Resource: fnArn('beta', ''), End: true } } },
      'wf-any',
    );
    expect(await run(unqualified)).toMatchObject({ status: 'FAILED', error: 'Lambda.AWSLambdaException' });
  });

  it('fails a task whose Resource is not a Lambda function States.Runtime, which no catcher takes', async () => {
    const arn = await machine({
      StartAt: 'Other',
      States: {
        Other: {
          Type: 'Task',
          Resource: 'arn:aws:states:::sqs:sendMessage',
          Parameters: { QueueUrl: 'q', MessageBody: 'm' },
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
          End: true,
        },
        Caught: { Type: 'Succeed' },
      },
    });
    expect(await run(arn)).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  });

  it('stops an execution: ABORTED with the error and cause given', async () => {
    const arn = await machine({ StartAt: 'Slow', States: { Slow: task({ End: true }) } });
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, input: JSON.stringify({ mode: 'slow' }) }),
    );
    await waitFor(() => gates.length > 0, 'the slow function to be called');
    const listed = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: arn, statusFilter: 'RUNNING' }),
    );
    expect(listed.executions?.map((e) => e.executionArn)).toEqual([executionArn]);
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Stopped.ByTest', cause: 'enough' }));
    const stopped = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(stopped).toMatchObject({ status: 'ABORTED', error: 'Stopped.ByTest', cause: 'enough' });
    expect(stopped.stopDate).toBeInstanceOf(Date);
    const events = await history(executionArn!);
    expect(events.at(-1)?.type).toBe('ExecutionAborted');
    expect(events.at(-1)?.executionAbortedEventDetails).toEqual({ error: 'Stopped.ByTest', cause: 'enough' });
    gates.shift()?.();
    const statuses = statusEvents
      .filter((e) => e.detail.executionArn === executionArn)
      .map((e) => e.detail.status);
    expect(statuses).toEqual(['RUNNING', 'ABORTED']);
  });

  it('times out at the definition’s TimeoutSeconds: TIMED_OUT', async () => {
    const arn = await machine({ TimeoutSeconds: 1, StartAt: 'Slow', States: { Slow: task({ End: true }) } });
    const done = await run(arn, { mode: 'slow' });
    expect(done.status).toBe('TIMED_OUT');
    expect(types(await history(done.executionArn)).at(-1)).toBe('ExecutionTimedOut');
    gates.shift()?.();
  });

  it('emits a status event at each status change, in AWS’s shape', async () => {
    const arn = await machine({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } });
    const done = await run(arn, { a: 1 });
    const mine = await eventually('the two status events', async () => {
      const found = statusEvents.filter((e) => e.detail.executionArn === done.executionArn);
      return found.length === 2 ? found : undefined;
    });
    expect(mine.map((e) => e.detail.status)).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(mine[1]).toMatchObject({
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      resources: [done.executionArn],
      detail: {
        stateMachineArn: arn,
        name: done.name,
        input: '{"a":1}',
        output: '{"a":1}',
        inputDetails: { included: true },
        outputDetails: { included: true },
        error: null,
        cause: null,
        startDate: done.startDate!.getTime(),
        stopDate: done.stopDate!.getTime(),
      },
    });
    expect(mine[0]?.detail).toMatchObject({ status: 'RUNNING', stopDate: null, output: null });
  });
});

describe('state machines', () => {
  const definition = JSON.stringify({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } });

  it('answers AWS’s errors', async () => {
    const create = (input: Partial<{ name: string; definition: string; roleArn: string }>) =>
      sfn.send(
        new CreateStateMachineCommand({
          name: 'svc-local-wf-errors',
          definition,
          roleArn: roleArn('wf-alpha'),
          ...input,
        }),
      );
    await expect(create({ definition: '{not json' })).rejects.toMatchObject({ name: 'InvalidDefinition' });
    await expect(
      create({ definition: JSON.stringify({ StartAt: 'Nowhere', States: {} }) }),
    ).rejects.toMatchObject({
      name: 'InvalidDefinition',
    });
    const duplicate = {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'Same', States: { Same: { Type: 'Pass', End: true } } },
            { StartAt: 'Same', States: { Same: { Type: 'Pass', End: true } } },
          ],
          End: true,
        },
      },
    };
    await expect(create({ definition: JSON.stringify(duplicate) })).rejects.toMatchObject({
      name: 'InvalidDefinition',
      message: expect.stringContaining('DUPLICATE_STATE_NAMES: A state with this name already exists: Same'),
    });
    await expect(create({ name: 'has space' })).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(create({ roleArn: roleArn('wf-missing') })).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining('is authorized to assume the provided role'),
    });

    const arn = (await create({})).stateMachineArn!;
    // The same request again is answered with the same machine; another definition is a conflict.
    expect((await create({})).stateMachineArn).toBe(arn);
    await expect(
      create({ definition: JSON.stringify({ StartAt: 'Q', States: { Q: { Type: 'Pass', End: true } } }) }),
    ).rejects.toMatchObject({ name: 'StateMachineAlreadyExists' });

    await expect(
      sfn.send(new DescribeStateMachineCommand({ stateMachineArn: 'nope' })),
    ).rejects.toMatchObject({
      name: 'InvalidArn',
    });
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: arn, input: '{bad' })),
    ).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
    const named = await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'once' }));
    await waitFor(
      async () =>
        (await sfn.send(new DescribeExecutionCommand({ executionArn: named.executionArn }))).status !==
        'RUNNING',
      'the execution named once to end',
    );
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'once' })),
    ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: `${named.executionArn}x` })),
    ).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
    await expect(sfn.send(new UpdateStateMachineCommand({ stateMachineArn: arn }))).rejects.toMatchObject({
      name: 'MissingRequiredParameter',
    });

    await sfn.send(new DeleteStateMachineCommand({ stateMachineArn: arn }));
    await expect(sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }))).rejects.toMatchObject({
      name: 'StateMachineDoesNotExist',
    });
    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: named.executionArn })),
    ).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
  });

  it('checks the caller’s grants: states actions, and PassRole only to Step Functions', async () => {
    const machineArn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:svc-local-wf-granted`;
    const grantedTo = (passedTo: string) =>
      iam.register(`manager${passedTo.replace(/\W/g, '')}`, [
        { actions: ['states:CreateStateMachine', 'states:DescribeStateMachine'], resources: [machineArn] },
        {
          actions: ['iam:PassRole'],
          resources: [roleArn('wf-*')],
          conditions: { StringEquals: { 'iam:PassedToService': passedTo } },
        },
      ]);
    const as = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
      new SFNClient({ region: REGION, endpoint: sfnEndpoint.url, credentials, maxAttempts: 1 });
    const create = (client: SFNClient, name = 'svc-local-wf-granted') =>
      client.send(new CreateStateMachineCommand({ name, definition, roleArn: roleArn('wf-alpha') }));

    await expect(create(as(grantedTo('lambda.amazonaws.com')))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining('iam:PassRole'),
    });
    const granted = as(grantedTo('states.amazonaws.com'));
    await expect(create(granted, 'svc-local-wf-other')).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining('states:CreateStateMachine'),
    });
    await create(granted);
    expect(
      (await granted.send(new DescribeStateMachineCommand({ stateMachineArn: machineArn }))).roleArn,
    ).toBe(roleArn('wf-alpha'));
  });
});

describe('persistence', () => {
  it('keeps finished executions across a restart and fails those it left running', async () => {
    const arn = await machine({ StartAt: 'Call', States: { Call: task({ End: true }) } });
    const finished = await run(arn, { n: 1 });
    const { executionArn: left } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, input: JSON.stringify({ mode: 'slow' }) }),
    );
    await waitFor(() => gates.length > 0, 'the slow function to be called');

    await sfnEndpoint.close();
    gates.shift()?.();
    const before = statusEvents.length;
    await startSfn();

    const again = await sfn.send(new DescribeExecutionCommand({ executionArn: finished.executionArn }));
    expect(again).toMatchObject({ status: 'SUCCEEDED', output: finished.output });
    expect(types(await history(finished.executionArn)).at(-1)).toBe('ExecutionSucceeded');

    const recovered = await sfn.send(new DescribeExecutionCommand({ executionArn: left }));
    expect(recovered).toMatchObject({ status: 'FAILED', error: 'States.Runtime', cause: RECOVERY_CAUSE });
    const events = await history(left!);
    expect(types(events).slice(0, 2)).toEqual(['ExecutionStarted', 'TaskStateEntered']);
    expect(events.at(-1)?.type).toBe('ExecutionFailed');
    expect(statusEvents.slice(before).map((e) => [e.detail.executionArn, e.detail.status])).toEqual([
      [left, 'FAILED'],
    ]);
    expect((await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }))).stateMachineArn).toBe(
      arn,
    );
  });
});
