import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CognitoIdentityProviderClient,
  DescribeUserPoolClientCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { type ScopeName, scopeOf } from '#shared/auth/roles.ts';

/**
 * How the integration suite finds a deployed stage (`npm run test:deployed`): the stage's stack
 * outputs (API URL, token endpoint, machine client, exports bucket), the machine client's secret,
 * a token by the OAuth2 client-credentials grant, and whether to run, skip or fail when any of it
 * is out of reach. The pure parts are unit-tested (test/unit/deployed-target.test.ts); the AWS
 * calls sit behind `AwsReader`.
 */

/** The variables that give (or override) what is otherwise read from the stage's outputs. */
export const DEPLOYED_ENV = {
  apiUrl: 'DEPLOYED_API_URL',
  tokenUrl: 'DEPLOYED_TOKEN_URL',
  clientId: 'DEPLOYED_CLIENT_ID',
  clientSecret: 'DEPLOYED_CLIENT_SECRET',
  bucket: 'DEPLOYED_EXPORTS_BUCKET',
  /** Ready tokens instead of the client-credentials grant: read and write, and read only. */
  token: 'DEPLOYED_TOKEN',
  readerToken: 'DEPLOYED_READER_TOKEN',
  /** An administrator's access token (a person of group `admin`), used only to clean up. */
  adminToken: 'DEPLOYED_ADMIN_TOKEN',
  /** Another S3 endpoint for the exports bucket (a local simulation). */
  s3Endpoint: 'DEPLOYED_S3_ENDPOINT',
  /** The prefix of every name the run creates, set once per run by the runner. */
  namespace: 'DEPLOYED_NAMESPACE',
  /** The stage's embedding model and dimensions, read once per run by the runner from GET /version. */
  embeddingModel: 'DEPLOYED_EMBEDDING_MODEL',
  embeddingDimensions: 'DEPLOYED_EMBEDDING_DIMENSIONS',
} as const;

/** The edge stack's region: CloudFront takes web ACLs and certificates from there only. */
export const EDGE_REGION = 'us-east-1';

/** The embedder a platform reports (GET /api/v1/version's `embedding`, without its provider). */
export interface Embedding {
  model: string;
  dimensions: number;
}

/** What the suite needs to talk to a deployed stage. */
export interface DeployedConfig {
  stage?: string;
  /** The API's origin, no trailing slash: routes are `${apiUrl}/api/v1/...`. */
  apiUrl: string;
  /** The machine client and its token endpoint; absent when ready tokens are given. */
  client?: { tokenUrl: string; clientId: string; clientSecret: string };
  /** Ready tokens (DEPLOYED_TOKEN, DEPLOYED_READER_TOKEN). */
  tokens?: { writer?: string; reader?: string };
  adminToken?: string;
  bucket?: string;
  region?: string;
  s3Endpoint?: string;
  /** The stage's embedder, as its GET /api/v1/version reports it (`readEmbedding`, by the runner). */
  embedding?: Embedding;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The stacks of a stage (infra/app.ts). */
export function stackNames(stage: string): { stateful: string; edge: string } {
  return { stateful: `VectorPlatform-${stage}-Stateful`, edge: `VectorPlatform-${stage}-Edge` };
}

/** A stack's outputs by key, from a DescribeStacks answer's stack. */
export function outputsOf(stack: {
  Outputs?: Array<{ OutputKey?: string; OutputValue?: string }>;
}): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const o of stack.Outputs ?? []) {
    if (o.OutputKey && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
  }
  return outputs;
}

/** Why the suite cannot reach the stage, in one line. */
export class TargetUnavailable extends Error {
  override name = 'TargetUnavailable';
}

function need(outputs: Record<string, string>, stack: string, key: string): string {
  const value = outputs[key];
  if (!value) throw new TargetUnavailable(`stack ${stack} has no output ${key}`);
  return value;
}

/** `https://host/` or `https://host/api/v1/` → `https://host`: tests add `/api/v1/...`. */
export function apiOrigin(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
}

/** The AWS calls resolution makes, as functions (faked in unit tests). */
export interface AwsReader {
  /** `region` undefined: the SDK's own (AWS_REGION, the profile's). */
  stackOutputs(stackName: string, region: string | undefined): Promise<Record<string, string>>;
  clientSecret(userPoolId: string, clientId: string, region: string | undefined): Promise<string>;
}

