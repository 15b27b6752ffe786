import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { type Manifest, manifest as platformManifest } from '../infra/manifest.ts';
import { resetConfig } from '../shared/config.ts';
import { LocalEventBus, startEventBridgeEndpoint } from './event-bus.ts';
import { createInvoker, type Invoke } from './functions.ts';
import { type CompiledRoute, startGateway } from './gateway.ts';
import { createNotifier } from './notifications.ts';
import { startQdrantServer } from './qdrant/server.ts';
import { createLocalQueues, LocalQueueConsumers } from './queues.ts';
import { startS3Server } from './s3/server.ts';

/**
 * The whole platform on one machine, from the manifest: the embedded Qdrant-compatible server
 * (or the user's Qdrant), the local S3 with bucket notifications, fauxqs for SQS, the queues and their
 * consumers, the local EventBridge and the HTTP API, all invoking the same handler modules with
 * the same event shapes as in AWS. Offline, no set-up, everything on loopback and free ports.
 *
 * The handlers' configuration is the process environment (as in Lambda), so it is process-wide:
 * the most recently started runtime owns it, and stop() restores what was there before.
 */

export interface LocalRuntimeOptions {
  /** Where state lives (Qdrant data, S3 objects, platform state, event archive). Default `.data`. */
  dataDir?: string;
  /** Interface every local endpoint binds to. Default 127.0.0.1. */
  host?: string;
  /** The API's port; 0 picks a free one. Default 3000. */
  port?: number;
  manifest?: Manifest;
  /** Where manifest `entry` paths are resolved. Default the repository root. */
  rootDir?: string;
  /** A Qdrant to use instead of the embedded one (else `QDRANT_URL`, else embedded). */
  qdrantUrl?: string;
  /** No progress or error output from the runtime itself. */
  quiet?: boolean;
  /**
   * Run every queue consumer in execution environments (child processes, one invocation at a
   * time each, the function's memory as heap limit) as Lambda does, instead of in this process.
   */
  isolateConsumers?: boolean;
}

