import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import {
  GetEventSourceMappingCommand,
  InvokeCommand,
  LambdaClient,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventSourceMappingUuid } from '#local/event-source-mappings.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { LAMBDA_TEST_SOURCE, lambdaManifest } from '../fixtures/lambda/manifest.ts';
import { queueCounts, waitFor } from './support.ts';

/**
 * The local Lambda API (Invoke, event source mappings) and CloudWatch (GetMetricData) through the
 * unchanged SDK clients, with functions' own credentials and grants: what the coordinator and the
 * managers call. The tests run in order on one data folder; the last one restarts the runtime.
 */

const ADMIN = { accessKeyId: 'local', secretAccessKey: 'local' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let dataDir: string;
let rt: LocalRuntime;

const start = () =>
  startLocalRuntime({
    dataDir,
    port: 0,
    manifest: lambdaManifest,
    qdrantUrl: 'http://127.0.0.1:9',
    quiet: true,
  });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-lambda-'));
  rt = await start();
});
afterAll(async () => {
  await rt?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** A function's own credentials (as its handler's SDK clients find them), or the administrator's. */
function credentialsOf(fn?: string) {
  if (!fn) return ADMIN;
  const env = rt.environmentOf(fn);
  return { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! };
}
const lambdaAs = (fn?: string) =>
  new LambdaClient({ region: rt.region, endpoint: rt.lambdaEndpoint, credentials: credentialsOf(fn) });
const cloudWatchAs = (fn?: string) =>
  new CloudWatchClient({
    region: rt.region,
    endpoint: rt.cloudWatchEndpoint,
    credentials: credentialsOf(fn),
  });
const sqs = () => new SQSClient({ region: rt.region, endpoint: rt.sqsEndpoint, credentials: ADMIN });

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const parsed = (payload: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(payload));
const arnOf = (name: string) => `arn:aws:lambda:${rt.region}:000000000000:function:${name}`;

async function send(queue: string, bodies: string[]): Promise<void> {
  const client = sqs();
  await client.send(
    new SendMessageBatchCommand({
      QueueUrl: rt.queueUrls[queue]!.url,
      Entries: bodies.map((MessageBody, i) => ({ Id: `m${i}`, MessageBody })),
    }),
  );
  client.destroy();
}

const metric = (
  Id: string,
  Namespace: string,
  MetricName: string,
  dimensions: Record<string, string>,
  Stat: string,
): MetricDataQuery => ({
  Id,
  MetricStat: {
    Metric: {
      Namespace,
      MetricName,
      Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
    },
    Period: 600,
    Stat,
  },
});

describe('local CloudWatch', () => {
  it("answers GetMetricData with Lambda's and the HTTP API's metrics, to a function granted it", async () => {
    for (const path of ['/items/1', '/items/2', '/items/3', '/throw', '/nowhere'])
      await fetch(`${rt.apiUrl}${path}`);
    const api = { ApiId: rt.httpApi.id, Stage: rt.httpApi.stage };
    const route = (method: string, resource: string) => ({ ...api, Method: method, Resource: resource });
    const echo = { FunctionName: 'lambda-test-echo' };
    const throws = { FunctionName: 'lambda-test-throws' };
    const startTime = new Date(Date.now() - 5 * 60_000);
    const client = cloudWatchAs('coordinator');

    const out = await client.send(
      new GetMetricDataCommand({
        StartTime: startTime,
        EndTime: new Date(Date.now() + 60_000),
        MetricDataQueries: [
          metric('invocations', 'AWS/Lambda', 'Invocations', echo, 'Sum'),
          metric('durations', 'AWS/Lambda', 'Duration', echo, 'SampleCount'),
          metric('p99', 'AWS/Lambda', 'Duration', echo, 'p99'),
          metric('errors', 'AWS/Lambda', 'Errors', throws, 'Sum'),
          metric('echoErrors', 'AWS/Lambda', 'Errors', echo, 'Sum'),
          metric('throttles', 'AWS/Lambda', 'Throttles', echo, 'Sum'),
          metric('requests', 'AWS/ApiGateway', 'Count', api, 'Sum'),
          metric('clientErrors', 'AWS/ApiGateway', '4xx', api, 'Sum'),
          metric('serverErrors', 'AWS/ApiGateway', '5xx', api, 'Sum'),
          metric('itemRequests', 'AWS/ApiGateway', 'Count', route('GET', '/items/{id}'), 'Sum'),
          metric('throwErrors', 'AWS/ApiGateway', '5xx', route('GET', '/throw'), 'Sum'),
          metric('latency', 'AWS/ApiGateway', 'Latency', api, 'Maximum'),
          { Id: 'math', Expression: 'invocations * 2' },
        ],
      }),
    );

    const byId = Object.fromEntries((out.MetricDataResults ?? []).map((r) => [r.Id, r]));
    const value = (id: string) => byId[id]?.Values?.[0];
    expect(value('invocations')).toBe(3);
    expect(value('durations')).toBe(3);
    expect(value('p99')).toBeGreaterThan(0);
    expect(value('errors')).toBe(1);
    expect(value('echoErrors')).toBe(0);
    expect(value('throttles')).toBe(0);
    expect(value('requests')).toBe(5);
    expect(value('clientErrors')).toBe(1);
    expect(value('serverErrors')).toBe(1);
    expect(value('itemRequests')).toBe(3);
    expect(value('throwErrors')).toBe(1);
    expect(value('latency')).toBeGreaterThan(0);
    expect(byId.invocations).toMatchObject({ Label: 'Invocations', StatusCode: 'Complete' });
    // One period, starting at StartTime rounded down to the minute.
    const periodStart = Math.floor(startTime.getTime() / 60_000) * 60_000;
    expect(byId.invocations!.Timestamps).toEqual([new Date(periodStart)]);
    expect(byId.math).toMatchObject({ StatusCode: 'InternalError', Values: [] });
    expect(byId.math!.Messages?.[0]?.Code).toBe('UnsupportedExpression');

    const bad = client.send(
      new GetMetricDataCommand({
        StartTime: startTime,
        EndTime: new Date(),
        MetricDataQueries: [
          {
            ...metric('q', 'AWS/Lambda', 'Errors', echo, 'Sum'),
            MetricStat: { ...metric('q', 'AWS/Lambda', 'Errors', echo, 'Sum').MetricStat!, Period: 90 },
          },
        ],
      }),
    );
    await expect(bad).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(bad).rejects.toThrow(/MetricDataQueries\.member\.1\.MetricStat\.Period/);

    const denied = cloudWatchAs('bystander').send(
      new GetMetricDataCommand({
        StartTime: startTime,
        EndTime: new Date(),
        MetricDataQueries: [metric('q', 'AWS/Lambda', 'Errors', echo, 'Sum')],
      }),
    );
    await expect(denied).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    await expect(denied).rejects.toThrow(/cloudwatch:GetMetricData on resource: \*/);
    client.destroy();
  });
});

describe('local Lambda: Invoke', () => {
  it("invokes the live alias by name, ARN or partial ARN with the caller's grants, and answers the result", async () => {
    const env = rt.environmentOf('coordinator');
    expect(env.AWS_ENDPOINT_URL_LAMBDA).toBe(rt.lambdaEndpoint);
    expect(env.AWS_ENDPOINT_URL_CLOUDWATCH).toBe(rt.cloudWatchEndpoint);
    expect(rt.topology.endpoints).toMatchObject({
      AWS_ENDPOINT_URL_LAMBDA: rt.lambdaEndpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH: rt.cloudWatchEndpoint,
    });
    // The aliases, as in AWS, where a release moves them from version to version.
    expect(JSON.parse(env.MANAGER_FUNCTIONS!)).toEqual({
      alpha: 'lambda-test-echo:live',
      beta: 'lambda-test-coordinator:live',
    });
    const client = lambdaAs('coordinator');

    for (const [FunctionName, Qualifier] of [
      ['lambda-test-echo:live', undefined],
      ['lambda-test-echo', 'live'],
      [`${arnOf('lambda-test-echo')}:live`, undefined],
      ['000000000000:function:lambda-test-echo:live', undefined],
    ] as const) {
      const out = await client.send(
        new InvokeCommand({ FunctionName, Qualifier, Payload: json({ op: 'describe' }) }),
      );
      expect(out).toMatchObject({ StatusCode: 200, ExecutedVersion: '$LATEST' });
      expect(out.FunctionError).toBeUndefined();
      const result = parsed(out.Payload);
      expect(result.event).toEqual({ op: 'describe' });
      expect(result.context.functionName).toBe('lambda-test-echo');
    }
    client.destroy();
  });

  it("answers a handler's error or timeout as Lambda does: 200, X-Amz-Function-Error, the error document", async () => {
    const client = lambdaAs();
    const failed = await client.send(
      new InvokeCommand({ FunctionName: 'lambda-test-throws', Payload: json({}) }),
    );
    expect(failed).toMatchObject({ StatusCode: 200, FunctionError: 'Unhandled' });
    const doc = parsed(failed.Payload);
    expect(doc).toMatchObject({
      errorType: 'Error',
      errorMessage: 'secret database password in a stack trace',
    });
    expect(doc.trace[0]).toBe('Error: secret database password in a stack trace');

    const late = await client.send(new InvokeCommand({ FunctionName: 'lambda-test-sleeps' }));
    expect(late).toMatchObject({ StatusCode: 200, FunctionError: 'Unhandled' });
    expect(parsed(late.Payload)).toEqual({
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out after 1.00 seconds',
    });
    client.destroy();
  });

  it('runs an Event invocation in the background (202); DryRun only checks the permission (204)', async () => {
    const cloudWatch = cloudWatchAs();
    const invocations = async () => {
      const out = await cloudWatch.send(
        new GetMetricDataCommand({
          StartTime: new Date(Date.now() - 10 * 60_000),
          EndTime: new Date(Date.now() + 60_000),
          MetricDataQueries: [
            metric('n', 'AWS/Lambda', 'Invocations', { FunctionName: 'lambda-test-bystander' }, 'Sum'),
          ],
        }),
      );
      return out.MetricDataResults?.[0]?.Values?.[0] ?? 0;
    };
    const client = lambdaAs();
    const dry = await client.send(
      new InvokeCommand({ FunctionName: 'lambda-test-bystander', InvocationType: 'DryRun' }),
    );
    expect(dry.StatusCode).toBe(204);
    expect(await invocations()).toBe(0);

    const queued = await client.send(
      new InvokeCommand({
        FunctionName: 'lambda-test-bystander',
        InvocationType: 'Event',
        Payload: json({ a: 1 }),
      }),
    );
    expect(queued.StatusCode).toBe(202);
    await waitFor(async () => (await invocations()) === 1, 'the Event invocation');

    await expect(
      lambdaAs('bystander').send(
        new InvokeCommand({ FunctionName: 'lambda-test-echo', InvocationType: 'DryRun' }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    client.destroy();
    cloudWatch.destroy();
  });

  it("manager:<id>:invoke grants that one manager's contract function, by its alias", async () => {
    const caller = lambdaAs('alphaCaller');
    const answer = await caller.send(
      new InvokeCommand({ FunctionName: 'lambda-test-echo:live', Payload: json({ call: 'describe' }) }),
    );
    expect(answer.StatusCode).toBe(200);
    expect(JSON.parse(rt.environmentOf('alphaCaller').MANAGER_FUNCTIONS!)).toEqual({
      alpha: 'lambda-test-echo:live',
    });
    // beta's contract function, and alpha's own capability functions, are not granted.
    for (const name of ['lambda-test-coordinator:live', 'lambda-test-throws:live', 'lambda-test-echo']) {
      await expect(caller.send(new InvokeCommand({ FunctionName: name }))).rejects.toThrow(
        `is not authorized to perform: lambda:InvokeFunction on resource: ${arnOf(name)}`,
      );
    }
    caller.destroy();
  });

  it("refuses with Lambda's errors: not granted, no such function, a bad name or payload, a forged signature", async () => {
    const coordinator = lambdaAs('coordinator');
    // managers:invoke grants the managers' contract functions, not the functions they own.
    const notGranted = coordinator.send(new InvokeCommand({ FunctionName: 'lambda-test-throws:live' }));
    await expect(notGranted).rejects.toMatchObject({
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(notGranted).rejects.toThrow(
      `is not authorized to perform: lambda:InvokeFunction on resource: ${arnOf('lambda-test-throws')}:live`,
    );
    // Only through the alias: the unqualified function would bypass a release's traffic shift.
    await expect(coordinator.send(new InvokeCommand({ FunctionName: 'lambda-test-echo' }))).rejects.toThrow(
      `is not authorized to perform: lambda:InvokeFunction on resource: ${arnOf('lambda-test-echo')}`,
    );
    const admin = lambdaAs();
    const missing = admin.send(new InvokeCommand({ FunctionName: 'lambda-test-nope' }));
    await expect(missing).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(missing).rejects.toThrow(`Function not found: ${arnOf('lambda-test-nope')}`);
    await expect(
      admin.send(new InvokeCommand({ FunctionName: 'lambda-test-echo:prod' })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await expect(admin.send(new InvokeCommand({ FunctionName: 'not/a/name' }))).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(
      admin.send(
        new InvokeCommand({ FunctionName: 'lambda-test-echo', Payload: new TextEncoder().encode('{nope') }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidRequestContentException', $metadata: { httpStatusCode: 400 } });
    const forged = new LambdaClient({
      region: rt.region,
      endpoint: rt.lambdaEndpoint,
      credentials: {
        accessKeyId: credentialsOf('coordinator').accessKeyId,
        secretAccessKey: 'not-its-secret',
      },
    });
    await expect(forged.send(new InvokeCommand({ FunctionName: 'lambda-test-echo' }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      $metadata: { httpStatusCode: 403 },
    });
    for (const client of [coordinator, admin, forged]) client.destroy();
  });
});

describe('local Lambda: event source mappings', () => {
  it("describes each consumed queue's mapping, to the functions that control its manager", async () => {
    const uuid = rt.eventSourceMappings.work!;
    expect(uuid).toMatch(UUID);
    expect(uuid).toBe(eventSourceMappingUuid('lambda-test', 'work'));
    // Only managers that can be stopped have their mappings controlled.
    expect(JSON.parse(rt.environmentOf('coordinator').MANAGER_EVENT_SOURCES!)).toEqual({ alpha: [uuid] });
    const client = lambdaAs('coordinator');

    const mapping = await client.send(new GetEventSourceMappingCommand({ UUID: uuid }));
    expect(mapping).toMatchObject({
      UUID: uuid,
      EventSourceMappingArn: `arn:aws:lambda:${rt.region}:000000000000:event-source-mapping:${uuid}`,
      EventSourceArn: `arn:aws:sqs:${rt.region}:000000000000:lambda-test-work`,
      FunctionArn: `${arnOf('lambda-test-worker')}:live`,
      State: 'Enabled',
      StateTransitionReason: 'USER_INITIATED',
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 0,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    expect(mapping.LastModified).toBeInstanceOf(Date);

    await expect(
      client.send(new GetEventSourceMappingCommand({ UUID: rt.eventSourceMappings.other! })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(
      client.send(new UpdateEventSourceMappingCommand({ UUID: uuid, BatchSize: 1 })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
      message: expect.stringMatching(/^BatchSize/),
    });
    await expect(
      lambdaAs().send(new GetEventSourceMappingCommand({ UUID: '00000000-0000-4000-8000-000000000000' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } });
    client.destroy();
  });

  it('a disabled mapping leaves messages (and parked events) in the queue, across a restart; enabling processes them', async () => {
    const uuid = rt.eventSourceMappings.work!;
    const state = async () => {
      const client = lambdaAs('coordinator');
      const out = await client.send(new GetEventSourceMappingCommand({ UUID: uuid }));
      client.destroy();
      return out.State;
    };
    const client = lambdaAs('coordinator');
    const disabled = await client.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
    expect(disabled.$metadata.httpStatusCode).toBe(202);
    expect(['Disabling', 'Disabled']).toContain(disabled.State);
    client.destroy();
    // The poller has acknowledged: it receives no more.
    await waitFor(async () => (await state()) === 'Disabled', 'the mapping to be Disabled');

    // A rule targeting the queue delivers the EventBridge event as the message body.
    const put = await rt.bus.putEvents([
      { Source: LAMBDA_TEST_SOURCE, DetailType: 'Parked', Detail: '{"n":1}', EventBusName: rt.busName },
    ]);
    await waitFor(async () => (await queueCounts(rt, 'work')).visible === 1, 'the parked event');
    const reader = sqs();
    const [parked] =
      (
        await reader.send(
          new ReceiveMessageCommand({ QueueUrl: rt.queueUrls.work!.url, MaxNumberOfMessages: 10 }),
        )
      ).Messages ?? [];
    expect(JSON.parse(parked!.Body!)).toEqual({
      version: '0',
      id: put.Entries[0]!.EventId,
      'detail-type': 'Parked',
      source: LAMBDA_TEST_SOURCE,
      account: '000000000000',
      time: expect.any(String),
      region: rt.region,
      resources: [],
      detail: { n: 1 },
    });
    await reader.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: rt.queueUrls.work!.url,
        ReceiptHandle: parked!.ReceiptHandle!,
        VisibilityTimeout: 0,
      }),
    );
    reader.destroy();
    await send('work', ['a', 'b']);
    expect(await queueCounts(rt, 'work')).toEqual({ visible: 3, hidden: 0 });

    await rt.stop();
    const saved = JSON.parse(await readFile(join(dataDir, 'lambda', 'event-source-mappings.json'), 'utf8'));
    expect(saved[uuid]).toMatchObject({ queue: 'work', enabled: false });
    rt = await start();
    expect(rt.eventSourceMappings.work).toBe(uuid);
    // Acknowledged by the new poller at its start.
    expect(await state()).toBe('Disabled');
    // The three messages are still there (the local SQS keeps its queues), and more arrive.
    expect(await queueCounts(rt, 'work')).toEqual({ visible: 3, hidden: 0 });
    await send('work', ['c', 'd']);
    // The pollers run: the other queue's message is received and processed meanwhile.
    await send('other', ['x']);
    await waitFor(async () => {
      const { visible, hidden } = await queueCounts(rt, 'other');
      return visible + hidden === 0;
    }, 'the other queue to be drained');
    expect(await queueCounts(rt, 'work')).toEqual({ visible: 5, hidden: 0 });

    const enabler = lambdaAs('coordinator');
    const enabled = await enabler.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: true }));
    expect(['Enabling', 'Enabled']).toContain(enabled.State);
    enabler.destroy();
    await waitFor(async () => {
      const { visible, hidden } = await queueCounts(rt, 'work');
      return visible + hidden === 0;
    }, 'the work queue to be drained');
    expect(await state()).toBe('Enabled');
    expect(existsSync(join(dataDir, 'lambda', 'event-source-mappings.json'))).toBe(true);
  });
});

describe('the manifest check', () => {
  it('refuses a rule targeting an undeclared queue and a manager naming an undeclared function', async () => {
    const options = { dataDir: join(dataDir, 'never-started'), port: 0, quiet: true };
    const strayRule = {
      ...lambdaManifest,
      rules: { lost: { description: 'x', pattern: { source: ['x'] }, queue: 'nowhere' } },
    };
    await expect(startLocalRuntime({ ...options, manifest: strayRule })).rejects.toThrow(
      'rule lost: queue "nowhere" is not declared in the manifest',
    );
    const strayManager = {
      ...lambdaManifest,
      managers: { alpha: { ...lambdaManifest.managers!.alpha!, functions: ['ghost'] } },
    };
    await expect(startLocalRuntime({ ...options, manifest: strayManager })).rejects.toThrow(
      'manager alpha: function "ghost" is not declared in the manifest',
    );
  });
});