const set = (env: Env, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value ? value : undefined;
};

/**
 * The deployed stage's configuration: each DEPLOYED_* variable set wins; whatever is missing is
 * read from the stacks of STAGE (the stateful stack in the SDK's region, AWS_REGION or the
 * profile's; the edge stack in us-east-1)
 * and the machine client's secret from Cognito. Throws `TargetUnavailable` (one-line reason)
 * when something cannot be had; AWS errors are turned into one line by `reasonOf`.
 */
export async function resolveDeployed(env: Env, aws: AwsReader): Promise<DeployedConfig> {
  const given = {
    apiUrl: set(env, DEPLOYED_ENV.apiUrl),
    tokenUrl: set(env, DEPLOYED_ENV.tokenUrl),
    clientId: set(env, DEPLOYED_ENV.clientId),
    clientSecret: set(env, DEPLOYED_ENV.clientSecret),
    bucket: set(env, DEPLOYED_ENV.bucket),
    token: set(env, DEPLOYED_ENV.token),
    readerToken: set(env, DEPLOYED_ENV.readerToken),
  };
  const stage = set(env, 'STAGE');
  const region = set(env, 'AWS_REGION') ?? set(env, 'AWS_DEFAULT_REGION');
  const common = {
    ...(stage ? { stage } : {}),
    ...(region ? { region } : {}),
    ...(set(env, DEPLOYED_ENV.adminToken) ? { adminToken: set(env, DEPLOYED_ENV.adminToken) } : {}),
    ...(set(env, DEPLOYED_ENV.s3Endpoint) ? { s3Endpoint: set(env, DEPLOYED_ENV.s3Endpoint) } : {}),
  };
  const tokens =
    given.token || given.readerToken ? { writer: given.token, reader: given.readerToken } : undefined;
  const clientGiven = given.tokenUrl && given.clientId && given.clientSecret;

  // Everything given: no AWS call at all (a user without DescribeStacks rights).
  if (given.apiUrl && (tokens || clientGiven)) {
    return {
      ...common,
      apiUrl: apiOrigin(given.apiUrl),
      ...(tokens ? { tokens } : {}),
      ...(clientGiven
        ? {
            client: {
              tokenUrl: given.tokenUrl!,
              clientId: given.clientId!,
              clientSecret: given.clientSecret!,
            },
          }
        : {}),
      ...(given.bucket ? { bucket: given.bucket } : {}),
    };
  }
  if (!stage) {
    throw new TargetUnavailable(
      `STAGE is not set (the stage to test, e.g. STAGE=dev), nor ${DEPLOYED_ENV.apiUrl} with ${DEPLOYED_ENV.token} or the ${DEPLOYED_ENV.clientId}/${DEPLOYED_ENV.clientSecret}/${DEPLOYED_ENV.tokenUrl} triple`,
    );
  }

  const names = stackNames(stage);
  const apiUrl = given.apiUrl ?? need(await aws.stackOutputs(names.edge, EDGE_REGION), names.edge, 'ApiUrl');
  let client: DeployedConfig['client'];
  let bucket = given.bucket;
  if (!tokens || !bucket) {
    const stateful = await aws.stackOutputs(names.stateful, region);
    bucket ??= stateful.ExportsBucketName;
    if (!tokens) {
      const clientId = given.clientId ?? need(stateful, names.stateful, 'MachineClientId');
      client = {
        tokenUrl: given.tokenUrl ?? need(stateful, names.stateful, 'TokenEndpoint'),
        clientId,
        clientSecret:
          given.clientSecret ??
          (await aws.clientSecret(need(stateful, names.stateful, 'UserPoolId'), clientId, region)),
      };
    }
  }
  return {
    ...common,
    apiUrl: apiOrigin(apiUrl),
    ...(client ? { client } : {}),
    ...(tokens ? { tokens } : {}),
    ...(bucket ? { bucket } : {}),
  };
}

