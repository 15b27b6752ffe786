import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { describe, it } from 'vitest';
import type { LocalRuntime } from '#local/runtime.ts';
import type { Group, Role, ScopeName } from '#shared/auth/roles.ts';
import {
  DEPLOYED_ENV,
  type DeployedConfig,
  type Embedding,
  type Env,
  patientFetch,
  tokenOf,
  tokenRequest,
} from './deployed.ts';
import { apiCaller, s3ClientOf, tokenFor } from './support.ts';

/**
 * What a portable integration suite talks to: the local runtime the test file starts (always,
 * `npm test`), or a deployed stage (`TEST_TARGET=deployed`, set by `npm run test:deployed`, which
 * resolves the stage and hands it over in DEPLOYED_* variables; see test/integration/deployed.ts).
 *
 * A suite reads everything through it: the API's origin, a token per role, the exports bucket,
 * and the names it creates (`name`, `planId`: unchanged locally, prefixed by the run's namespace on
 * a shared stage). A part that needs the local runtime's internals is declared with `whereLocal`
 * and skipped on a stage with its reason in its title.
 *
 * The embedder is the target's too (`embedding`): locally the runtime's default, the hashing
 * embedder `local-hash-v1` (384 dimensions, texts are near when they share words); on a stage
 * whatever its GET /api/v1/version reports, read once per run by the runner (an AWS stage's
 * default is OpenAI's). A check of which texts are nearest to a text query is declared with
 * `whereLocalEmbedder` and skipped where the embedder is another one.
 */

export type Caller = ReturnType<typeof apiCaller>;

/** The group a local person gets for a role (shared/auth/roles.ts). */
const GROUP_OF: Record<Exclude<Role, 'public'>, Group> = {
  reader: 'readonly',
  writer: 'user',
  admin: 'admin',
};
/** The scopes a machine asks for per role; a machine never gets `admin` (infra/constructs/identity.ts). */
const SCOPES_OF: Record<'reader' | 'writer', readonly ScopeName[]> = {
  reader: ['read'],
  writer: ['read', 'write'],
};

/**
 * The embedding of the local runtime the suites start (no EMBEDDER set: shared/config.ts), written
 * out rather than imported, so that the local run checks the platform against it.
 */
export const LOCAL_EMBEDDING: Readonly<Embedding> = { model: 'local-hash-v1', dimensions: 384 };

/**
 * Whether texts are embedded by the hashing embedder the suites' expected neighbours were written
 * for: its model at its dimensions. Any other (OpenAI's, another size) ranks texts otherwise.
 */
export const isLocalEmbedder = (e: Embedding): boolean =>
  e.model === LOCAL_EMBEDDING.model && e.dimensions === LOCAL_EMBEDDING.dimensions;

export interface Target {
  readonly local: boolean;
  /** The platform's embedder: `local-hash-v1`/384 locally, a stage's as its GET /version reports it. */
  readonly embedding: Readonly<Embedding>;
  /** Whether that is the hashing embedder (`isLocalEmbedder`): the suites' expected neighbours hold. */
  readonly localEmbedder: boolean;
  /** `the local runtime` or `stage dev (https://…)`. */
  readonly label: string;
  /** The prefix of what the run creates: empty locally (each file has its own data folder). */
  readonly namespace: string;
  /** The API's origin; routes are `${apiUrl()}/api/v1/...`. */
  apiUrl(): string;
  /** `fetch` as this target needs it (a stage's waits out 429s). */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /** The token source for a role, or why there is none on this target. */
  token(role: Exclude<Role, 'public'>): (() => Promise<string>) | string;
  /** The role of `call`: the strongest this target gives suites (admin locally, writer on a stage). */
  readonly role: Exclude<Role, 'public'>;
  /** Calls with the strongest token this target gives suites: admin locally, the machine's read+write on a stage. */
  readonly call: Caller;
  /** Calls with a role's token; throws (naming why) when the target has none for it. */
  caller(role: Exclude<Role, 'public'>, base?: string): Caller;
  /** A collection (or other single-segment) name in the run's namespace. */
  name(base: string): string;
  /** A plan id in the run's namespace (a folder of its own). */
  planId(id: string): string;
  /** A plan's URL id (`/` written `~`) in the run's namespace. */
  planUrlId(id: string): string;
  /** Whether a plan id (`/` or `~` form) or a name is the run's own (always, locally). */
  ours(idOrName: string): boolean;
  /** Why uploads to the exports bucket cannot be made here, or undefined when they can. */
  uploadsUnavailable(): Promise<string | undefined>;
  /** Puts an object in the exports bucket; locally, waits for its notification to be delivered. */
  upload(key: string, body: string): Promise<void>;
  /** Reads an object of the exports bucket as text. */
  download(key: string): Promise<string>;
  /** Deletes the objects a suite uploaded (a stage only; a local data folder is removed whole). */
  removeObjects(keys: readonly string[]): Promise<void>;
  /** Deletes collections with an administrator's token if there is one; names those left. */
  removeCollections(names: readonly string[]): Promise<void>;
  /** The local runtime (throws on a stage). */
  runtime(): LocalRuntime;
}

