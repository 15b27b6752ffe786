import { type Manifest, manifest as platformManifest } from '../infra/manifest.ts';
import { parseCorsOrigins } from './cors.ts';
import { useQdrantFetchBuild } from './module-hooks.ts';
import type { LocalRuntime } from './runtime.ts';

/**
 * `npm start`: the whole platform on this machine, offline. Environment overrides: PORT (API,
 * default 3000), S3_PORT, SQS_PORT, EVENTBRIDGE_PORT, SETTINGS_PORT (Parameter Store and Secrets
 * Manager), LAMBDA_PORT (Invoke, event source mappings), CLOUDWATCH_PORT (GetMetricData), SES_PORT (SendEmail), COGNITO_PORT (ListUsers, ListUsersInGroup), QDRANT_PORT (the embedded server; each default 0: a free port), HOST (default 127.0.0.1), DATA_DIR (default .data), QDRANT_URL (use that Qdrant
 * instead of the embedded one), QUEUE_CONCURRENCY (at most that many batches in flight per queue
 * instead of each queue's `maxConcurrency`: fewer concurrent workers, less memory),
 * ISOLATE_CONSUMERS (1 or true: each queue consumer runs in child processes, one invocation at a
 * time per process with its function's memory as heap limit, like Lambda's execution environments;
 * default 0: in this process). Identity: IDENTITY_PORT (the local OpenID issuer; default 0: the port
 * it used last time), AUTH (`local`, the default: tokens from the local issuer; `off`: no token
 * checked, every caller an administrator, for experiments only), AUTH_ISSUER and AUTH_AUDIENCE
 * (trust that OpenID issuer instead, e.g. the deployed Cognito pool, and those client ids),
 * CORS_ORIGINS (comma-separated origins allowed by CORS; default loopback origins only).
 */

/** Read as the general shape: the declaration's literal type has no notification or rule yet. */
const manifest: Manifest = platformManifest;

/** A port from the environment variable `name`: `fallback` when unset, 0 for a free one. */
function parsePort(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be an integer between 0 and 65535, got "${value}"`);
  }
  return port;
}

function withQueueConcurrency(value: string | undefined): Manifest {
  if (value === undefined || value === '') return manifest;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new Error(`QUEUE_CONCURRENCY must be a positive integer, got "${value}"`);
  }
  const queues = Object.fromEntries(
    Object.entries(manifest.queues).map(([name, decl]) => [name, { ...decl, maxConcurrency: limit }]),
  );
  return { ...manifest, queues };
}

function parseIsolateConsumers(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new Error(`ISOLATE_CONSUMERS must be 0, 1, true or false, got "${value}"`);
}

type AuthOption = NonNullable<Parameters<typeof import('./runtime.ts').startLocalRuntime>[0]>['auth'];

function parseAuth(env: NodeJS.ProcessEnv): AuthOption {
  const mode = env.AUTH || 'local';
  if (env.AUTH_ISSUER) {
    if (env.AUTH && env.AUTH !== 'local') throw new Error('AUTH_ISSUER cannot be combined with AUTH=off');
    const issuer = env.AUTH_ISSUER;
    if (!URL.canParse(issuer) || !/^https?:$/.test(new URL(issuer).protocol)) {
      throw new Error(`AUTH_ISSUER must be an http(s) URL, got "${issuer}"`);
    }
    const audiences = (env.AUTH_AUDIENCE ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (audiences.length === 0)
      throw new Error(
        'AUTH_AUDIENCE (the accepted client ids, comma-separated) is required with AUTH_ISSUER',
      );
    return { issuer, audiences };
  }
  if (mode !== 'local' && mode !== 'off') throw new Error(`AUTH must be local or off, got "${mode}"`);
  return mode;
}

const AUTH_OFF_WARNING = `
  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
  !!  AUTHENTICATION IS OFF (AUTH=off): no token is checked and every caller is an admin.  !!
  !!  Any program on this machine can read and delete the local data. Experiments only.   !!
  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
`;

function describe(rt: LocalRuntime): string {
  const width = Math.max(...rt.routes.map((r) => r.method.length + 1 + r.path.length));
  const routes = rt.routes.map((r) => `    ${`${r.method} ${r.path}`.padEnd(width)}  → ${r.function}`);
  const queues = Object.entries(rt.queueUrls).map(
    ([name, q]) => `    ${name}: ${q.url}\n      dead letters: ${q.dlqUrl}`,
  );
  const notifications = manifest.notifications.map(
    (n) => `    s3://${rt.bucket}/${n.prefix}*${n.suffix ?? ''} → ${n.function}`,
  );
  const rules = Object.entries(manifest.rules).map(
    ([name, r]) => `    ${name} → ${r.queue === undefined ? r.function : `queue ${r.queue}`}`,
  );
  return [
    '',
    `${manifest.service} is running locally (stage "local", offline)`,
    '',
    `  API          ${rt.apiUrl}/api/v1`,
    ...routes,
    '',
    `  Qdrant       ${rt.qdrantUrl} (${rt.qdrantEmbedded ? 'embedded Qdrant-compatible server' : 'external Qdrant from QDRANT_URL'})`,
    `  S3           ${rt.s3Endpoint}   bucket: ${rt.bucket}`,
    ...(notifications.length > 0 ? ['    notifications:', ...notifications] : []),
    `    upload an export:  aws s3 cp ./task_vectors.json s3://${rt.bucket}/${manifest.notifications[0]?.prefix ?? 'exports/'}task_vectors.json --endpoint-url ${rt.s3Endpoint}`,
    `  SQS          ${rt.sqsEndpoint}`,
    ...queues,
    `  EventBridge  ${rt.eventBridgeEndpoint}   bus: ${rt.busName}`,
    ...(rules.length > 0 ? ['    rules:', ...rules] : []),
    `  SSM, Secrets ${rt.settingsEndpoint}   (parameters and secrets the functions read)`,
    `  Lambda       ${rt.lambdaEndpoint}   (Invoke; event source mappings of the queues)`,
    `  CloudWatch   ${rt.cloudWatchEndpoint}   (GetMetricData: AWS/Lambda, AWS/ApiGateway ApiId ${rt.httpApi.id})`,
    `  SES v2       ${rt.sesEndpoint}   (SendEmail: each email an .eml in ${rt.outboxDir})`,
    `  Cognito      ${rt.cognitoEndpoint}   (ListUsers, ListUsersInGroup: the people given tokens here)`,
    `  Data         ${rt.dataDir}   (wiring: ${rt.dataDir}/runtime.json)`,
    `  Identity     ${rt.issuer}   (OpenID issuer; tokens accepted from: ${rt.authMode === 'local' ? 'this issuer' : rt.authMode})`,
    '',
    `  try:  curl ${rt.apiUrl}/api/v1/health`,
    '        TOKEN=$(npm run -s token -- --role admin)   # or user, readonly',
    `        curl -H "authorization: Bearer $TOKEN" ${rt.apiUrl}/api/v1/vectors/collections`,
    `  docs: ${rt.apiUrl}/api/v1/docs`,
    "  (your AWS credentials, any, act as the account's administrator; each function has its own,\n   limited to its declared access; Ctrl+C stops everything)",
    '',
  ].join('\n');
}

