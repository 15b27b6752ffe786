import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  managedResourcesOf,
  type PlatformSettings,
  workflowBoundaryGrant,
  workflowRefs,
} from '../infra/function-environment.ts';
import { type Manifest, manifest as platformManifest } from '../infra/manifest.ts';
import { DEFAULT_EMAIL_FROM, webhookSecretsPrefix } from '../shared/notifications/settings.ts';
import type { CompiledRoute } from '../shared/routes.ts';
import { AccessLogSubscription } from './access-log.ts';
import { startCloudWatchEndpoint } from './cloudwatch.ts';
import { startCognitoEndpoint } from './cognito.ts';
import { lockDataDirectory } from './data-lock.ts';
import { LocalEventBus, startEventBridgeEndpoint } from './event-bus.ts';
import { EventSourceMappings } from './event-source-mappings.ts';
import { createInvoker, type Invoke } from './functions.ts';
import { type GatewayAuth, LOCAL_API_ID, LOCAL_API_STAGE, startGateway } from './gateway.ts';
import { LOCAL_ACCOUNT_ID, LocalIam } from './iam.ts';
import { LocalIamRoles, startIamRolesEndpoint } from './iam-roles.ts';
import { LOCAL_CLIENT_ID, startLocalIssuer, type TokenRequest } from './identity/issuer.ts';
import { JwtAuthorizer } from './identity/jwt-authorizer.ts';
import { LocalUserStore, usersDirOf } from './identity/users.ts';
import { deployedFunctionName, functionArn, startLambdaEndpoint } from './lambda.ts';
import { MetricRecorder, recordApiRequest, recordInvocation } from './metrics.ts';
import { createNotifier } from './notifications.ts';
import { startQdrantServer } from './qdrant/server.ts';
import { createLocalQueues, LocalQueueConsumers } from './queues.ts';
import { startS3Server } from './s3/server.ts';
import { LocalScheduler } from './schedules.ts';
import { startSesEndpoint } from './ses.ts';
import { startSettingsStore } from './settings-store.ts';
import { startSqsEndpoint } from './sqs.ts';
import { startStepFunctionsEndpoint } from './stepfunctions/endpoint.ts';
import { type RuntimeTopology, triggers, wireFunctions, writeTopology } from './wiring.ts';

/**
 * The whole platform on one machine, from the manifest: the embedded Qdrant-compatible server
 * (or the user's Qdrant), the local S3 with bucket notifications, SQS (fauxqs behind our loopback
 * listener), the queues and their consumers, the local EventBridge, parameters and secrets, and
 * the HTTP API, all invoking the same handler modules with the same event shapes as in AWS.
 * Offline, no set-up, everything on loopback.
 *
 * Each function runs in an environment of its own (a worker thread, or child processes for
 * isolated consumers) whose `process.env` is exactly what CDK gives it in AWS
 * (`infra/function-environment.ts`), with local values, plus the Lambda runtime's variables and
 * the local endpoints. It calls AWS with credentials of its own, and the local services refuse
 * what its grants do not allow, as AWS would.
 */

/** Fixed ports for the local endpoints; 0 or absent picks a free one. */
export interface LocalPorts {
  s3?: number;
  sqs?: number;
  eventBridge?: number;
  /** Parameter Store and Secrets Manager. */
  settings?: number;
  /** Lambda's Invoke and event source mappings. */
  lambda?: number;
  /** CloudWatch's GetMetricData. */
  cloudWatch?: number;
  /** SES v2's SendEmail. */
  ses?: number;
  /** Cognito's ListUsers and ListUsersInGroup. */
  cognito?: number;
  qdrant?: number;
  /** The local OpenID issuer (0: the port it used last time if free, else any). */
  identity?: number;
}