/**
 * The suite's target. Locally it reads the runtime through `runtime` (a test may restart it); on a
 * stage the argument is unused.
 */
export function testTarget(runtime: () => LocalRuntime, env: Env = process.env): Target {
  return env.TEST_TARGET === 'deployed' ? deployedTarget(configFromEnv(env), env) : localTarget(runtime);
}

/** Whether this process tests a deployed stage. */
export const onStage = process.env.TEST_TARGET === 'deployed';

/**
 * A `describe` that runs only when `reason` is undefined; otherwise skipped with the reason in its
 * title. Locally the title is the same as a plain `describe`'s.
 */
export function describeWhere(reason: string | undefined, title: string, body: () => void): void {
  if (reason === undefined) describe(title, body);
  else describe.skip(`${title} [skipped: ${reason}]`, body);
}

/** The same for one test. */
export function itWhere(
  reason: string | undefined,
  title: string,
  body: () => Promise<void>,
  timeout?: number,
): void {
  if (reason === undefined) it(title, body, timeout);
  else it.skip(`${title} [skipped: ${reason}]`, body, timeout);
}

/** Undefined locally; on a stage, `local only: <why>`. */
export const whereLocal = (why: string): string | undefined => (onStage ? `local only: ${why}` : undefined);

/**
 * Undefined where texts are embedded by the hashing embedder (always locally); elsewhere, one line
 * naming the target's embedder and what of the test depends on the local one's ranking.
 */
export const whereLocalEmbedder = (
  target: Pick<Target, 'embedding' | 'localEmbedder'>,
  why: string,
): string | undefined =>
  target.localEmbedder
    ? undefined
    : `needs the local embedder (${LOCAL_EMBEDDING.model}/${LOCAL_EMBEDDING.dimensions}), this one is ${target.embedding.model}/${target.embedding.dimensions}: ${why}`;

function localTarget(runtime: () => LocalRuntime): Target {
  const caller = (role: Exclude<Role, 'public'>, base = '') =>
    apiCaller(() => `${runtime().apiUrl}${base}`, tokenFor(runtime, [GROUP_OF[role]]));
  let s3: S3Client | undefined;
  const client = () => {
    s3 ??= s3ClientOf(runtime());
    return s3;
  };
  return {
    local: true,
    embedding: LOCAL_EMBEDDING,
    localEmbedder: isLocalEmbedder(LOCAL_EMBEDDING),
    label: 'the local runtime',
    namespace: '',
    apiUrl: () => runtime().apiUrl,
    fetch: (url, init) => fetch(url, init),
    token: (role) => tokenFor(runtime, [GROUP_OF[role]]),
    role: 'admin',
    call: caller('admin'),
    caller,
    name: (base) => base,
    planId: (id) => id,
    planUrlId: (id) => id.replaceAll('/', '~'),
    ours: () => true,
    uploadsUnavailable: async () => undefined,
    async upload(key, body) {
      await client().send(new PutObjectCommand({ Bucket: runtime().bucket, Key: key, Body: body }));
      await runtime().notificationsSettled();
    },
    async download(key) {
      const out = await client().send(new GetObjectCommand({ Bucket: runtime().bucket, Key: key }));
      return out.Body!.transformToString();
    },
    removeObjects: async () => {},
    removeCollections: async () => {},
    runtime,
  };
}