/** The AWS SDK behind `AwsReader`: the default credential chain (env, profile, SSO, web identity). */
export function sdkReader(): AwsReader & { destroy(): void } {
  const clients: Array<{ destroy(): void }> = [];
  const cfn = new Map<string, CloudFormationClient>();
  const cognito = new Map<string, CognitoIdentityProviderClient>();
  const of = <T extends { destroy(): void }>(
    map: Map<string, T>,
    region: string | undefined,
    make: () => T,
  ): T => {
    let client = map.get(region ?? '');
    if (!client) {
      client = make();
      map.set(region ?? '', client);
      clients.push(client);
    }
    return client;
  };
  return {
    async stackOutputs(stackName, region) {
      const out = await of(
        cfn,
        region,
        () => new CloudFormationClient({ ...(region ? { region } : {}), maxAttempts: 2 }),
      ).send(new DescribeStacksCommand({ StackName: stackName }));
      const stack = out.Stacks?.[0];
      if (!stack)
        throw new TargetUnavailable(`stack ${stackName} not found in ${region ?? 'the SDK region'}`);
      return outputsOf(stack);
    },
    async clientSecret(userPoolId, clientId, region) {
      const out = await of(
        cognito,
        region,
        () => new CognitoIdentityProviderClient({ ...(region ? { region } : {}), maxAttempts: 2 }),
      ).send(new DescribeUserPoolClientCommand({ UserPoolId: userPoolId, ClientId: clientId }));
      const secret = out.UserPoolClient?.ClientSecret;
      if (!secret) throw new TargetUnavailable(`the machine client ${clientId} has no secret`);
      return secret;
    },
    destroy: () => {
      for (const c of clients) c.destroy();
    },
  };
}

/** An error of resolution as one line: what is missing, and the AWS message. */
export function reasonOf(err: unknown, stage?: string): string {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  const message = String(e?.message ?? err)
    .replace(/\s+/g, ' ')
    .trim();
  const name = e?.name ?? '';
  if (err instanceof TargetUnavailable) return message;
  if (/Region is missing/i.test(message)) return `no AWS region for the stage's stacks (set AWS_REGION)`;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return `no AWS credentials to read the stage's outputs (${message})`;
  }
  if (/AccessDenied|UnauthorizedOperation|NotAuthorized|ExpiredToken|InvalidClientTokenId/.test(name)) {
    return `the AWS credentials may not read the stage's outputs or its machine client (${name}: ${message})`;
  }
  if (name === 'ValidationError' && /does not exist/.test(message)) {
    return `stage ${stage ?? '?'} is not deployed here (${message})`;
  }
  const code = e?.code ?? e?.cause?.code;
  if (code && /^(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH)$/.test(code)) {
    return `AWS cannot be reached (${code})`;
  }
  return name && !message.startsWith(name) ? `${name}: ${message}` : message;
}

/** Run the suite, skip it with one line, or fail with one line. */
export type Verdict =
  | { kind: 'run'; config: DeployedConfig }
  | { kind: 'skip'; line: string }
  | { kind: 'fail'; line: string };

const truthy = (value: string | undefined) => value !== undefined && /^(1|true|yes)$/i.test(value.trim());

/**
 * Whether a stage that cannot be reached fails the run: in CI (`CI`, which GitHub Actions sets) or
 * when DEPLOYED_REQUIRED is set, a missing credential is a failure, never a pass; on a laptop it
 * is a one-line skip.
 */
export function required(env: Env): boolean {
  return truthy(env.CI) || truthy(env.DEPLOYED_REQUIRED);
}

export function verdict(outcome: { config: DeployedConfig } | { reason: string }, env: Env): Verdict {
  if ('config' in outcome) return { kind: 'run', config: outcome.config };
  return required(env)
    ? { kind: 'fail', line: `test:deployed failed: ${outcome.reason}` }
    : {
        kind: 'skip',
        line: `test:deployed skipped: ${outcome.reason} (see docs/deploying.md, "Testing a deployed stage")`,
      };
}

/** The variables a resolved configuration is handed to the test processes in. */
export function envOf(config: DeployedConfig, namespace: string): Record<string, string> {
  const out: Record<string, string> = { TEST_TARGET: 'deployed', [DEPLOYED_ENV.apiUrl]: config.apiUrl };
  out[DEPLOYED_ENV.namespace] = namespace;
  if (config.stage) out.STAGE = config.stage;
  if (config.client) {
    out[DEPLOYED_ENV.tokenUrl] = config.client.tokenUrl;
    out[DEPLOYED_ENV.clientId] = config.client.clientId;
    out[DEPLOYED_ENV.clientSecret] = config.client.clientSecret;
  }
  if (config.tokens?.writer) out[DEPLOYED_ENV.token] = config.tokens.writer;
  if (config.tokens?.reader) out[DEPLOYED_ENV.readerToken] = config.tokens.reader;
  if (config.adminToken) out[DEPLOYED_ENV.adminToken] = config.adminToken;
  if (config.bucket) out[DEPLOYED_ENV.bucket] = config.bucket;
  if (config.s3Endpoint) out[DEPLOYED_ENV.s3Endpoint] = config.s3Endpoint;
  if (config.embedding) {
    out[DEPLOYED_ENV.embeddingModel] = config.embedding.model;
    out[DEPLOYED_ENV.embeddingDimensions] = String(config.embedding.dimensions);
  }
  return out;
}

