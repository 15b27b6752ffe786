import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { z } from 'zod';
import { DEFAULT_EMAIL_FROM, webhookSecretsPrefix } from '../../shared/notifications/settings.ts';
import type { PlatformSettings } from '../function-environment.ts';

/**
 * Per-stage settings, read from CDK context (`cdk.json` or `-c key=value`). Values given with
 * `-c` arrive as strings and values from `cdk.json` as JSON, so every field accepts both.
 *
 * Request limits are not here: the stage throttle, the per-route throttles and the WAF rate rules
 * come from `manifest.limits` and each route's `throttle` (`infra/manifest.ts`), declared once for
 * both runtimes, so a stage cannot deploy limits the local gateway does not enforce.
 */

/** The context keys this app reads; nothing else in the app calls `tryGetContext`. */
export const CONTEXT_KEYS = [
  'stage',
  'embedder',
  'embeddingModel',
  'embeddingDimensions',
  'openaiBaseUrl',
  'defaultCollection',
  'corsOrigins',
  'authDomainPrefix',
  'authCallbackUrls',
  'edgeDomainName',
  'edgeCertificateArn',
  'logRetentionDays',
  'destroyOnRemoval',
  'qdrantUrlParameter',
  'qdrantApiKeySecret',
  'openaiApiKeySecret',
  'notificationsEmailFrom',
  'alarmEmail',
  'alarmApiLatencyP95Ms',
  'alarmApiErrorRatePercent',
  'alarmQueueAgeSeconds',
  'alarmFunctionTimeoutPercent',
  'deploymentConfig',
  'githubRepository',
  'githubOidcProviderArn',
] as const;

export type ContextKey = (typeof CONTEXT_KEYS)[number];

/** Where a command-line sign-in receives its authorization code (README, "Deploying to AWS"). */
export const DEFAULT_CALLBACK_URL = 'http://localhost:8976/callback';

const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

const positiveInt = z.coerce.number().int().positive();

const allowedRetentions = new Set<number>(
  Object.values(RetentionDays).filter((v): v is number => typeof v === 'number' && v > 0),
);

/** A comma-separated string (`-c corsOrigins=https://a,https://b`) or a JSON array (cdk.json). */
const stringList = z
  .union([z.array(z.string()), z.string().transform((s) => s.split(','))])
  .transform((items) => items.map((s) => s.trim()).filter((s) => s !== ''));

// No `*`: requests carry bearer tokens, so only origins the stage names may read answers.
const corsOrigin = z
  .url({ protocol: /^https?$/ })
  // Zod runs this even when the URL check failed, hence `canParse`.
  .refine((u) => URL.canParse(u) && new URL(u).origin === u, 'must be a bare origin (scheme://host[:port])');

/**
 * A Cognito domain prefix: lower-case letters, digits and inner hyphens, globally unique, and
 * without the words Cognito reserves.
 */
const domainPrefix = z
  .string()
  .regex(
    /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
    'lower-case letters, digits and inner "-", 1-63 characters',
  )
  .refine((p) => !/aws|amazon|cognito/.test(p), 'must not contain "aws", "amazon" or "cognito"');

// Where the user client's authorization code grant may return: HTTPS, or plain HTTP to localhost
// (a command-line sign-in), as Cognito allows.
const callbackUrl = z
  .url({ protocol: /^https?$/ })
  .refine(
    (u) => URL.canParse(u) && (new URL(u).protocol === 'https:' || new URL(u).hostname === 'localhost'),
    'must be https, or http://localhost',
  );

const hostName = z
  .string()
  .regex(/^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'a lower-case DNS name');
// CloudFront takes certificates from ACM in us-east-1 only.
const usEast1Certificate = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/[0-9a-f-]{36}$/,
    'an ACM certificate ARN in us-east-1',
  );

// SSM parameter names: letters, digits and `_.-/`; a hierarchy starts with `/`.
const parameterName = z.string().regex(/^[A-Za-z0-9_.\-/]{1,1011}$/, 'invalid SSM parameter name');
// Secret names: letters, digits and `/_+=.@-`.
const secretName = z.string().regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'invalid Secrets Manager secret name');

// `owner/name` as GitHub spells it: the OIDC token's `sub` claim compares it exactly, and no `*`
// can widen the trust.
const githubRepository = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100}$/, 'owner/name of a GitHub repository');
// An account holds one provider per issuer URL: an existing one is referenced, not created twice.
const githubOidcProviderArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/,
    "the ARN of the account's token.actions.githubusercontent.com OIDC provider",
  );

/**
 * How a release shifts each function's `live` alias to its new version: CodeDeploy's predefined
 * Lambda configurations (`CodeDeployDefault.Lambda<name>`). Canary: that share for that long, then
 * all; linear: that share more every interval; all at once: no shift to watch.
 */