/** The configuration `npm run test:deployed` hands over (DEPLOYED_* variables). */
export function configFromEnv(env: Env): DeployedConfig & { namespace: string; embedding: Embedding } {
  const apiUrl = env[DEPLOYED_ENV.apiUrl];
  const namespace = env[DEPLOYED_ENV.namespace];
  const model = env[DEPLOYED_ENV.embeddingModel];
  const dimensions = Number(env[DEPLOYED_ENV.embeddingDimensions]);
  const client =
    env[DEPLOYED_ENV.tokenUrl] && env[DEPLOYED_ENV.clientId] && env[DEPLOYED_ENV.clientSecret]
      ? {
          tokenUrl: env[DEPLOYED_ENV.tokenUrl]!,
          clientId: env[DEPLOYED_ENV.clientId]!,
          clientSecret: env[DEPLOYED_ENV.clientSecret]!,
        }
      : undefined;
  const writer = env[DEPLOYED_ENV.token];
  const reader = env[DEPLOYED_ENV.readerToken];
  if (!apiUrl || !namespace || (!client && !writer) || !model || !Number.isInteger(dimensions)) {
    throw new Error(
      'TEST_TARGET=deployed: run the deployed suite through `npm run test:deployed`, which reads the stage (STAGE) and sets DEPLOYED_API_URL, DEPLOYED_NAMESPACE, the machine client and the embedding (DEPLOYED_EMBEDDING_MODEL, DEPLOYED_EMBEDDING_DIMENSIONS, from GET /api/v1/version)',
    );
  }
  return {
    apiUrl,
    namespace,
    embedding: { model, dimensions },
    ...(env.STAGE ? { stage: env.STAGE } : {}),
    ...(client ? { client } : {}),
    ...(writer || reader ? { tokens: { writer, reader } } : {}),
    ...(env[DEPLOYED_ENV.adminToken] ? { adminToken: env[DEPLOYED_ENV.adminToken] } : {}),
    ...(env[DEPLOYED_ENV.bucket] ? { bucket: env[DEPLOYED_ENV.bucket] } : {}),
    ...(env[DEPLOYED_ENV.s3Endpoint] ? { s3Endpoint: env[DEPLOYED_ENV.s3Endpoint] } : {}),
    ...((env.AWS_REGION ?? env.AWS_DEFAULT_REGION)
      ? { region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION }
      : {}),
  };
}

/** Tokens by the client-credentials grant, one per scope set, renewed five minutes before they expire. */
function machineTokens(client: NonNullable<DeployedConfig['client']>) {
  const cache = new Map<string, { token: string; renewAt: number }>();
  return (scopes: readonly ScopeName[]) => async (): Promise<string> => {
    const key = scopes.join(' ');
    const hit = cache.get(key);
    if (hit && Date.now() < hit.renewAt) return hit.token;
    const { url, init } = tokenRequest(client, scopes);
    const res = await fetch(url, init);
    const { accessToken, expiresIn } = tokenOf(res.status, await res.text());
    cache.set(key, { token: accessToken, renewAt: Date.now() + Math.max(60, expiresIn - 300) * 1000 });
    return accessToken;
  };
}