/**
 * The embedding of GET /api/v1/version's answer (`{ embedding: { provider, model, dimensions } }`,
 * shared/platform/version.ts): the platform's own word on which embedder its functions use, the
 * same configuration as the vector and task handlers'. Throws `TargetUnavailable` (one line) when
 * the answer is not that.
 */
export function embeddingOf(status: number, body: string, url: string): Embedding {
  let parsed: { embedding?: { model?: unknown; dimensions?: unknown } } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // reported below
  }
  const { model, dimensions } = parsed.embedding ?? {};
  if (status !== 200 || typeof model !== 'string' || model === '' || !Number.isInteger(dimensions)) {
    const shown = body.replace(/\s+/g, ' ').slice(0, 200);
    throw new TargetUnavailable(
      `${url} answered ${status} without an embedding model and dimensions: ${shown}`,
    );
  }
  return { model, dimensions: dimensions as number };
}

/**
 * `fetch` that waits out a 429 (a shared stage's WAF and throttles count this run with everyone
 * else's), at most three times, as long as `Retry-After` says (capped at 60 s).
 */
export async function patientFetch(input: string | URL, init?: RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(input, init);
    if (res.status !== 429 || attempt === 3) return res;
    const wait = Math.min(60, Number(res.headers.get('retry-after')) || 2 ** attempt);
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, wait * 1000));
  }
}

/**
 * The stage's embedder, read once per run (by the runner, before the suites start) from its public
 * GET /api/v1/version. An API that cannot be reached is a one-line `TargetUnavailable`.
 */
export async function readEmbedding(
  apiUrl: string,
  fetchFn: (url: string) => Promise<Response> = patientFetch,
): Promise<Embedding> {
  const url = `${apiUrl}/api/v1/version`;
  let res: Response;
  try {
    res = await fetchFn(url);
  } catch (err) {
    const e = err as { message?: string; code?: string; cause?: { code?: string } };
    throw new TargetUnavailable(
      `the API cannot be reached at ${url} (${e.code ?? e.cause?.code ?? e.message})`,
    );
  }
  return embeddingOf(res.status, await res.text(), url);
}

/**
 * A run's namespace, the prefix of every collection, plan and object it creates on the shared
 * stage: `it-<UTC yyyymmddhhmm>-<4 hex>`, valid in collection names and plan ids alike.
 */
export function namespaceOf(now: Date, random: number): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 12);
  return `it-${stamp}-${Math.floor(random * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;
}

/** The client-credentials request for `scopes` (RFC 6749 §4.4, client secret by HTTP Basic). */
export function tokenRequest(
  client: NonNullable<DeployedConfig['client']>,
  scopes: readonly ScopeName[],
): { url: string; init: { method: 'POST'; headers: Record<string, string>; body: string } } {
  const basic = Buffer.from(
    `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`,
  ).toString('base64');
  return {
    url: client.tokenUrl,
    init: {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: scopes.map(scopeOf).join(' '),
      }).toString(),
    },
  };
}

/** The token endpoint's answer: the access token and its lifetime, or an error naming the endpoint's. */
export function tokenOf(status: number, body: string): { accessToken: string; expiresIn: number } {
  let parsed: { access_token?: unknown; expires_in?: unknown; error?: unknown } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // reported below
  }
  if (status !== 200 || typeof parsed.access_token !== 'string') {
    const error = typeof parsed.error === 'string' ? parsed.error : body.slice(0, 200);
    throw new Error(`the token endpoint answered ${status}: ${error}`);
  }
  const expiresIn = typeof parsed.expires_in === 'number' ? parsed.expires_in : 3600;
  return { accessToken: parsed.access_token, expiresIn };
}