export interface LocalRuntime {
  apiUrl: string;
  qdrantUrl: string;
  /** True when the embedded Qdrant-compatible server was started (no external Qdrant given). */
  qdrantEmbedded: boolean;
  /** The S3 endpoint to use (the local S3 server, `s3/server.ts`). */
  s3Endpoint: string;
  sqsEndpoint: string;
  eventBridgeEndpoint: string;
  region: string;
  bucket: string;
  busName: string;
  queueUrls: Record<string, { url: string; dlqUrl: string }>;
  dataDir: string;
  routes: readonly CompiledRoute[];
  bus: LocalEventBus;
  invoke: Invoke;
  /** Process ids of the live execution environments (see `isolateConsumers`), children of this process. */
  sandboxPids(): number[];
  /** Resolves once every bucket notification already triggered has been delivered. */
  notificationsSettled(): Promise<void>;
  /** Closes everything; idempotent. */
  stop(): Promise<void>;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Embedded-server URLs this module put in QDRANT_URL: not a user's Qdrant for the next runtime. */
const embeddedQdrantUrls = new Set<string>();

/** Every function a route, notification, rule or queue names must be declared. */
function checkManifest(manifest: Manifest): void {
  const targets = [
    ...manifest.routes.map((r) => [`route ${r.method} ${r.path}`, r.function] as const),
    ...manifest.notifications.map((n) => [`notification ${n.prefix}*${n.suffix ?? ''}`, n.function] as const),
    ...Object.entries(manifest.rules).map(([name, r]) => [`rule ${name}`, r.function] as const),
    ...Object.entries(manifest.queues).flatMap(([name, q]) =>
      q.consumer ? [[`queue ${name}`, q.consumer] as const] : [],
    ),
  ];
  for (const [what, fn] of targets) {
    if (!Object.hasOwn(manifest.functions, fn))
      throw new Error(`${what}: function "${fn}" is not declared in the manifest`);
  }
}

/** Credentials for the local emulators, which accept any. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export async function startLocalRuntime(opts: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const manifest = opts.manifest ?? platformManifest;
  checkManifest(manifest);
  const rootDir = opts.rootDir ?? REPO_ROOT;
  const dataDir = resolve(opts.dataDir ?? '.data');
  const host = opts.host ?? '127.0.0.1';
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const quiet = opts.quiet ?? false;
  const log = (message: string) => {
    if (!quiet) process.stderr.write(`${message}\n`);
  };
  const bucket = `${manifest.service}-exports`;
  const busName = `${manifest.service}-bus`;

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

  // Put back the environment last, once no handler can run any more.
  let restoreEnv: (() => void) | undefined;
  closers.push(async () => {
    restoreEnv?.();
    resetConfig();
  });

  try {
    await mkdir(resolve(dataDir, 'state'), { recursive: true });
    await mkdir(resolve(dataDir, 's3'), { recursive: true });

    const envQdrant = process.env.QDRANT_URL;
    const externalQdrant =
      opts.qdrantUrl ?? (envQdrant && !embeddedQdrantUrls.has(envQdrant) ? envQdrant : undefined);
    let qdrantUrl: string;
    if (externalQdrant) qdrantUrl = externalQdrant.replace(/\/+$/, '');
    else {
      // In a worker thread: searches run on another core than the gateway and the handlers.
      const qdrant = await startQdrantServer({
        dataDir: resolve(dataDir, 'qdrant'),
        host,
        port: 0,
        worker: true,
        onError: (error) => log(`[qdrant] ${error.stack ?? error.message}`),
      });
      closers.push(() => qdrant.close());
      qdrantUrl = qdrant.url;
      embeddedQdrantUrls.add(qdrantUrl);
    }

    // fauxqs serves SQS only. Its SQS stays in memory on purpose: its SQLite persistence
    // returns the previous run's port in the URL of an existing queue. Without `s3StorageDir`
    // its own S3 is an unused in-memory store that is never advertised. fauxqs listens on all
    // interfaces (its listen address is not configurable); the endpoints advertised to
    // handlers and users are on loopback.
    const fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: region });
    closers.push(() => fauxqs.stop());
    const fauxqsUrl = `http://127.0.0.1:${fauxqs.port}`;

    // Environments are forked at their first invocation, so they inherit the handlers'
    // configuration set below; they close after the consumers, notifications and bus stopped.
    const isolate = new Set(
      opts.isolateConsumers
        ? Object.values(manifest.queues).flatMap((q) => (q.consumer ? [q.consumer] : []))
        : [],
    );
    const invoke = createInvoker(manifest, { rootDir, region, isolate });
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
      port: 0,
      region,
      notifier,
      log,
    });
    closers.push(() => s3.close());
    closers.push(() => notifier.close());

    const sqs = new SQSClient({ region, endpoint: fauxqsUrl, credentials: LOCAL_CREDENTIALS });
    closers.push(async () => sqs.destroy());
    // fauxqs names queues `http://sqs.<region>.localhost:<port>/<account>/<name>`, and a plain
    // SQSClient sends to the QueueUrl's host; `*.localhost` does not resolve everywhere (glibc
    // without systemd-resolved). fauxqs also finds a queue by its name alone, so the loopback
    // form of the URL reaches the same queue from any client.
    const onLoopback = (url: string) => `${fauxqsUrl}${new URL(url).pathname}`;
    const queues = Object.fromEntries(
      Object.entries(await createLocalQueues(sqs, manifest)).map(([name, q]) => [
        name,
        { ...q, url: onLoopback(q.url), dlqUrl: onLoopback(q.dlqUrl) },
      ]),
    );

    const bus = new LocalEventBus({ manifest, busName, archiveDir: resolve(dataDir, 'events'), invoke, log });
    await bus.start();
    closers.push(() => bus.stop());
    const eventBridge = await startEventBridgeEndpoint(bus, { host, port: 0 });
    closers.push(() => eventBridge.close());

    restoreEnv = applyEnvironment({
      STAGE: 'local',
      QDRANT_URL: qdrantUrl,
      EMBEDDER: process.env.EMBEDDER ?? 'local',
      EXPORTS_BUCKET: bucket,
      ...(queues.migrations
        ? { MIGRATION_QUEUE_URL: queues.migrations.url, MIGRATION_DLQ_URL: queues.migrations.dlqUrl }
        : {}),
      EVENT_BUS_NAME: busName,
      STATE_DIR: resolve(dataDir, 'state'),
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ENDPOINT_URL_SQS: fauxqsUrl,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
      AWS_REGION: region,
      ...(process.env.AWS_ACCESS_KEY_ID
        ? {}
        : {
            AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
          }),
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: process.env.POWERTOOLS_TRACE_ENABLED ?? 'false',
      ...(process.env.LOG_LEVEL || process.env.POWERTOOLS_LOG_LEVEL
        ? {}
        : { POWERTOOLS_LOG_LEVEL: quiet ? 'SILENT' : 'WARN' }),
    });
    resetConfig();

    const consumers = new LocalQueueConsumers({ manifest, sqs, queues, invoke, region, log });
    consumers.start();
    closers.push(() => consumers.stop());

    const gateway = await startGateway({
      manifest,
      invoke,
      host,
      port: opts.port ?? 3000,
      logError: (message, error) => {
        if (quiet) return;
        process.stderr.write(`[gateway] ${message}\n`);
        if (error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
      },
    });
    closers.push(() => gateway.close());

    let stopping: Promise<void> | undefined;
    return {
      apiUrl: gateway.url,
      qdrantUrl,
      qdrantEmbedded: !externalQdrant,
      s3Endpoint: s3.url,
      sqsEndpoint: fauxqsUrl,
      eventBridgeEndpoint: eventBridge.url,
      region,
      bucket,
      busName,
      queueUrls: Object.fromEntries(
        Object.entries(queues).map(([name, q]) => [name, { url: q.url, dlqUrl: q.dlqUrl }]),
      ),
      dataDir,
      routes: gateway.routes,
      bus,
      invoke,
      sandboxPids: () => invoke.sandboxPids(),
      notificationsSettled: () => notifier.settled(),
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

/**
 * Sets environment variables and returns how to put back the previous values (a variable that
 * changed since is left alone: someone else owns it now).
 */
function applyEnvironment(values: Record<string, string>): () => void {
  const previous = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(values)) {
    previous.set(key, process.env[key]);
    process.env[key] = value;
  }
  return () => {
    for (const [key, before] of previous) {
      if (process.env[key] !== values[key]) continue;
      if (before === undefined) delete process.env[key];
      else process.env[key] = before;
    }
  };
}