function deployedTarget(
  config: DeployedConfig & { namespace: string; embedding: Embedding },
  env: Env,
): Target {
  const ns = config.namespace;
  const machine = config.client ? machineTokens(config.client) : undefined;
  const token = (role: Exclude<Role, 'public'>): (() => Promise<string>) | string => {
    if (role === 'admin') {
      return 'a machine client gets the read and write scopes only, never admin (infra/constructs/identity.ts)';
    }
    const ready = role === 'writer' ? config.tokens?.writer : config.tokens?.reader;
    if (ready) return async () => ready;
    if (machine) return machine(SCOPES_OF[role]);
    return `no ${role} token (${role === 'reader' ? DEPLOYED_ENV.readerToken : DEPLOYED_ENV.token} is not set)`;
  };
  const caller = (role: Exclude<Role, 'public'>, base = ''): Caller => {
    const source = token(role);
    if (typeof source === 'string') throw new Error(`no ${role} token on this stage: ${source}`);
    return apiCaller(() => `${config.apiUrl}${base}`, source, patientFetch);
  };
  const s3Config: S3ClientConfig = {
    ...(config.region ? { region: config.region } : {}),
    ...(config.s3Endpoint ? { endpoint: config.s3Endpoint, forcePathStyle: true } : {}),
  };
  let s3: S3Client | undefined;
  const client = () => {
    s3 ??= new S3Client(s3Config);
    return s3;
  };
  let probed: Promise<string | undefined> | undefined;
  const bucket = () => {
    if (!config.bucket) throw new Error('no exports bucket');
    return config.bucket;
  };
  return {
    local: false,
    embedding: config.embedding,
    localEmbedder: isLocalEmbedder(config.embedding),
    label: config.stage ? `stage ${config.stage} (${config.apiUrl})` : `the API at ${config.apiUrl}`,
    namespace: ns,
    apiUrl: () => config.apiUrl,
    fetch: patientFetch,
    token,
    role: 'writer',
    call: caller('writer'),
    caller,
    name: (base) => `${ns}-${base}`,
    planId: (id) => `${ns}/${id}`,
    planUrlId: (id) => `${ns}/${id}`.replaceAll('/', '~'),
    ours: (id) => id.startsWith(`${ns}/`) || id.startsWith(`${ns}~`) || id.startsWith(`${ns}-`),
    uploadsUnavailable() {
      // One small object outside every notification prefix, written and deleted: the credentials
      // may or may not write to the bucket (the CI's lookup role reads only).
      probed ??= (async () => {
        if (!config.bucket) return `no exports bucket (ExportsBucketName output or ${DEPLOYED_ENV.bucket})`;
        const key = `integration-probes/${ns}.txt`;
        try {
          await client().send(new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: 'probe' }));
          await client().send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key }));
          return undefined;
        } catch (err) {
          const e = err as { name?: string; message?: string };
          return `these AWS credentials cannot write to the exports bucket ${config.bucket} (${e.name ?? 'Error'}: ${String(e.message).replace(/\s+/g, ' ')})`;
        }
      })();
      return probed;
    },
    async upload(key, body) {
      await client().send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: body }));
    },
    async download(key) {
      const out = await client().send(new GetObjectCommand({ Bucket: bucket(), Key: key }));
      return out.Body!.transformToString();
    },
    async removeObjects(keys) {
      if (!config.bucket) return;
      for (const key of keys) {
        await client()
          .send(new DeleteObjectCommand({ Bucket: bucket(), Key: key }))
          .catch(() => undefined);
      }
    },
    async removeCollections(names) {
      const admin = config.adminToken;
      const left = new Set(names);
      if (admin) {
        const as = { authorization: `Bearer ${admin}` };
        const base = `${config.apiUrl}/api/v1/vectors/collections`;
        const listed = await patientFetch(base, { headers: as });
        const all = listed.ok
          ? ((await listed.json()) as { collections: Array<{ name: string }> }).collections.map((c) => c.name)
          : [];
        for (const name of names) {
          // The collection itself, or a migration's versioned ones (`<name>__<id>`, behind its alias).
          const owned = all.filter((c) => c === name || c.startsWith(`${name}__`));
          let ok = true;
          for (const c of owned) {
            const res = await patientFetch(`${base}/${encodeURIComponent(c)}`, {
              method: 'DELETE',
              headers: as,
            });
            ok &&= res.ok || res.status === 404;
            await res.arrayBuffer();
          }
          if (ok) left.delete(name);
        }
      }
      if (left.size > 0) {
        // One line per suite: a machine may not delete collections (an administrator's route).
        console.warn(
          `left on ${config.stage ?? config.apiUrl}: collections ${[...left].join(', ')} (and a migration's versioned ones behind such an alias; deleting a collection needs an administrator: set ${DEPLOYED_ENV.adminToken}, or DELETE /api/v1/vectors/collections/{name} as one)`,
        );
      }
    },
    runtime: () => {
      throw new Error(`the local runtime is not available when testing ${env.STAGE ?? 'a deployed stage'}`);
    },
  };
}
