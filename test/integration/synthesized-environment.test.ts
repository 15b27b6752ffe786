import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, manifest } from '#infra/manifest.ts';
import { type LocalRuntime, type RuntimeTopology, startLocalRuntime } from '#local/runtime.ts';
import { logicalIdOf, synthPlatform } from '../infra/support.ts';
import { apiCaller, migrationFinished, s3ClientOf, tokenFor } from './support.ts';

/**
 * The test that catches a function deployed without a variable or a grant it needs: every
 * manifest function gets locally exactly the variable names of its synthesized CloudFormation
 * template (local endpoint settings aside), then each is invoked on its happy path. A function
 * whose code needs a variable or permission its declaration does not give fails here, as it
 * would in AWS.
 */

const functionNames = Object.keys(manifest.functions) as FunctionName[];

/** Each function's environment variable names in the synthesized stateless stack. */
function synthesizedNames(context: Record<string, string>): Record<string, string[]> {
  const s = synthPlatform({ context });
  const resources = s.statelessTemplate.toJSON().Resources;
  return Object.fromEntries(
    functionNames.map((name) => {
      const fn = s.stateless.functions[name];
      if (!fn) throw new Error(`${name} is not in the synthesized stack`);
      const variables = resources[logicalIdOf(fn.fn)].Properties.Environment.Variables;
      return [name, Object.keys(variables).sort()];
    }),
  );
}

async function withRuntime<T>(
  env: Record<string, string>,
  use: (rt: LocalRuntime) => Promise<T>,
): Promise<T> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vp-synth-env-'));
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const rt = await startLocalRuntime({ dataDir, port: 0, quiet: true });
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await use(rt);
  } finally {
    await rt.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The same settings as a stage's CDK context and as the `npm start` environment. */
const settingsCases: Array<{ name: string; context: Record<string, string>; env: Record<string, string> }> = [
  { name: 'the local embedder', context: { embedder: 'local' }, env: { EMBEDDER: 'local' } },
  { name: 'the openai embedder', context: { embedder: 'openai' }, env: { EMBEDDER: 'openai' } },
  {
    name: 'every embedder setting',
    context: {
      embedder: 'openai',
      embeddingModel: 'text-embedding-3-large',
      embeddingDimensions: '256',
      openaiBaseUrl: 'https://llm.example/v1',
      defaultCollection: 'notes',
    },
    env: {
      EMBEDDER: 'openai',
      EMBEDDING_MODEL: 'text-embedding-3-large',
      EMBEDDING_DIMENSIONS: '256',
      OPENAI_BASE_URL: 'https://llm.example/v1',
      DEFAULT_COLLECTION: 'notes',
    },
  },
];

/**
 * Each case synthesizes the CDK app or drives every function once, which grows with the manifest
 * (about 7 s a case on an idle 2-core machine): a generous bound, so that a busy machine is not a
 * failure. Timing is not what these tests check.
 */
const CASE_TIMEOUT_MS = 120_000;

describe('each function has locally the variable names of its synthesized template', {
  timeout: CASE_TIMEOUT_MS,
}, () => {
  for (const { name, context, env } of settingsCases) {
    it(`with ${name}; runtime.json says so`, async () => {
      const synthesized = synthesizedNames(context);
      await withRuntime(env, async (rt) => {
        const written = JSON.parse(
          await readFile(join(rt.dataDir, 'runtime.json'), 'utf8'),
        ) as RuntimeTopology;
        for (const name of functionNames) {
          expect(rt.topology.functions[name]?.environment, name).toEqual(synthesized[name]);
          expect(written.functions[name]?.environment, name).toEqual(synthesized[name]);
          // What the function is actually given: its declared names, the Lambda runtime's, the local endpoints'.
          const given = Object.keys(rt.environmentOf(name));
          const local = rt.topology.functions[name]?.localEnvironment ?? [];
          const lambda = given.filter((v) => v.startsWith('AWS_') && !v.startsWith('AWS_ENDPOINT_URL_'));
          expect(given.filter((v) => !local.includes(v) && !lambda.includes(v)).sort(), name).toEqual(
            synthesized[name],
          );
        }
        // Names only: no value of any variable is written.
        expect(JSON.stringify(written)).not.toContain(rt.environmentOf('health').AWS_SECRET_ACCESS_KEY);
      });
    });
  }
});

/** The function the manifest routes a request to (a literal route wins over a parameter, as in API Gateway). */
function routedFunction(method: string, path: string): string | undefined {
  const target = `/api/v1${path.split('?')[0]}`;
  const matching = manifest.routes.filter(
    (r) => r.method === method && new RegExp(`^${r.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(target),
  );
  matching.sort((a, b) => a.path.split('{').length - b.path.split('{').length);
  return matching[0]?.function;
}

/** What an EventBridge schedule rule sends its target. */
/** What a queue's event source mapping hands its consumer: one message, `body` as JSON. */
function sqsEvent(body: unknown, messageId: string, queue = 'q') {
  return {
    Records: [
      {
        messageId,
        receiptHandle: 'r',
        body: JSON.stringify(body),
        attributes: { ApproximateReceiveCount: '1' },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${queue}`,
        awsRegion: 'us-east-1',
      },
    ],
  };
}