export interface LocalRuntimeOptions {
  /** Where state lives (Qdrant data, S3 objects, platform state, event archive). Default `.data`. */
  dataDir?: string;
  /** Interface every local endpoint binds to. Default 127.0.0.1. */
  host?: string;
  /** The API's port; 0 picks a free one. Default 3000. */
  port?: number;
  ports?: LocalPorts;
  manifest?: Manifest;
  /** Where manifest `entry` paths are resolved. Default the repository root. */
  rootDir?: string;
  /** A Qdrant to use instead of the embedded one (else `QDRANT_URL`, else embedded). */
  qdrantUrl?: string;
  /** No progress or error output from the runtime itself. */
  quiet?: boolean;
  /**
   * Run every queue consumer in execution environments (child processes, one invocation at a
   * time each, the function's memory as heap limit) as Lambda does, instead of in a thread.
   */
  isolateConsumers?: boolean;
  /** Run every schedule this often instead of at its rate (tests). */
  scheduleIntervalMs?: number;
  /**
   * Who the gateway trusts: `local` (default) its own issuer, `off` nobody (every protected route
   * is called as an administrator: local experiments only), or an external OpenID issuer (the
   * deployed Cognito pool: `https://cognito-idp.<region>.amazonaws.com/<pool id>`) and the client
   * ids it accepts as audiences.
   */
  auth?: 'local' | 'off' | { issuer: string; audiences: readonly string[] };
  /** The manifest's request limits (default), or `false` for none (benchmarks, tests of other things). */
  limits?: false;
  /** Origins allowed by CORS: default `loopback` (http(s) on localhost, 127.0.0.1, [::1], any port). */
  corsOrigins?: readonly string[] | 'loopback';
  /**
   * Whether webhooks may target loopback addresses (a receiver on this machine); default
   * `WEBHOOK_ALLOW_LOOPBACK`, else true. Private and link-local addresses are refused whatever this
   * says, and no AWS stage has such a setting.
   */
  allowLoopbackWebhooks?: boolean;
  /**
   * When set, every workflow Wait state and retry pause lasts this many milliseconds (tests, demos);
   * default `WORKFLOW_WAITS_MS`, else as the definitions declare.
   */
  workflowWaitsMs?: number;
}

export type { RuntimeTopology } from './wiring.ts';