export const DEPLOYMENT_CONFIGS = [
  'AllAtOnce',
  'Canary10Percent5Minutes',
  'Canary10Percent10Minutes',
  'Canary10Percent15Minutes',
  'Canary10Percent30Minutes',
  'Linear10PercentEvery1Minute',
  'Linear10PercentEvery2Minutes',
  'Linear10PercentEvery3Minutes',
  'Linear10PercentEvery10Minutes',
] as const;
export type DeploymentConfig = (typeof DEPLOYMENT_CONFIGS)[number];
/** Production releases reach 10 % of traffic for 5 minutes first; other stages take them at once. */
const PRODUCTION_DEPLOYMENT_CONFIG: DeploymentConfig = 'Canary10Percent5Minutes';
const DEFAULT_DEPLOYMENT_CONFIG: DeploymentConfig = 'AllAtOnce';

/** The stage whose data is never destroyed and whose logs are kept longer (`docs/deploying.md`). */
export const PRODUCTION_STAGE = 'prod';
const PRODUCTION_LOG_RETENTION_DAYS = 365;

const ContextSchema = z
  .object({
    // Lower case: the stage ends up in the event bus name and stack names.
    stage: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and "-", 1-20 characters')
      .default('dev'),
    // AWS stages use OpenAI by default; the local runtime uses the offline embedder.
    embedder: z.enum(['openai', 'local']).default('openai'),
    // The embedder's defaults (shared/config.ts) unless set; a collection keeps the model that wrote it.
    embeddingModel: z.string().min(1).optional(),
    embeddingDimensions: positiveInt.max(16_000).optional(),
    openaiBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
    defaultCollection: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,255}$/, 'letters, digits, "_" or "-"')
      .optional(),
    // None by default: no CORS configuration at all, so browsers on other origins get no answer.
    corsOrigins: stringList.pipe(z.array(corsOrigin)).default([]),
    authDomainPrefix: domainPrefix.optional(),
    authCallbackUrls: stringList.pipe(z.array(callbackUrl).min(1)).default([DEFAULT_CALLBACK_URL]),
    edgeDomainName: hostName.optional(),
    edgeCertificateArn: usEast1Certificate.optional(),
    // Default per stage: PRODUCTION_LOG_RETENTION_DAYS for `prod`, 30 for the others.
    logRetentionDays: positiveInt
      .refine(
        (d) => allowedRetentions.has(d),
        'must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, …)',
      )
      .optional(),
    // Data (bucket, table, queues' logs) is retained unless a throwaway stage says otherwise.
    destroyOnRemoval: flag.default(false),
    qdrantUrlParameter: parameterName.optional(),
    qdrantApiKeySecret: secretName.optional(),
    openaiApiKeySecret: secretName.optional(),
    // An address of an SES identity verified in the stage's account and region.
    notificationsEmailFrom: z.email().optional(),
    alarmEmail: z.email().optional(),
    // Alarm thresholds (docs/operations.md): API p95 latency, API 5xx share, oldest queued message.
    alarmApiLatencyP95Ms: positiveInt.max(30_000).default(500),
    alarmApiErrorRatePercent: z.coerce.number().positive().max(100).default(1),
    alarmQueueAgeSeconds: positiveInt.max(1_209_600).default(900),
    alarmFunctionTimeoutPercent: positiveInt.max(100).default(80),
    // Default per stage: PRODUCTION_DEPLOYMENT_CONFIG for `prod`, DEFAULT_DEPLOYMENT_CONFIG otherwise.
    deploymentConfig: z.enum(DEPLOYMENT_CONFIGS).optional(),
    githubRepository: githubRepository.optional(),
    githubOidcProviderArn: githubOidcProviderArn.optional(),
  })
  .check((ctx) => {
    if (ctx.value.githubOidcProviderArn !== undefined && ctx.value.githubRepository === undefined) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value.githubOidcProviderArn,
        path: ['githubOidcProviderArn'],
        message: 'needs githubRepository (it only serves the deploy access stack)',
      });
    }
    // Production keeps its data whatever a context says: only other stages may be thrown away.
    if (ctx.value.stage === PRODUCTION_STAGE && ctx.value.destroyOnRemoval) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value.destroyOnRemoval,
        path: ['destroyOnRemoval'],
        message: `the ${PRODUCTION_STAGE} stage retains its data: only other stages may be destroyed`,
      });
    }
    if ((ctx.value.edgeDomainName === undefined) !== (ctx.value.edgeCertificateArn === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value.edgeDomainName ?? ctx.value.edgeCertificateArn,
        path: [ctx.value.edgeDomainName === undefined ? 'edgeDomainName' : 'edgeCertificateArn'],
        message: 'edgeDomainName and edgeCertificateArn go together',
      });
    }
  });