/**
 * fauxqs loads `node:sqlite` for a persistence mode the runtime does not use, and Node 22 prints
 * an ExperimentalWarning for it at every start: keep that one line out of the banner.
 */
function hideSqliteWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.startsWith('SQLite is an experimental feature')) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

async function main(): Promise<void> {
  hideSqliteWarning();
  useQdrantFetchBuild();
  const { startLocalRuntime } = await import('./runtime.ts');
  const auth = parseAuth(process.env);
  const runtime = await startLocalRuntime({
    port: parsePort('PORT', 3000),
    ports: {
      s3: parsePort('S3_PORT', 0),
      sqs: parsePort('SQS_PORT', 0),
      eventBridge: parsePort('EVENTBRIDGE_PORT', 0),
      settings: parsePort('SETTINGS_PORT', 0),
      lambda: parsePort('LAMBDA_PORT', 0),
      cloudWatch: parsePort('CLOUDWATCH_PORT', 0),
      ses: parsePort('SES_PORT', 0),
      cognito: parsePort('COGNITO_PORT', 0),
      qdrant: parsePort('QDRANT_PORT', 0),
      identity: parsePort('IDENTITY_PORT', 0),
    },
    host: process.env.HOST || '127.0.0.1',
    dataDir: process.env.DATA_DIR || '.data',
    ...(process.env.QDRANT_URL ? { qdrantUrl: process.env.QDRANT_URL } : {}),
    manifest: withQueueConcurrency(process.env.QUEUE_CONCURRENCY),
    isolateConsumers: parseIsolateConsumers(process.env.ISOLATE_CONSUMERS),
    auth,
    ...(process.env.CORS_ORIGINS ? { corsOrigins: parseCorsOrigins(process.env.CORS_ORIGINS) } : {}),
  });
  process.stdout.write(`${describe(runtime)}\n`);
  if (auth === 'off') process.stderr.write(AUTH_OFF_WARNING);

  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write('Forced exit.\n');
      process.exit(1);
    }
    process.stderr.write(`\n${signal}: stopping (again to force)…\n`);
    runtime.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`Shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `Could not start the local platform: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
