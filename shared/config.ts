import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { deadLetterUrlVariable, queueUrlVariable, RESOURCE_ENV } from './resource-env.ts';

/**
 * One validated configuration object, read once per cold start. CDK (or the local runtime)
 * sets the environment; secrets are referenced by name and fetched here, never inlined.
 */

const MIGRATIONS_QUEUE_URL = queueUrlVariable('migrations') as 'MIGRATIONS_QUEUE_URL';
const MIGRATIONS_DLQ_URL = deadLetterUrlVariable('migrations') as 'MIGRATIONS_DLQ_URL';
const BACKUPS_QUEUE_URL = queueUrlVariable('backups') as 'BACKUPS_QUEUE_URL';
const NOTIFICATIONDELIVERIES_QUEUE_URL = queueUrlVariable(
  'notificationDeliveries',
) as 'NOTIFICATIONDELIVERIES_QUEUE_URL';

const boolFromEnv = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A JSON object of names to non-empty strings (queue URLs by queue, function ARNs by manager). */
const jsonRecord = z.string().transform((json, ctx) => {
  const parsed = z.record(z.string(), z.string().min(1)).safeParse(safeJson(json));
  if (!parsed.success)
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object of non-empty strings' });
  return parsed.data ?? {};
});

const EnvSchema = z.object({
  STAGE: z.string().min(1).default('local'),
  SERVICE_VERSION: z.string().default('0.1.0'),
  // Qdrant: a plain URL (local runtime, or a user's own Qdrant), or an SSM parameter name (AWS).
  QDRANT_URL: z.url().optional(),
  [RESOURCE_ENV.qdrantUrlParameter]: z.string().min(1).optional(),
  [RESOURCE_ENV.qdrantApiKeySecret]: z.string().min(1).optional(),
  DEFAULT_COLLECTION: z.string().min(1).default('vectors'),
  // Embeddings.
  EMBEDDER: z.enum(['local', 'openai']).default('local'),
  EMBEDDING_MODEL: z.string().min(1).optional(),
  EMBEDDING_DIMENSIONS: z.coerce.number().int().positive().max(16_000).optional(),
  OPENAI_BASE_URL: z.url().optional(),
  [RESOURCE_ENV.openaiApiKeySecret]: z.string().min(1).optional(),
  // Limits.
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(6 * 1024 * 1024),
  // Platform resources (names/URLs set by CDK or the local runtime).
  [RESOURCE_ENV.exportsBucket]: z.string().min(1).optional(),
  [MIGRATIONS_QUEUE_URL]: z.string().min(1).optional(),
  [MIGRATIONS_DLQ_URL]: z.string().min(1).optional(),
  [BACKUPS_QUEUE_URL]: z.string().min(1).optional(),
  [RESOURCE_ENV.eventBus]: z.string().min(1).optional(),
  [RESOURCE_ENV.stateTable]: z.string().min(1).optional(),
  [RESOURCE_ENV.deadLetterQueues]: jsonRecord.optional(),
  // Local runtime only: the file state store's folder and the DynamoDB actions its function is granted.
  STATE_DIR: z.string().min(1).optional(),
  STATE_DIR_ACTIONS: z
    .string()
    .transform((list) => list.split(',').filter((a) => a !== ''))
    .optional(),
  S3_FORCE_PATH_STYLE: boolFromEnv.default(false),
  // Notifications: the delivery queue, the webhook secrets' name prefix, the sender address.
  [NOTIFICATIONDELIVERIES_QUEUE_URL]: z.string().min(1).optional(),
  [RESOURCE_ENV.webhookSecretsPrefix]: z.string().min(1).optional(),
  [RESOURCE_ENV.emailFrom]: z.email().optional(),
  [RESOURCE_ENV.userPoolId]: z.string().min(1).optional(),
  // Workflows (`workflows:manage`): where state machines and roles are made, what tasks invoke.
  [RESOURCE_ENV.workflowStateMachinePrefix]: z.string().min(1).optional(),
  [RESOURCE_ENV.workflowRolePath]: z.string().min(1).optional(),
  [RESOURCE_ENV.workflowRoleBoundary]: z.string().min(1).optional(),
  [RESOURCE_ENV.workflowTaskFunctions]: jsonRecord.optional(),
  // Local runtime only (`npm start` sets it; no stage setting exists for it): webhooks may target loopback.
  WEBHOOK_ALLOW_LOOPBACK: boolFromEnv.default(false),
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  stage: string;
  version: string;
  /** Absent when the function is granted no `qdrant` access (no URL or parameter in its environment). */
  qdrant?: { url: string; apiKey?: string };
  defaultCollection: string;
  embedder:
    | { provider: 'local'; model: string; dimensions: number }
    | {
        provider: 'openai';
        model: string;
        dimensions: number;
        baseUrl?: string;
        /** Secret reference, read on first use; absent in functions granted no `embedder` access. */
        apiKeySecret?: string;
      };
  maxBodyBytes: number;
  exportsBucket?: string;
  migrationQueueUrl?: string;
  migrationDeadLetterQueueUrl?: string;
  backupQueueUrl?: string;
  /** Every declared queue's dead-letter queue URL by queue name (`dead-letters:peek` access only). */
  deadLetterQueues?: Record<string, string>;
  eventBusName?: string;
  /** DynamoDB's table (AWS), or locally a folder of files and the actions granted on it. */
  state: { table?: string; dir?: string; dirActions?: string[] };
  s3ForcePathStyle: boolean;
  /** The Cognito user pool (`users:read` access only). */
  userPoolId?: string;
  /** What `workflows:manage` names: state machine prefix, role path and boundary, task functions. */
  workflows?: {
    stateMachinePrefix: string;
    rolePath: string;
    boundaryArn: string;
    taskFunctions: Record<string, string>;
  };
  /** Absent in fixtures that build a configuration by hand: read as all unset. */
  notifications?: {
    deliveryQueueUrl?: string;
    webhookSecretsPrefix?: string;
    emailFrom?: string;
    allowLoopback: boolean;
  };
}

export const LOCAL_EMBEDDING_MODEL = 'local-hash-v1';
export const LOCAL_EMBEDDING_DIMENSIONS = 384;
export const OPENAI_EMBEDDING_MODEL = 'text-embedding-3-small';
export const OPENAI_EMBEDDING_DIMENSIONS = 1536;

/** Parses the environment; throws a readable error naming every bad variable. */
export function parseEnv(env: NodeJS.ProcessEnv): Env {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration: ${lines.join('; ')}`);
  }
  return result.data;
}

/**
 * The embedder's provider, model and dimensions, from the environment alone: no secret, no network.
 * Functions granted nothing (e.g. `version`) report these without loading the full configuration.
 */
export function embeddingSettings(e: Env): { provider: Env['EMBEDDER']; model: string; dimensions: number } {
  const openai = e.EMBEDDER === 'openai';
  return {
    provider: e.EMBEDDER,
    model: e.EMBEDDING_MODEL ?? (openai ? OPENAI_EMBEDDING_MODEL : LOCAL_EMBEDDING_MODEL),
    dimensions: e.EMBEDDING_DIMENSIONS ?? (openai ? OPENAI_EMBEDDING_DIMENSIONS : LOCAL_EMBEDDING_DIMENSIONS),
  };
}

export async function loadConfig(env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const e = parseEnv(env);
  const qdrantUrl =
    e.QDRANT_URL ?? (e.QDRANT_URL_PARAMETER ? await readParameter(e.QDRANT_URL_PARAMETER) : undefined);
  // An empty key secret stands for a Qdrant that asks for none (the local embedded server).
  const qdrantApiKey =
    qdrantUrl && e.QDRANT_API_KEY_SECRET
      ? await readSecret(e.QDRANT_API_KEY_SECRET, { allowEmpty: true })
      : undefined;

  let embedder: Config['embedder'];
  const embedding = embeddingSettings(e);
  if (embedding.provider === 'openai') {
    // A function granted no `embedder` access has no key reference: it fails only if it embeds.
    embedder = {
      ...embedding,
      provider: 'openai',
      ...(e.OPENAI_BASE_URL ? { baseUrl: e.OPENAI_BASE_URL } : {}),
      ...(e.OPENAI_API_KEY_SECRET ? { apiKeySecret: e.OPENAI_API_KEY_SECRET } : {}),
    };
  } else {
    embedder = { ...embedding, provider: 'local' };
  }

  return {
    stage: e.STAGE,
    version: e.SERVICE_VERSION,
    ...(qdrantUrl ? { qdrant: { url: qdrantUrl, ...(qdrantApiKey ? { apiKey: qdrantApiKey } : {}) } } : {}),
    defaultCollection: e.DEFAULT_COLLECTION,
    embedder,
    maxBodyBytes: e.MAX_BODY_BYTES,
    ...(e.EXPORTS_BUCKET ? { exportsBucket: e.EXPORTS_BUCKET } : {}),
    ...(e.MIGRATIONS_QUEUE_URL ? { migrationQueueUrl: e.MIGRATIONS_QUEUE_URL } : {}),
    ...(e.MIGRATIONS_DLQ_URL ? { migrationDeadLetterQueueUrl: e.MIGRATIONS_DLQ_URL } : {}),
    ...(e.BACKUPS_QUEUE_URL ? { backupQueueUrl: e.BACKUPS_QUEUE_URL } : {}),
    ...(e.EVENT_BUS_NAME ? { eventBusName: e.EVENT_BUS_NAME } : {}),
    ...(e.DEAD_LETTER_QUEUES ? { deadLetterQueues: e.DEAD_LETTER_QUEUES } : {}),
    state: {
      ...(e.STATE_TABLE ? { table: e.STATE_TABLE } : {}),
      ...(e.STATE_DIR ? { dir: e.STATE_DIR } : {}),
      ...(e.STATE_DIR_ACTIONS ? { dirActions: e.STATE_DIR_ACTIONS } : {}),
    },
    s3ForcePathStyle: e.S3_FORCE_PATH_STYLE,
    ...(e.USER_POOL_ID ? { userPoolId: e.USER_POOL_ID } : {}),
    ...(e.WORKFLOW_STATE_MACHINE_PREFIX && e.WORKFLOW_ROLE_PATH && e.WORKFLOW_ROLE_BOUNDARY
      ? {
          workflows: {
            stateMachinePrefix: e.WORKFLOW_STATE_MACHINE_PREFIX,
            rolePath: e.WORKFLOW_ROLE_PATH,
            boundaryArn: e.WORKFLOW_ROLE_BOUNDARY,
            taskFunctions: e.WORKFLOW_TASK_FUNCTIONS ?? {},
          },
        }
      : {}),
    notifications: {
      ...(e.NOTIFICATIONDELIVERIES_QUEUE_URL ? { deliveryQueueUrl: e.NOTIFICATIONDELIVERIES_QUEUE_URL } : {}),
      ...(e.WEBHOOK_SECRETS_PREFIX ? { webhookSecretsPrefix: e.WEBHOOK_SECRETS_PREFIX } : {}),
      ...(e.NOTIFICATIONS_EMAIL_FROM ? { emailFrom: e.NOTIFICATIONS_EMAIL_FROM } : {}),
      allowLoopback: e.WEBHOOK_ALLOW_LOOPBACK,
    },
  };
}

/**
 * A secret's value. Locally (no AWS), `env:NAME` reads another environment variable so a
 * developer can pass a key without Secrets Manager; in AWS the value is a secret name or ARN.
 *
 * Secrets Manager and SSM are called through the SDK, imported on first use: a bundle keeps a
 * dynamic import of an external lazy, so a function that resolves no reference (health, version)
 * never loads them (~120 ms of cold start). Powertools Parameters would not do: a bundle hoists its
 * static imports of both clients. Its cache would add nothing either, as each reference is read
 * once per process (the configuration and the embedder are cached).
 */
export async function readSecret(ref: string, opts: { allowEmpty?: boolean } = {}): Promise<string> {
  if (ref.startsWith('env:')) {
    const value = process.env[ref.slice(4)];
    if (!value && !opts.allowEmpty)
      throw new Error(`Invalid configuration: secret reference ${ref} is empty`);
    return value ?? '';
  }
  const sdk = await import('@aws-sdk/client-secrets-manager');
  // One client per process: a cold start may read two secrets (Qdrant's key, then OpenAI's).
  secretsClient ??= (await tracing()).traced(new sdk.SecretsManagerClient({}));
  const { SecretString } = await secretsClient.send(new sdk.GetSecretValueCommand({ SecretId: ref }));
  if (!SecretString && !opts.allowEmpty) throw new Error(`Invalid configuration: secret ${ref} is empty`);
  return SecretString ?? '';
}

let secretsClient: SecretsManagerClient | undefined;

/** Powertools, on first use too: the CDK app reads this module's schemas and never a secret. */
const tracing = () => import('./powertools.ts');

async function readParameter(name: string): Promise<string> {
  const sdk = await import('@aws-sdk/client-ssm');
  const ssm = (await tracing()).traced(new sdk.SSMClient({}));
  const { Parameter } = await ssm.send(new sdk.GetParameterCommand({ Name: name }));
  if (!Parameter?.Value) throw new Error(`Invalid configuration: parameter ${name} is empty`);
  return Parameter.Value;
}

let cached: Promise<Config> | undefined;

/** The function's configuration, from its environment, loaded once (cold start). */
export function getConfig(): Promise<Config> {
  cached ??= loadConfig().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

/** Forget the cached configuration (the local runtime and tests change the environment). */
export function resetConfig(): void {
  cached = undefined;
}