export interface LocalRuntime {
  apiUrl: string;
  qdrantUrl: string;
  /** True when the embedded Qdrant-compatible server was started (no external Qdrant given). */
  qdrantEmbedded: boolean;
  /** The S3 endpoint to use (the local S3 server, `s3/server.ts`). */
  s3Endpoint: string;
  sqsEndpoint: string;
  eventBridgeEndpoint: string;
  settingsEndpoint: string;
  /** Lambda (Invoke, Get/UpdateEventSourceMapping): `AWS_ENDPOINT_URL_LAMBDA` of the functions. */
  lambdaEndpoint: string;
  /** CloudWatch (GetMetricData): `AWS_ENDPOINT_URL_CLOUDWATCH` of the functions. */
  cloudWatchEndpoint: string;
  /** SES v2 (SendEmail): `AWS_ENDPOINT_URL_SESV2` of the functions. */
  sesEndpoint: string;
  /** Cognito (ListUsers, ListUsersInGroup): `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` of the functions. */
  cognitoEndpoint: string;
  /** Where the local SES writes each email it sends, as an `.eml` file (`<dataDir>/outbox`). */
  outboxDir: string;
  region: string;
  bucket: string;
  busName: string;
  queueUrls: Record<string, { url: string; dlqUrl: string }>;
  /** The UUID of each consumed queue's event source mapping, by queue name. */
  eventSourceMappings: Readonly<Record<string, string>>;
  /** What the local CloudWatch answers from: Lambda's and the HTTP API's metrics, as recorded. */
  metrics: MetricRecorder;
  /** The HTTP API's id and stage, the dimensions of its metrics. */
  httpApi: { id: string; stage: string };
  dataDir: string;
  routes: readonly CompiledRoute[];
  bus: LocalEventBus;
  invoke: Invoke;
  topology: RuntimeTopology;
  /** A function's whole environment, as its handler sees it. */
  environmentOf(fnName: string): Record<string, string>;
  /** The local issuer's URL (`iss`); its tokens are accepted unless `auth` says otherwise. */
  issuer: string;
  /** What the gateway accepts: `local`, `off`, or the external issuer's URL. */
  authMode: string;
  /** A signed access token from the local issuer (`npm run token` does the same from the key file). */
  issueToken(request: TokenRequest): Promise<string>;
  /** Process ids of the live execution environments (see `isolateConsumers`), children of this process. */
  sandboxPids(): number[];
  /** Resolves once every bucket notification already triggered has been delivered. */
  notificationsSettled(): Promise<void>;
  /** Delivers the access-log lines the subscription holds, and resolves once they are delivered. */
  accessLogSettled(): Promise<void>;
  /** Closes everything; idempotent. */
  stop(): Promise<void>;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Every function a route, notification, rule, queue or manager names, and every queue a rule
 * targets, must be declared.
 */
function checkManifest(manifest: Manifest): void {
  const managed = Object.entries(manifest.managers ?? {}).flatMap(([id, m]) =>
    [m.function, ...m.functions].map((fn) => [`manager ${id}`, fn] as const),
  );
  for (const [what, fn] of [...triggers(manifest), ...managed]) {
    if (!Object.hasOwn(manifest.functions, fn))
      throw new Error(`${what}: function "${fn}" is not declared in the manifest`);
  }
  for (const [name, rule] of Object.entries(manifest.rules)) {
    if (rule.queue !== undefined && !Object.hasOwn(manifest.queues, rule.queue))
      throw new Error(`rule ${name}: queue "${rule.queue}" is not declared in the manifest`);
  }
}

/** What functions see as the caller when authentication is off: an administrator, by name. */
const AUTH_OFF_CLAIMS = {
  sub: 'auth-off',
  username: 'auth-off',
  'cognito:groups': '[admin]',
  token_use: 'access',
  client_id: 'auth-off',
};

/** The runtime's own credentials (queue pollers, set-up): the local account's administrator. */
const RUNTIME_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export async function startLocalRuntime(opts: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const manifest = opts.manifest ?? platformManifest;
  checkManifest(manifest);
  const rootDir = opts.rootDir ?? REPO_ROOT;
  const dataDir = resolve(opts.dataDir ?? '.data');
  const host = opts.host ?? '127.0.0.1';
  const ports = opts.ports ?? {};
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const quiet = opts.quiet ?? false;
  const log = (message: string) => {
    if (!quiet) process.stderr.write(`${message}\n`);
  };
  const stage = 'local';
  const bucket = `${manifest.service}-exports`;
  const busName = `${manifest.service}-bus`;
  const stateTable = `${manifest.service}-state`;
  const env = process.env;
  // What a stage's CDK context sets in AWS (infra/stacks/settings.ts), from this environment.
  const platformSettings: PlatformSettings = {
    embedder: env.EMBEDDER === 'openai' ? 'openai' : 'local',
    ...(env.EMBEDDING_MODEL ? { embeddingModel: env.EMBEDDING_MODEL } : {}),
    ...(env.EMBEDDING_DIMENSIONS ? { embeddingDimensions: env.EMBEDDING_DIMENSIONS } : {}),
    ...(env.OPENAI_BASE_URL ? { openaiBaseUrl: env.OPENAI_BASE_URL } : {}),
    ...(env.DEFAULT_COLLECTION ? { defaultCollection: env.DEFAULT_COLLECTION } : {}),
  };

  // Everything started so far, closed in reverse order on stop() or on a failed start.
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        log(`[runtime] shutdown step failed: ${(err as Error).message}`);
      }
    }
    closers.length = 0;
  };

  try {
    await mkdir(resolve(dataDir, 'state'), { recursive: true });
    await mkdir(resolve(dataDir, 's3'), { recursive: true });
    // One runtime per data folder: two would each think they own its queues and files.
    const lock = await lockDataDirectory(dataDir);
    closers.push(() => lock.release());
    const iam = new LocalIam();

    const externalQdrant = opts.qdrantUrl ?? process.env.QDRANT_URL;
    let qdrantUrl: string;
    if (externalQdrant) qdrantUrl = externalQdrant.replace(/\/+$/, '');
    else {
      // In a worker thread: searches run on another core than the gateway and the handlers.
      const qdrant = await startQdrantServer({
        dataDir: resolve(dataDir, 'qdrant'),
        host,
        port: ports.qdrant ?? 0,
        worker: true,
        onError: (error) => log(`[qdrant] ${error.stack ?? error.message}`),
      });
      closers.push(() => qdrant.close());
      qdrantUrl = qdrant.url;
    }

    // The names AWS stages use (`infra/stacks/settings.ts`), with local values.
    const qdrantUrlParameter = `/${manifest.service}/${stage}/qdrant-url`;
    const qdrantApiKeySecret = `${manifest.service}/${stage}/qdrant-api-key`;
    const openaiApiKeySecret = `${manifest.service}/${stage}/openai-api-key`;
    // As a stage's `notificationsEmailFrom` context sets it.
    const emailFrom = env.NOTIFICATIONS_EMAIL_FROM || DEFAULT_EMAIL_FROM;
    const settings = await startSettingsStore({
      host,
      port: ports.settings ?? 0,
      region,
      iam,
      secretsFile: resolve(dataDir, 'secrets', 'created.json'),
      parameters: { [qdrantUrlParameter]: qdrantUrl },
      secrets: {
        // Empty: the embedded server asks for no key; a user's Qdrant may (QDRANT_API_KEY).
        [qdrantApiKeySecret]: process.env.QDRANT_API_KEY ?? '',
        [openaiApiKeySecret]: process.env.OPENAI_API_KEY || undefined,
      },
    });
    closers.push(() => settings.close());

    const sqsEndpoint = await startSqsEndpoint({
      host,
      port: ports.sqs ?? 0,
      region,
      iam,
      dataDir: resolve(dataDir, 'sqs'),
    });
    closers.push(() => sqsEndpoint.close());

    // Functions are started at their first invocation, with the environment computed below.
    let environments: ReadonlyMap<string, Record<string, string>> = new Map();
    const environmentOf = (fnName: string) => {
      const env = environments.get(fnName);
      if (!env) throw new Error(`Function not found: ${fnName} is not declared in the manifest`);
      return env;
    };
    const isolate = new Set(
      opts.isolateConsumers
        ? Object.values(manifest.queues).flatMap((q) => (q.consumer ? [q.consumer] : []))
        : [],
    );
    // Lambda's metrics of every invocation, whatever invoked it (kept in memory only).
    const metrics = new MetricRecorder();
    const invoke = createInvoker(manifest, {
      rootDir,
      region,
      isolate,
      environment: environmentOf,
      observe: (invocation) =>
        recordInvocation(
          metrics,
          deployedFunctionName(manifest.service, invocation.fnName),
          invocation.durationMs,
          'error' in invocation,
        ),
    });
    closers.push(() => invoke.close());

    // S3 is the local S3 server: objects as files under <dataDir>/s3 (they survive a restart),
    // every body streamed, and bucket notifications raised by the server itself once an object
    // is stored. The notifier closes first (closers run in reverse), so deliveries in flight
    // can still read their object.
    const notifier = createNotifier({
      bucket,
      notifications: manifest.notifications.map((n, i) => ({
        ...n,
        id: `${manifest.service}-${n.function}-${i + 1}`,
      })),
      invoke,
      region,
      log,
    });
    const s3 = await startS3Server({
      dataDir: resolve(dataDir, 's3'),
      buckets: [bucket],
      host,
      port: ports.s3 ?? 0,
      region,
      notifier,
      log,
      iam,
    });
    closers.push(() => s3.close());
    closers.push(() => notifier.close());

    const sqs = new SQSClient({ region, endpoint: sqsEndpoint.url, credentials: RUNTIME_CREDENTIALS });
    closers.push(async () => sqs.destroy());
    // fauxqs names queues `http://sqs.<region>.localhost:<port>/<account>/<name>`, and a plain
    // SQSClient sends to the QueueUrl's host; `*.localhost` does not resolve everywhere (glibc
    // without systemd-resolved). fauxqs also finds a queue by its name alone, so the loopback
    // form of the URL reaches the same queue from any client.
    const onLoopback = (url: string) => `${sqsEndpoint.url}${new URL(url).pathname}`;
    const queues = Object.fromEntries(
      Object.entries(await createLocalQueues(sqs, manifest)).map(([name, q]) => [
        name,
        { ...q, url: onLoopback(q.url), dlqUrl: onLoopback(q.dlqUrl) },
      ]),
    );

    const mappings = await EventSourceMappings.open({
      manifest,
      region,
      file: resolve(dataDir, 'lambda', 'event-source-mappings.json'),
      queueArns: Object.fromEntries(Object.entries(queues).map(([name, q]) => [name, q.arn])),
    });

    // Rules that target a queue send to it as EventBridge does, with the runtime's credentials.
    const sendToQueue = async (queue: string, body: string) => {
      const url = queues[queue]?.url;
      if (!url) throw new Error(`queue ${queue} has not been created`);
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    };
    const bus = new LocalEventBus({
      manifest,
      busName,
      archiveDir: resolve(dataDir, 'events'),
      invoke,
      sendToQueue,
      log,
    });
    await bus.start();
    closers.push(() => bus.stop());
    const eventBridge = await startEventBridgeEndpoint(bus, { host, port: ports.eventBridge ?? 0, iam });
    closers.push(() => eventBridge.close());
    // Closed before the invoker (closers run in reverse): its Event invocations end first.
    const lambda = await startLambdaEndpoint({
      manifest,
      region,
      iam,
      invoke,
      mappings,
      host,
      port: ports.lambda ?? 0,
      log,
    });
    closers.push(() => lambda.close());
    const cloudWatch = await startCloudWatchEndpoint({
      recorder: metrics,
      iam,
      host,
      port: ports.cloudWatch ?? 0,
    });
    closers.push(() => cloudWatch.close());
    const outboxDir = resolve(dataDir, 'outbox');
    const ses = await startSesEndpoint({ iam, region, outboxDir, host, port: ports.ses ?? 0 });
    closers.push(() => ses.close());
    // The user pool is the people the local issuer gave tokens to (`identity/users.ts`).
    const cognito = await startCognitoEndpoint({
      iam,
      region,
      users: new LocalUserStore(usersDirOf(dataDir)),
      host,
      port: ports.cognito ?? 0,
    });
    closers.push(() => cognito.close());

    // Workflows: IAM's role calls (the workflows' execution roles, bounded as in AWS) and Step
    // Functions, whose tasks invoke the managers through the Lambda endpoint as those roles.
    const workflowWaitsMs = opts.workflowWaitsMs ?? waitsFromEnv(process.env.WORKFLOW_WAITS_MS);
    const iamRoles = await LocalIamRoles.open(resolve(dataDir, 'iam'));
    const workflows = workflowRefs({
      service: manifest.service,
      stage,
      partition: 'aws',
      region,
      account: LOCAL_ACCOUNT_ID,
    });
    const functionRefs = Object.fromEntries(
      Object.keys(manifest.functions).map((fnName) => {
        const name = deployedFunctionName(manifest.service, fnName);
        return [fnName, { name, arn: functionArn(region, name) }];
      }),
    );
    // As the stateless stack declares it: only where a function may make workflow roles.
    if (
      Object.values(manifest.functions).some((f) =>
        (f.access as readonly string[]).includes('workflows:manage'),
      )
    ) {
      const boundary = workflowBoundaryGrant({ functions: functionRefs }, managedResourcesOf(manifest));
      iamRoles.registerManagedPolicy(workflows.boundaryPolicyArn, {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: boundary.actions, Resource: boundary.resources }],
      });
    }
    const iamEndpoint = await startIamRolesEndpoint({ iam, roles: iamRoles, host, log });
    closers.push(() => iamEndpoint.close());
    const stepFunctions = await startStepFunctionsEndpoint({
      region,
      iam,
      roles: iamRoles,
      lambdaUrl: lambda.url,
      dataDir: resolve(dataDir, 'stepfunctions'),
      ...(workflowWaitsMs !== undefined ? { waitsMs: workflowWaitsMs } : {}),
      onStatusChange: (event) =>
        bus.putServiceEvent({
          version: '0',
          id: randomUUID(),
          account: LOCAL_ACCOUNT_ID,
          region,
          ...event,
        }),
      host,
      log,
    });
    // Closed before the Lambda endpoint its tasks call (closers run in reverse).
    closers.push(() => stepFunctions.close());

    const endpoints = {
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ENDPOINT_URL_SQS: sqsEndpoint.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
      AWS_ENDPOINT_URL_SSM: settings.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: settings.url,
      AWS_ENDPOINT_URL_LAMBDA: lambda.url,
      AWS_ENDPOINT_URL_CLOUDWATCH: cloudWatch.url,
      AWS_ENDPOINT_URL_SESV2: ses.url,
      AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: cognito.url,
      AWS_ENDPOINT_URL_SFN: stepFunctions.url,
      AWS_ENDPOINT_URL_IAM: iamEndpoint.url,
    };
    const allowLoopback =
      opts.allowLoopbackWebhooks ?? !['0', 'false'].includes(process.env.WEBHOOK_ALLOW_LOOPBACK ?? 'true');
    const httpApi = { id: LOCAL_API_ID, stage: LOCAL_API_STAGE };
    const eventSourceMappings = mappings.uuids();
    const wired = wireFunctions({
      manifest,
      iam,
      region,
      stage,
      settings: platformSettings,
      stateDir: resolve(dataDir, 'state'),
      quiet,
      endpoints,
      localSettings: { WEBHOOK_ALLOW_LOOPBACK: String(allowLoopback) },
      refs: {
        exportsBucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
        stateTable: {
          name: stateTable,
          arn: `arn:aws:dynamodb:${region}:${LOCAL_ACCOUNT_ID}:table/${stateTable}`,
        },
        eventBus: { name: busName, arn: bus.arn },
        queues: Object.fromEntries(
          Object.entries(queues).map(([name, q]) => [name, { url: q.url, arn: q.arn }]),
        ),
        deadLetterQueues: Object.fromEntries(
          Object.entries(queues).map(([name, q]) => [name, { url: q.dlqUrl, arn: `${q.arn}-dlq` }]),
        ),
        qdrantUrlParameter: { name: qdrantUrlParameter, arn: settings.parameterArn(qdrantUrlParameter) },
        qdrantApiKeySecret: { name: qdrantApiKeySecret, arn: settings.secretPartialArn(qdrantApiKeySecret) },
        openaiApiKeySecret: { name: openaiApiKeySecret, arn: settings.secretPartialArn(openaiApiKeySecret) },
        webhookSecrets: {
          name: webhookSecretsPrefix(stage),
          arn: settings.secretPartialArn(webhookSecretsPrefix(stage)),
        },
        emailIdentity: {
          name: emailFrom,
          arn: `arn:aws:ses:${region}:${LOCAL_ACCOUNT_ID}:identity/${emailFrom.split('@')[1]}`,
        },
        userPool: { name: cognito.userPoolId, arn: cognito.userPoolArn },
        functions: functionRefs,
        eventSourceMappings: Object.fromEntries(
          Object.entries(eventSourceMappings).map(([queue, uuid]) => [
            queue,
            { name: uuid, arn: mappings.get(uuid)!.arn },
          ]),
        ),
        httpApi,
        workflows,
      },
    });
    environments = wired.environments;
    const topology: RuntimeTopology = {
      service: manifest.service,
      endpoints: { api: '', qdrant: qdrantUrl, ...endpoints },
      functions: wired.functions,
    };

    const consumers = new LocalQueueConsumers({ manifest, sqs, queues, invoke, region, log, gate: mappings });
    consumers.start();
    closers.push(() => consumers.stop());
    const scheduler = new LocalScheduler({
      manifest,
      invoke,
      region,
      log,
      ...(opts.scheduleIntervalMs ? { intervalMs: opts.scheduleIntervalMs } : {}),
    });
    scheduler.start();
    closers.push(() => scheduler.stop());

    const issuer = await startLocalIssuer({ dataDir, host, port: ports.identity ?? 0 });
    closers.push(() => issuer.close());
    const authOption = opts.auth ?? 'local';
    const auth: GatewayAuth =
      authOption === 'off'
        ? { kind: 'off', claims: AUTH_OFF_CLAIMS }
        : {
            kind: 'jwt',
            authorizer: new JwtAuthorizer(
              authOption === 'local'
                ? { issuer: issuer.issuer, audiences: [LOCAL_CLIENT_ID], jwks: issuer.jwks }
                : authOption,
            ),
          };
    topology.endpoints.identity = issuer.issuer;

    // The access log's subscription: the consumer is invoked until the runtime stops, so it
    // closes after the gateway (closers run in reverse) and before the invoker.
    const accessLog = manifest.apiAccessLogConsumer
      ? new AccessLogSubscription({
          consumer: manifest.apiAccessLogConsumer,
          invoke,
          logGroup: `/aws/apigateway/${httpApi.id}/access-log`,
          log,
        })
      : undefined;
    if (accessLog) closers.push(() => accessLog.close());
    const gateway = await startGateway({
      manifest,
      invoke,
      auth,
      ...(opts.limits === false ? { limits: false as const } : {}),
      cors: { origins: opts.corsOrigins ?? 'loopback' },
      host,
      port: opts.port ?? 3000,
      apiId: httpApi.id,
      onResponse: (response) => recordApiRequest(metrics, httpApi, response),
      ...(accessLog ? { onAccessLog: accessLog.write } : {}),
      logError: (message, error) => {
        if (quiet) return;
        process.stderr.write(`[gateway] ${message}\n`);
        if (error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
      },
    });
    closers.push(() => gateway.close());
    topology.endpoints.api = gateway.url;
    await writeTopology(dataDir, topology);

    let stopping: Promise<void> | undefined;
    return {
      apiUrl: gateway.url,
      qdrantUrl,
      qdrantEmbedded: !externalQdrant,
      s3Endpoint: s3.url,
      sqsEndpoint: sqsEndpoint.url,
      eventBridgeEndpoint: eventBridge.url,
      settingsEndpoint: settings.url,
      lambdaEndpoint: lambda.url,
      cloudWatchEndpoint: cloudWatch.url,
      sesEndpoint: ses.url,
      cognitoEndpoint: cognito.url,
      outboxDir,
      region,
      bucket,
      busName,
      queueUrls: Object.fromEntries(
        Object.entries(queues).map(([name, q]) => [name, { url: q.url, dlqUrl: q.dlqUrl }]),
      ),
      eventSourceMappings,
      metrics,
      httpApi,
      dataDir,
      routes: gateway.routes,
      bus,
      invoke,
      topology,
      environmentOf: (fnName) => ({ ...environmentOf(fnName) }),
      issuer: issuer.issuer,
      authMode: typeof authOption === 'string' ? authOption : authOption.issuer,
      issueToken: (request) => issuer.issue(request),
      sandboxPids: () => invoke.sandboxPids(),
      notificationsSettled: () => notifier.settled(),
      accessLogSettled: async () => accessLog?.settled(),
      stop: () => {
        stopping ??= closeAll();
        return stopping;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** `WORKFLOW_WAITS_MS`: a whole number of milliseconds, or unset. */
function waitsFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,7}$/.test(value))
    throw new Error(`WORKFLOW_WAITS_MS must be a whole number of milliseconds, got "${value}"`);
  return Number(value);
}