export interface StageSettings {
  stage: string;
  /** What the functions read (`infra/function-environment.ts`). */
  platform: PlatformSettings;
  /** Origins allowed by CORS; empty: no CORS configuration. */
  corsOrigins: string[];
  auth: {
    /** The Cognito domain prefix (`<prefix>.auth.<region>.amazoncognito.com`), globally unique. */
    domainPrefix: string;
    /** Where the user client's authorization code grant may return. */
    callbackUrls: string[];
  };
  /** The edge's own domain and its us-east-1 certificate; without it, `*.cloudfront.net`. */
  edgeDomain?: { name: string; certificateArn: string };
  logRetention: RetentionDays;
  /** Applied to data-bearing resources and log groups. */
  removalPolicy: RemovalPolicy;
  /** Names of values the operator creates outside the stacks; never their values. */
  references: {
    qdrantUrlParameter: string;
    qdrantApiKeySecret: string;
    openaiApiKeySecret: string;
    /** The name prefix the notifications manager creates its webhook secrets under. */
    webhookSecretsPrefix: string;
    /** The verified SES address notifications are sent from. */
    notificationsEmailFrom: string;
  };
  alarmEmail?: string;
  /** How a release shifts traffic to a function's new version (`infra/constructs/releases.ts`). */
  deploymentConfig: DeploymentConfig;
  /** Thresholds of the operations stack's alarms. */
  alarms: {
    /** API p95 latency (AWS/ApiGateway `Latency`) above this, in milliseconds. */
    apiLatencyP95Ms: number;
    /** API 5xx answers above this share of requests, in percent. */
    apiErrorRatePercent: number;
    /** A queue's oldest message older than this, in seconds (SQS keeps messages 14 days at most). */
    queueAgeSeconds: number;
    /**
     * A function no route invokes: p95 duration above this share of its timeout, in percent (a
     * function that routes invoke is held to `apiLatencyP95Ms`). Rolls a release back.
     */
    functionTimeoutPercent: number;
  };
  /** Present when the app also defines the deploy access stack (GitHub OIDC and the CI role). */
  deployAccess?: { repository: string; oidcProviderArn?: string };
}

/** Parses raw context values; throws one error naming every bad key. */
export function parseSettings(raw: Partial<Record<ContextKey, unknown>>): StageSettings {
  const result = ContextSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || '(context)'}: ${i.message}`);
    throw new Error(`Invalid CDK context: ${lines.join('; ')}`);
  }
  const c = result.data;
  return {
    stage: c.stage,
    platform: {
      embedder: c.embedder,
      ...(c.embeddingModel ? { embeddingModel: c.embeddingModel } : {}),
      ...(c.embeddingDimensions ? { embeddingDimensions: String(c.embeddingDimensions) } : {}),
      ...(c.openaiBaseUrl ? { openaiBaseUrl: c.openaiBaseUrl } : {}),
      ...(c.defaultCollection ? { defaultCollection: c.defaultCollection } : {}),
    },
    corsOrigins: c.corsOrigins,
    auth: {
      domainPrefix: c.authDomainPrefix ?? `vector-platform-${c.stage}`,
      callbackUrls: c.authCallbackUrls,
    },
    ...(c.edgeDomainName && c.edgeCertificateArn
      ? { edgeDomain: { name: c.edgeDomainName, certificateArn: c.edgeCertificateArn } }
      : {}),
    logRetention: (c.logRetentionDays ??
      (c.stage === PRODUCTION_STAGE ? PRODUCTION_LOG_RETENTION_DAYS : 30)) as RetentionDays,
    removalPolicy: c.destroyOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    references: {
      qdrantUrlParameter: c.qdrantUrlParameter ?? `/vector-platform/${c.stage}/qdrant-url`,
      qdrantApiKeySecret: c.qdrantApiKeySecret ?? `vector-platform/${c.stage}/qdrant-api-key`,
      openaiApiKeySecret: c.openaiApiKeySecret ?? `vector-platform/${c.stage}/openai-api-key`,
      webhookSecretsPrefix: webhookSecretsPrefix(c.stage),
      notificationsEmailFrom: c.notificationsEmailFrom ?? DEFAULT_EMAIL_FROM,
    },
    ...(c.alarmEmail ? { alarmEmail: c.alarmEmail } : {}),
    alarms: {
      apiLatencyP95Ms: c.alarmApiLatencyP95Ms,
      apiErrorRatePercent: c.alarmApiErrorRatePercent,
      queueAgeSeconds: c.alarmQueueAgeSeconds,
      functionTimeoutPercent: c.alarmFunctionTimeoutPercent,
    },
    deploymentConfig:
      c.deploymentConfig ??
      (c.stage === PRODUCTION_STAGE ? PRODUCTION_DEPLOYMENT_CONFIG : DEFAULT_DEPLOYMENT_CONFIG),
    ...(c.githubRepository
      ? {
          deployAccess: {
            repository: c.githubRepository,
            ...(c.githubOidcProviderArn ? { oidcProviderArn: c.githubOidcProviderArn } : {}),
          },
        }
      : {}),
  };
}

/** Reads the settings from a construct tree's context. */
export function readSettings(node: Node): StageSettings {
  const raw: Partial<Record<ContextKey, unknown>> = {};
  for (const key of CONTEXT_KEYS) {
    const value: unknown = node.tryGetContext(key);
    if (value !== undefined) raw[key] = value;
  }
  return parseSettings(raw);
}