function scheduledEvent() {
  return {
    version: '0',
    id: '0b3b9bd5-4f19-4a3e-8d4e-1c1a7e3f0c11',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/stalledMigrations'],
    detail: {},
  };
}

describe('every function serves its happy path with that environment', { timeout: CASE_TIMEOUT_MS }, () => {
  let dataDir: string;
  let rt: LocalRuntime;
  const call = apiCaller(
    () => `${rt.apiUrl}/api/v1`,
    tokenFor(() => rt),
  );
  const served = new Set<string>();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-happy-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true });
  });
  afterAll(async () => {
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
    // A function added to the manifest must be given a happy path here.
    expect([...served].sort()).toEqual([...functionNames].sort());
  });

  /** Calls a route and checks the answer is a 2xx from the function the manifest routes it to. */
  const ok = async (fn: FunctionName, method: string, path: string, body?: unknown) => {
    const res = await call(method, path, body);
    expect(res.status, `${fn}: ${method} ${path} → ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(200);
    expect(res.status, `${fn}: ${method} ${path} → ${JSON.stringify(res.body)}`).toBeLessThan(300);
    expect(routedFunction(method, path), `${method} ${path}`).toBe(fn);
    served.add(fn);
    return res.body;
  };

  it('platform and vectors', async () => {
    await ok('health', 'GET', '/health');
    // No route takes it: the default route's function answers in the API's error shape.
    expect(await call('GET', '/nowhere')).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND' } },
    });
    expect(await call('PATCH', '/plans')).toMatchObject({
      status: 405,
      body: { error: { code: 'METHOD_NOT_ALLOWED' } },
    });
    served.add('unrouted');
    expect(await ok('version', 'GET', '/version')).toMatchObject({
      service: manifest.service,
      stage: 'local',
    });
    expect(await ok('status', 'GET', '/status')).toMatchObject({ status: 'ok' });
    await ok('createCollection', 'POST', '/vectors/collections', { name: 'notes' });
    await ok('listCollections', 'GET', '/vectors/collections');
    await ok('getCollection', 'GET', '/vectors/collections/notes');
    await ok('upsert', 'POST', '/vectors/upsert', {
      collection: 'notes',
      points: [{ id: 'a', text: 'configure the smtp relay' }],
    });
    await ok('search', 'POST', '/vectors/search', { collection: 'notes', text: 'smtp relay', limit: 1 });
    await ok('batch', 'POST', '/vectors/batch', {
      collection: 'notes',
      operations: [{ type: 'search', text: 'relay', limit: 1 }],
    });
    await ok('getPoint', 'GET', '/vectors/a?collection=notes');
    await ok('deletePoints', 'POST', '/vectors/delete', { collection: 'notes', ids: ['a'] });
    await ok('deleteCollection', 'DELETE', '/vectors/collections/notes');
  });

  it('the OpenAPI document and its page', async () => {
    const doc = await ok('openapi', 'GET', '/openapi.json');
    expect(doc).toMatchObject({ openapi: '3.1.0' });
    // Not JSON: fetched as is, with no token (public routes).
    for (const [path, type] of [
      ['/docs', 'text/html; charset=utf-8'],
      ['/docs/swagger-ui-bundle.js', 'application/javascript; charset=utf-8'],
      ['/docs/swagger-ui.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await fetch(`${rt.apiUrl}/api/v1${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect((await res.text()).length, path).toBeGreaterThan(100);
      expect(routedFunction('GET', path), path).toBe('docs');
    }
    served.add('docs');
  });

  it('backups and restores', async () => {
    // The schedule asks for a backup once per `everyHours` (the runtime's catch-up run may have).
    const scheduled = (await rt.invoke('scheduledBackups', scheduledEvent())) as Record<string, unknown>;
    expect(
      scheduled.skipped === 'not-due' || typeof scheduled.backupId === 'string',
      JSON.stringify(scheduled),
    ).toBe(true);
    served.add('scheduledBackups');
    await ok('createCollection', 'POST', '/vectors/collections', { name: 'kept', vectorSize: 3 });
    await ok('upsert', 'POST', '/vectors/upsert', {
      collection: 'kept',
      points: [{ id: 1, vector: [1, 0, 0], payload: { a: 1 } }],
    });
    const action = (name: string, input: unknown) =>
      ok('managersApi', 'POST', `/managers/backup/actions/${name}`, input);
    const asked = (await action('backup', { collections: ['kept'] })).result.backup as { id: string };
    // The worker run directly with its message (the queue's own delivery finds it done).
    const message = (body: unknown) => sqsEvent(body, 'm-backup', 'backups');
    expect(await rt.invoke('backupWorker', message({ kind: 'backup', backupId: asked.id }))).toEqual({
      batchItemFailures: [],
    });
    served.add('backupWorker');
    const backup = (await action('get', { id: asked.id })).result.backup;
    expect(backup).toMatchObject({ status: 'completed', collections: [{ name: 'kept', points: 1 }] });
    const restore = (
      await action('restore', { backupId: asked.id, collection: 'kept', target: 'kept_again' })
    ).result.restore as { id: string };
    expect(await rt.invoke('backupWorker', message({ kind: 'restore', restoreId: restore.id }))).toEqual({
      batchItemFailures: [],
    });
    expect((await action('get', { id: restore.id })).result.restore).toMatchObject({
      jobId: expect.any(String),
    });
  });

  it('plans and tasks', async () => {
    const plan = '# Plan\n\n## Phase 1\n\n- [x] 1.1 Write the parser\n- [ ] 1.2 Index the tasks\n';
    await ok('indexPlan', 'POST', '/plans', { planId: 'p.md', markdown: plan });
    await ok('listPlans', 'GET', '/plans');
    await ok('getPlan', 'GET', '/plans/p.md');
    await ok('planProgress', 'GET', '/plans/p.md/progress');
    await ok('searchTasks', 'POST', '/tasks/search', { text: 'index tasks', limit: 2 });
    await ok('deletePlan', 'DELETE', '/plans/p.md');
  });

  it('migrations: upload, workers, list, get, rollback, redrive, create', async () => {
    const lines = Array.from({ length: 20 }, (_, i) =>
      JSON.stringify({ id: `t-${i}`, vector: [i + 1, 1, 0, 0], payload: { i } }),
    );
    await s3ClientOf(rt).send(
      new PutObjectCommand({ Bucket: rt.bucket, Key: 'exports/happy.jsonl', Body: lines.join('\n') }),
    );
    await rt.notificationsSettled();
    served.add('migrationUpload');
    const { migrations } = await ok('listMigrations', 'GET', '/migrations');
    const id = migrations[0].id as string;
    const job = await migrationFinished(
      apiCaller(
        () => rt.apiUrl,
        tokenFor(() => rt),
      ),
      id,
    );
    expect(job.status).toBe('completed');
    served.add('migrationWorker');
    await ok('getMigration', 'GET', `/migrations/${id}`);
    // A completed job has nothing to redrive: the function read it and says so.
    const redrive = await call('POST', `/migrations/${id}/redrive`);
    expect(redrive).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    served.add('redriveMigration');
    // A second migration into the same alias, started by the API, then rolled back to the first.
    await s3ClientOf(rt).send(
      new PutObjectCommand({
        Bucket: rt.bucket,
        Key: 'staging/happy-v2.jsonl',
        Body: lines.slice(5).join('\n'),
      }),
    );
    const second = await ok('createMigration', 'POST', '/migrations', {
      key: 'staging/happy-v2.jsonl',
      collection: 'happy',
    });
    expect(
      (
        await migrationFinished(
          apiCaller(
            () => rt.apiUrl,
            tokenFor(() => rt),
          ),
          second.id,
        )
      ).status,
    ).toBe('completed');
    await ok('rollbackMigration', 'POST', `/migrations/${second.id}/rollback`);
    // Scheduled: nothing is stalled.
    expect(await rt.invoke('resumeStalledMigrations', scheduledEvent())).toEqual({
      resumed: [],
      inProgress: 0,
    });
    served.add('resumeStalledMigrations');
  });

  it('dependencies: index two projects, list, report their conflict, delete, upload a third', async () => {
    const manifestOf = (project: string, range: string) => ({
      project,
      files: [{ name: 'package.json', content: JSON.stringify({ dependencies: { lodash: range } }) }],
    });
    await ok('dependencyManifests', 'POST', '/dependencies', manifestOf('one', '^4.17.21'));
    expect(
      (await ok('dependencyManifests', 'POST', '/dependencies', manifestOf('two', '^3.10.1'))).conflicts,
    ).toBe(1);
    expect((await ok('dependencyManifests', 'GET', '/dependencies')).projects).toHaveLength(2);
    expect(
      (await ok('dependencyManifests', 'GET', '/dependencies/report?project=one')).conflicts,
    ).toHaveLength(1);
    await ok('dependencyManifests', 'DELETE', '/dependencies/two');
    // An uploaded manifest, through the bucket notification (reads the object with exports:read).
    await s3ClientOf(rt).send(
      new PutObjectCommand({ Bucket: rt.bucket, Key: 'dependencies/three/go.mod', Body: 'module m\n' }),
    );
    await rt.notificationsSettled();
    served.add('dependencyUploads');
    const { projects } = await ok('dependencyManifests', 'GET', '/dependencies');
    expect(projects.map((p: { project: string }) => p.project)).toEqual(['one', 'three']);
  });

  it('templates: create, list, read, replace, suggest, render, instantiate through the roadmap, delete', async () => {
    const template = {
      kind: 'plan',
      title: 'Service launch',
      description: 'Launch checklist for a new service',
      tags: ['launch'],
      body: '# {{service}}\n\n## Launch\n- [ ] Deploy {{service}}\n- [ ] Announce {{service}}\n',
      variables: [{ name: 'service', required: true }],
    };
    await ok('templates', 'POST', '/templates', { id: 'service-launch', ...template });
    expect((await ok('templates', 'GET', '/templates')).templates).toHaveLength(1);
    expect((await ok('templates', 'GET', '/templates/service-launch')).template.version).toBe(1);
    await ok('templates', 'PUT', '/templates/service-launch', { ...template, title: 'Service launch (v2)' });
    const { templates } = await ok('templates', 'POST', '/templates/suggest', {
      description: 'launch a service',
    });
    expect(templates[0].id).toBe('service-launch');
    expect(
      (await ok('templates', 'POST', '/templates/service-launch/render', { variables: { service: 'api' } }))
        .markdown,
    ).toContain('- [ ] Deploy api');
    // manager:roadmap:invoke: the roadmap's contract function indexes the rendered plan.
    const instantiated = await ok('templates', 'POST', '/templates/service-launch/instantiate', {
      planId: 'plans/api-launch.md',
      variables: { service: 'api' },
    });
    expect(instantiated.plan.tasks.total).toBe(2);
    expect((await ok('listPlans', 'GET', '/plans')).plans.map((p: { planId: string }) => p.planId)).toContain(
      'plans/api-launch.md',
    );
    await ok('templates', 'DELETE', '/templates/service-launch');
  });

  it('workflows: create, list, read, replace, run through a manager, executions, stop, status events, delete', async () => {
    const definition = {
      StartAt: 'Reindex',
      States: {
        Reindex: { Type: 'Task', Resource: 'manager:templates:reindex', Parameters: {}, Next: 'Hold' },
        Hold: { Type: 'Wait', Seconds: 600, End: true },
      },
    };
    const { workflow } = await ok('workflows', 'POST', '/workflows', { name: 'happy', definition });
    expect((await ok('workflows', 'GET', '/workflows')).workflows.map((w: { id: string }) => w.id)).toContain(
      workflow.id,
    );
    await ok('workflows', 'GET', `/workflows/${workflow.id}`);
    await ok('workflows', 'PUT', `/workflows/${workflow.id}`, {
      name: 'happy',
      description: 'v2',
      definition,
    });
    const { execution } = await ok('workflows', 'POST', `/workflows/${workflow.id}/execute`, { input: {} });
    // Its task ran in the templates manager (as the workflow's role), then it waits.
    for (;;) {
      const view = (await ok('workflows', 'GET', `/executions/${execution.executionId}`)).execution;
      if (view.states.some((state: { name: string }) => state.name === 'Hold')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await ok('workflows', 'GET', '/executions?status=RUNNING')).executions).toHaveLength(1);
    await ok('workflows', 'GET', `/workflows/${workflow.id}/executions`);
    const stopped = await ok('workflows', 'POST', `/executions/${execution.executionId}/stop`, {});
    expect(stopped.execution.status).toBe('ABORTED');
    // Step Functions' status changes reach workflowStatus (state:read, bus:put), which publishes.
    for (;;) {
      const { events } = await ok('listEvents', 'GET', '/events?type=WorkflowExecutionAborted&limit=5');
      if (events.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    served.add('workflowStatus');
    await ok('workflows', 'DELETE', `/workflows/${workflow.id}`);
  });

  it('the access log: a 401 reaches apiAccessLog, which publishes ApiAccessDenied (bus:put)', async () => {
    const refused = await fetch(`${rt.apiUrl}/api/v1/plans`, { headers: { 'user-agent': 'happy-path-401' } });
    expect(refused.status).toBe(401);
    // The subscription's delivery, then the event's to recordEvent: a failed publish never arrives.
    await rt.accessLogSettled();
    await rt.bus.settled();
    served.add('apiAccessLog');
    const { events } = await ok('listEvents', 'GET', '/events?type=ApiAccessDenied');
    expect(events.map((e: { detail: { userAgents: string[] } }) => e.detail.userAgents)).toContainEqual([
      'happy-path-401',
    ]);
  });

  it('security: the auditor records an audited event and counts a refusal, the audit answers it', async () => {
    const delivered = (id: string, type: string, detail: Record<string, unknown>) =>
      sqsEvent(
        {
          version: '0',
          id,
          'detail-type': type,
          source: manifest.eventSource,
          account: '000000000000',
          time: new Date().toISOString(),
          region: 'us-east-1',
          resources: [],
          detail: { schemaVersion: 1, ...detail },
        },
        id,
        'securityEvents',
      );
    const now = new Date().toISOString();
    expect(
      await rt.invoke(
        'securityAuditor',
        delivered('c0ffee00-0000-4000-8000-0000000000b1', 'CollectionDeleted', {
          collection: 'gone',
          actor: { id: 'happy', role: 'admin' },
        }),
      ),
    ).toEqual({ batchItemFailures: [] });
    expect(
      await rt.invoke(
        'securityAuditor',
        delivered('c0ffee00-0000-4000-8000-0000000000b2', 'ApiAccessDenied', {
          ip: '192.0.2.1',
          status: 401,
          count: 1000,
          firstAt: now,
          lastAt: now,
          routes: ['GET /api/v1/plans'],
          sampleRequestIds: ['r'],
          userAgents: [],
        }),
      ),
    ).toEqual({ batchItemFailures: [] });
    served.add('securityAuditor');
    const { entries } = await ok('securityAudit', 'GET', '/security/audit?actor=happy');
    expect(entries.map((e: { kind: string }) => e.kind)).toEqual(['collection-deleted']);
    const bursts = await ok('securityAudit', 'GET', '/security/audit?kind=access-denied-burst');
    expect(bursts.entries.map((e: { sourceIp: string }) => e.sourceIp)).toContain('192.0.2.1');
    // users:read: the user pool (locally, the people given tokens: this caller at least), with roles.
    const { users } = await ok('securityAudit', 'GET', '/security/users');
    expect(users).toContainEqual(expect.objectContaining({ username: 'local-admin', roles: ['admin'] }));
  });

  it('errors: a failure event catalogued from its queue, dead letters peeked on schedule, list, get, similar', async () => {
    const failed = {
      version: '0',
      id: 'c0ffee00-0000-4000-8000-0000000000e1',
      'detail-type': 'MigrationFailed',
      source: manifest.eventSource,
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: [],
      detail: {
        schemaVersion: 1,
        jobId: 'j-1',
        key: 'exports/x.json',
        target: 'x',
        collection: 'x__1',
        dryRun: false,
        reportKey: 'reports/j-1.json',
        records: 0,
        written: 0,
        rejected: 0,
        reason: 'the export is empty',
      },
    };
    const fromQueue = sqsEvent(failed, 'm-errors');
    expect(await rt.invoke('errorIntake', fromQueue)).toEqual({ batchItemFailures: [] });
    // Scheduled: every queue's dead letters read (none here), with the intake's own grants.
    expect(await rt.invoke('errorIntake', scheduledEvent())).toEqual({});
    served.add('errorIntake');
    const { errors } = await ok('errorCatalogue', 'GET', '/errors?code=MigrationFailed');
    expect(errors).toEqual([expect.objectContaining({ message: 'the export is empty', count: 1 })]);
    await ok('errorCatalogue', 'GET', `/errors/${errors[0].fingerprint}`);
    await ok('errorCatalogue', 'GET', `/errors/${errors[0].fingerprint}/similar`);
  });

  it('the event log: the rule delivers every event to recordEvent, listEvents answers them', async () => {
    // The migrations above published; the rule's deliveries are asynchronous.
    await rt.bus.settled();
    const { events } = await ok('listEvents', 'GET', '/events?type=MigrationRolledBack');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ source: manifest.eventSource, type: 'MigrationRolledBack' });
    served.add('recordEvent');
  });
  it('notifications: subscriptions, the matcher and the delivery (a signed webhook to a loopback receiver)', async () => {
    const received: string[] = [];
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push(String(req.headers['x-vp-signature']));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const { subscription } = await ok('notificationSubscriptions', 'POST', '/notifications/subscriptions', {
        name: 'happy',
        pattern: { 'detail-type': ['PlanIndexed'] },
        channel: { type: 'webhook', url },
      });
      await ok('notificationSubscriptions', 'GET', '/notifications/subscriptions');
      await ok('notificationSubscriptions', 'GET', `/notifications/subscriptions/${subscription.id}`);
      await ok('notificationSubscriptions', 'PUT', `/notifications/subscriptions/${subscription.id}`, {
        name: 'happy, renamed',
        pattern: { 'detail-type': ['PlanIndexed'] },
        channel: { type: 'webhook', url },
      });
      // The matcher and the delivery, each invoked with what its queue hands it.
      const indexed = {
        version: '0',
        id: 'c0ffee00-0000-4000-8000-0000000000aa',
        'detail-type': 'PlanIndexed',
        source: manifest.eventSource,
        account: '000000000000',
        time: new Date().toISOString(),
        region: 'us-east-1',
        resources: [],
        detail: {
          schemaVersion: 1,
          planId: 'p.md',
          tasks: 1,
          added: 1,
          updated: 0,
          removed: 0,
          unchanged: 0,
        },
      };
      expect(await rt.invoke('notificationMatcher', sqsEvent(indexed, 'm-1'))).toEqual({
        batchItemFailures: [],
      });
      served.add('notificationMatcher');
      const [delivery] = (
        await ok(
          'notificationSubscriptions',
          'GET',
          `/notifications/deliveries?subscriptionId=${subscription.id}`,
        )
      ).deliveries;
      expect(
        await rt.invoke(
          'notificationDelivery',
          sqsEvent({ deliveryId: delivery.id, subscriptionId: subscription.id, event: indexed }, 'm-1'),
        ),
      ).toEqual({ batchItemFailures: [] });
      expect(received[0]).toMatch(/^sha256=[0-9a-f]{64}$/);
      served.add('notificationDelivery');
      // The security manager rotates its secret (webhook-secrets:read and :write): the next
      // delivery is signed with the new and the previous secret.
      const rotate = await ok('managersApi', 'POST', '/managers/security/actions/rotate-webhook-secrets', {
        subscriptionId: subscription.id,
      });
      const secret = await ok('managersApi', 'POST', '/managers/security/actions/webhook-secret', {
        subscriptionId: subscription.id,
      });
      expect(secret.result.secret).toBe(rotate.result.rotated[0].secret);
      expect(
        await rt.invoke(
          'notificationDelivery',
          sqsEvent(
            { deliveryId: `${delivery.id}-again`, subscriptionId: subscription.id, event: indexed },
            'm-1',
          ),
        ),
      ).toEqual({ batchItemFailures: [] });
      // (Other deliveries to the receiver may come from the queues meanwhile, signed before the rotation.)
      expect(received).toContainEqual(expect.stringMatching(/^sha256=[0-9a-f]{64},sha256=[0-9a-f]{64}$/));
      await ok('notificationSubscriptions', 'DELETE', `/notifications/subscriptions/${subscription.id}`);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  it('managers: every contract function, the coordinator API, configuration, sweep, consumers, metrics, status page', async () => {
    const ids = Object.keys(manifest.managers);
    const { managers } = await ok('managersApi', 'GET', '/managers/status');
    expect(managers.map((m: { id: string }) => m.id).sort()).toEqual([...ids].sort());
    // Each contract function answers describe, health and metrics with its own environment.
    for (const id of ids) {
      const fn = manifest.managers[id as keyof typeof manifest.managers].function;
      expect((await ok('managersApi', 'GET', `/managers/${id}`)).id).toBe(id);
      const health = await ok('managersApi', 'GET', `/managers/${id}/health`);
      expect(
        health.checks.map((c: { name: string }) => c.name),
        id,
      ).not.toContain('contract');
      expect((await ok('managersApi', 'GET', `/managers/${id}/metrics`)).managerId).toBe(id);
      served.add(fn);
    }
    await ok('managersApi', 'GET', '/managers/monitoring/status');
    await ok('managersApi', 'GET', '/managers/monitoring/history');
    await ok('managersApi', 'POST', '/managers/monitoring/stop');
    await ok('managersApi', 'POST', '/managers/monitoring/start');
    await ok('managerConfig', 'PUT', '/managers/roadmap/config', { config: { driftThresholdPoints: 7 } });
    await ok('managerConfig', 'GET', '/managers/roadmap/config');
    await ok('managerConfig', 'GET', '/managers/roadmap/config/versions');

    // Actions run in the contract functions, with their grants: a plan stored in the bucket is reindexed.
    const plan = '# Plan\n\n## Phase 1\n\n- [ ] 1.1 Reindex me\n';
    await s3ClientOf(rt).send(new PutObjectCommand({ Bucket: rt.bucket, Key: 'plans/r.md', Body: plan }));
    await ok('indexPlan', 'POST', '/plans', { planId: 'r.md', s3Key: 'plans/r.md' });
    const reindex = await ok('managersApi', 'POST', '/managers/roadmap/actions/reindex', { planId: 'r.md' });
    expect(reindex.result.reindexed).toEqual([{ planId: 'r.md', tasks: 1, changed: 0 }]);
    const sweep = await ok('managersApi', 'POST', '/managers/central-coordinator/actions/sweep', {});
    expect(sweep.result.checked).toBe(ids.length);

    // Scheduled, and the consumers of the events addressed to the coordinator and to monitoring.
    expect(await rt.invoke('managerHealthSweep', scheduledEvent())).toMatchObject({ checked: ids.length });
    served.add('managerHealthSweep');
    await rt.invoke('coordinatorManager', { call: 'health' });
    const failed = {
      version: '0',
      id: 'c0ffee00-0000-4000-8000-000000000001',
      'detail-type': 'ManagerFailed',
      source: manifest.eventSource,
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: [],
      detail: { schemaVersion: 1, managerId: 'config', error: 'happy path', at: new Date().toISOString() },
    };
    const record = (fn: string) => sqsEvent(failed, `m-${fn}`);
    expect(await rt.invoke('managerEvents', record('managerEvents'))).toEqual({ batchItemFailures: [] });
    expect(await rt.invoke('monitoringAlerts', record('monitoringAlerts'))).toEqual({
      batchItemFailures: [],
    });
    served.add('managerEvents').add('monitoringAlerts');
    expect((await ok('managersApi', 'GET', '/managers/config/status')).state).toBe('failed');
    await ok('managersApi', 'POST', '/managers/config/start');

    // Not JSON: the Prometheus exposition and the status page.
    const metrics = await fetch(`${rt.apiUrl}/api/v1/metrics`, {
      headers: { authorization: `Bearer ${await tokenFor(() => rt)()}` },
    });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('vector_platform_manager_state{');
    expect(routedFunction('GET', '/metrics')).toBe('prometheusMetrics');
    served.add('prometheusMetrics');
    const page = await fetch(`${rt.apiUrl}/api/v1/status-page`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(routedFunction('GET', '/status-page')).toBe('statusPage');
    served.add('statusPage');
  });
});
