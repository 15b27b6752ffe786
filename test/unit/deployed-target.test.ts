import { describe, expect, it } from 'vitest';
import {
  type AwsReader,
  apiOrigin,
  embeddingOf,
  envOf,
  namespaceOf,
  outputsOf,
  readEmbedding,
  reasonOf,
  resolveDeployed,
  TargetUnavailable,
  tokenOf,
  tokenRequest,
  verdict,
} from '../integration/deployed.ts';
import {
  configFromEnv,
  isLocalEmbedder,
  LOCAL_EMBEDDING,
  testTarget,
  whereLocalEmbedder,
} from '../integration/target.ts';

/** The deployed test target's pure parts, with a fake AWS: no network. */

const STATEFUL = {
  UserPoolId: 'eu-west-1_pool',
  MachineClientId: 'machine-client',
  TokenEndpoint: 'https://vp-dev.auth.eu-west-1.amazoncognito.com/oauth2/token',
  ExportsBucketName: 'vp-dev-exports',
  UserClientId: 'people',
};
const EDGE = { ApiUrl: 'https://d111.cloudfront.net/', WebAclArn: 'arn:x' };

/** A fake AWS: the dev stage's stacks, and a record of every call. */
function fakeAws(stacks: Record<string, Record<string, string>> = {}): AwsReader & { calls: string[] } {
  const calls: string[] = [];
  const all: Record<string, Record<string, string>> = {
    'VectorPlatform-dev-Stateful@eu-west-1': STATEFUL,
    'VectorPlatform-dev-Edge@us-east-1': EDGE,
    ...stacks,
  };
  return {
    calls,
    async stackOutputs(name, region) {
      calls.push(`DescribeStacks ${name} ${region}`);
      const outputs = all[`${name}@${region}`];
      if (!outputs) {
        throw Object.assign(new Error(`Stack with id ${name} does not exist`), { name: 'ValidationError' });
      }
      return outputs;
    },
    async clientSecret(pool, client, region) {
      calls.push(`DescribeUserPoolClient ${pool} ${client} ${region}`);
      return 's3cr3t';
    },
  };
}

describe('resolving a deployed stage', () => {
  it('reads the edge output in us-east-1, the stateful outputs in the region, and the client secret', async () => {
    const aws = fakeAws();
    const config = await resolveDeployed({ STAGE: 'dev', AWS_REGION: 'eu-west-1' }, aws);
    expect(config).toEqual({
      stage: 'dev',
      region: 'eu-west-1',
      apiUrl: 'https://d111.cloudfront.net',
      client: { tokenUrl: STATEFUL.TokenEndpoint, clientId: 'machine-client', clientSecret: 's3cr3t' },
      bucket: 'vp-dev-exports',
    });
    expect(aws.calls).toEqual([
      'DescribeStacks VectorPlatform-dev-Edge us-east-1',
      'DescribeStacks VectorPlatform-dev-Stateful eu-west-1',
      'DescribeUserPoolClient eu-west-1_pool machine-client eu-west-1',
    ]);
  });

  it('asks AWS nothing when the variables give everything, and lets each variable win', async () => {
    const aws = fakeAws();
    const given = {
      DEPLOYED_API_URL: 'https://api.example.com/api/v1/',
      DEPLOYED_TOKEN_URL: 'https://auth.example.com/oauth2/token',
      DEPLOYED_CLIENT_ID: 'id',
      DEPLOYED_CLIENT_SECRET: 'secret',
    };
    expect(await resolveDeployed(given, aws)).toEqual({
      apiUrl: 'https://api.example.com',
      client: { tokenUrl: given.DEPLOYED_TOKEN_URL, clientId: 'id', clientSecret: 'secret' },
    });
    expect(
      await resolveDeployed({ DEPLOYED_API_URL: 'http://127.0.0.1:3000', DEPLOYED_TOKEN: 't' }, aws),
    ).toEqual({ apiUrl: 'http://127.0.0.1:3000', tokens: { writer: 't', reader: undefined } });
    expect(aws.calls).toEqual([]);

    const mixed = await resolveDeployed(
      { STAGE: 'dev', AWS_REGION: 'eu-west-1', DEPLOYED_CLIENT_SECRET: 'mine', DEPLOYED_EXPORTS_BUCKET: 'b' },
      aws,
    );
    expect(mixed).toMatchObject({ client: { clientSecret: 'mine' }, bucket: 'b' });
    expect(aws.calls.some((c) => c.startsWith('DescribeUserPoolClient'))).toBe(false);
  });

  it('says in one line what is missing', async () => {
    const reason = (env: Record<string, string>, aws = fakeAws()) =>
      resolveDeployed(env, aws).then(
        () => 'resolved',
        (err) => reasonOf(err, env.STAGE),
      );
    expect(await reason({})).toMatch(/^STAGE is not set .*DEPLOYED_API_URL/);
    expect(await reason({ STAGE: 'qa', AWS_REGION: 'eu-west-1' })).toBe(
      'stage qa is not deployed here (Stack with id VectorPlatform-qa-Edge does not exist)',
    );
    const noClient = fakeAws({ 'VectorPlatform-dev-Stateful@eu-west-1': { UserPoolId: 'p' } });
    expect(await reason({ STAGE: 'dev', AWS_REGION: 'eu-west-1' }, noClient)).toBe(
      'stack VectorPlatform-dev-Stateful has no output MachineClientId',
    );
  });

  it('turns AWS errors into one-line reasons', () => {
    const error = (name: string, message: string, extra: object = {}) =>
      Object.assign(new Error(message), { name, ...extra });
    expect(reasonOf(error('CredentialsProviderError', 'Could not load credentials from any providers'))).toBe(
      "no AWS credentials to read the stage's outputs (Could not load credentials from any providers)",
    );
    expect(reasonOf(error('AccessDenied', 'User: x is not\n authorized'))).toBe(
      "the AWS credentials may not read the stage's outputs or its machine client (AccessDenied: User: x is not authorized)",
    );
    expect(reasonOf(error('Error', 'getaddrinfo ENOTFOUND cloudformation', { code: 'ENOTFOUND' }))).toBe(
      'AWS cannot be reached (ENOTFOUND)',
    );
    expect(reasonOf(error('Error', 'Region is missing'))).toBe(
      "no AWS region for the stage's stacks (set AWS_REGION)",
    );
    expect(reasonOf(new TargetUnavailable('plain'))).toBe('plain');
  });
});

describe('run, skip or fail', () => {
  const config = { apiUrl: 'https://api' };

  it('runs when the stage is resolved', () => {
    expect(verdict({ config }, { CI: 'true' })).toEqual({ kind: 'run', config });
  });

  it('skips with one line on a laptop, fails in CI or when required', () => {
    const skip = verdict({ reason: 'no AWS credentials' }, {});
    expect(skip.kind).toBe('skip');
    expect('line' in skip && skip.line).toMatch(/^test:deployed skipped: no AWS credentials \(see docs/);
    expect('line' in skip && skip.line.includes('\n')).toBe(false);
    for (const env of [{ CI: 'true' }, { CI: '1' }, { DEPLOYED_REQUIRED: 'true' }]) {
      expect(verdict({ reason: 'no AWS credentials' }, env)).toEqual({
        kind: 'fail',
        line: 'test:deployed failed: no AWS credentials',
      });
    }
    expect(verdict({ reason: 'x' }, { CI: 'false' }).kind).toBe('skip');
  });
});

describe('the client-credentials grant', () => {
  const client = { tokenUrl: 'https://auth/oauth2/token', clientId: 'abc', clientSecret: 's+/=' };

  it('posts the grant with the scopes of a role, the client by HTTP Basic', () => {
    const { url, init } = tokenRequest(client, ['read', 'write']);
    expect(url).toBe('https://auth/oauth2/token');
    expect(init.method).toBe('POST');
    expect(init.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Buffer.from(init.headers.authorization!.replace(/^Basic /, ''), 'base64').toString()).toBe(
      'abc:s%2B%2F%3D',
    );
    expect(Object.fromEntries(new URLSearchParams(init.body))).toEqual({
      grant_type: 'client_credentials',
      scope: 'vector-platform/read vector-platform/write',
    });
  });

  it("reads the token and its lifetime, or names the endpoint's error", () => {
    expect(tokenOf(200, '{"access_token":"t","expires_in":3600,"token_type":"Bearer"}')).toEqual({
      accessToken: 't',
      expiresIn: 3600,
    });
    expect(() => tokenOf(400, '{"error":"invalid_scope"}')).toThrow(
      'the token endpoint answered 400: invalid_scope',
    );
    expect(() => tokenOf(200, 'not json')).toThrow('answered 200: not json');
  });
});

describe('handing the stage to the test processes', () => {
  it('round-trips through DEPLOYED_* variables, and a deployed target names what the run creates', () => {
    const resolved = {
      stage: 'dev',
      apiUrl: 'https://d111.cloudfront.net',
      client: { tokenUrl: 'https://t', clientId: 'c', clientSecret: 's' },
      bucket: 'b',
      embedding: { model: 'text-embedding-3-small', dimensions: 1536 },
    };
    const ns = namespaceOf(new Date('2026-12-07T00:11:05Z'), 0.5);
    expect(ns).toBe('it-202612070011-8000');
    const env = envOf(resolved, ns);
    expect(env).toMatchObject({
      TEST_TARGET: 'deployed',
      DEPLOYED_NAMESPACE: ns,
      STAGE: 'dev',
      DEPLOYED_EMBEDDING_MODEL: 'text-embedding-3-small',
      DEPLOYED_EMBEDDING_DIMENSIONS: '1536',
    });
    expect(configFromEnv(env)).toMatchObject({ ...resolved, namespace: ns });

    const target = testTarget(() => {
      throw new Error('no local runtime on a stage');
    }, env);
    expect(target.local).toBe(false);
    expect(target.role).toBe('writer');
    expect(target.name('notes')).toBe(`${ns}-notes`);
    expect(target.planId('plans/a.md')).toBe(`${ns}/plans/a.md`);
    expect(target.planUrlId('plans/a.md')).toBe(`${ns}~plans~a.md`);
    expect([`${ns}/plans/a.md`, `${ns}~plans~a.md`, 'plans/a.md'].map(target.ours)).toEqual([
      true,
      true,
      false,
    ]);
    expect(target.token('admin')).toMatch(/never admin/);
    expect(() => target.runtime()).toThrow(/not available/);
  });

  it('refuses to run deployed without the runner', () => {
    expect(() => configFromEnv({ TEST_TARGET: 'deployed', STAGE: 'dev' })).toThrow(/npm run test:deployed/);
    // Everything but the embedding the runner reads from GET /version.
    const noEmbedding = envOf({ apiUrl: 'https://api', tokens: { writer: 't' } }, 'it-202612070011-8000');
    expect(() => configFromEnv(noEmbedding)).toThrow(/DEPLOYED_EMBEDDING_MODEL/);
  });

  it('keeps local names as they are', () => {
    const target = testTarget(() => {
      throw new Error('unused');
    }, {});
    expect(target.local).toBe(true);
    expect(target.embedding).toEqual({ model: 'local-hash-v1', dimensions: 384 });
    expect(target.localEmbedder).toBe(true);
    expect([target.name('notes'), target.planId('plans/a.md'), target.planUrlId('plans/a.md')]).toEqual([
      'notes',
      'plans/a.md',
      'plans~a.md',
    ]);
  });

  it('strips the API URL down to its origin', () => {
    expect(['https://x/', 'https://x/api/v1', 'https://x/api/v1/', 'https://x'].map(apiOrigin)).toEqual([
      'https://x',
      'https://x',
      'https://x',
      'https://x',
    ]);
  });

  it('keeps each stack output by its key', () => {
    expect(
      outputsOf({
        Outputs: [{ OutputKey: 'ApiUrl', OutputValue: 'u' }, { OutputKey: 'X' }, { OutputValue: 'y' }],
      }),
    ).toEqual({ ApiUrl: 'u' });
  });
});

describe("the platform's embedder", () => {
  const VERSION = JSON.stringify({
    service: 'vector-platform',
    version: '1.4.0',
    stage: 'dev',
    embedding: { provider: 'openai', model: 'text-embedding-3-small', dimensions: 1536 },
  });
  const URL_ = 'https://api/api/v1/version';

  it("reads GET /version's embedding, or says in one line why it cannot", async () => {
    expect(embeddingOf(200, VERSION, URL_)).toEqual({ model: 'text-embedding-3-small', dimensions: 1536 });
    expect(() => embeddingOf(403, '{"message":"Forbidden"}', URL_)).toThrow(TargetUnavailable);
    expect(() => embeddingOf(403, '{"message":"Forbidden"}', URL_)).toThrow(
      'https://api/api/v1/version answered 403 without an embedding model and dimensions: {"message":"Forbidden"}',
    );
    expect(() => embeddingOf(200, '<html>\n</html>', URL_)).toThrow(/answered 200 .*<html> <\/html>$/);
    expect(() => embeddingOf(200, '{"embedding":{"model":"m","dimensions":"384"}}', URL_)).toThrow(
      TargetUnavailable,
    );

    const asked: string[] = [];
    const fetched = await readEmbedding('https://api', async (url) => {
      asked.push(url);
      return new Response(VERSION, { status: 200 });
    });
    expect(fetched).toEqual({ model: 'text-embedding-3-small', dimensions: 1536 });
    expect(asked).toEqual([URL_]);
    const refused = await readEmbedding('http://127.0.0.1:9', async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }).catch((err: unknown) => reasonOf(err));
    expect(refused).toBe('the API cannot be reached at http://127.0.0.1:9/api/v1/version (ECONNREFUSED)');
  });

  it('the ranking checks follow the reported model: the hashing embedder at 384 dimensions only', () => {
    const deployed = (model: string, dimensions: number) =>
      testTarget(
        () => {
          throw new Error('no local runtime on a stage');
        },
        envOf(
          { apiUrl: 'https://api', tokens: { writer: 't' }, embedding: { model, dimensions } },
          'it-202612070011-8000',
        ),
      );
    const openai = deployed('text-embedding-3-small', 1536);
    expect(openai.embedding).toEqual({ model: 'text-embedding-3-small', dimensions: 1536 });
    expect(openai.localEmbedder).toBe(false);
    expect(whereLocalEmbedder(openai, 'nearest neighbours')).toBe(
      'needs the local embedder (local-hash-v1/384), this one is text-embedding-3-small/1536: nearest neighbours',
    );
    expect(whereLocalEmbedder(openai, 'x')?.includes('\n')).toBe(false);

    // A stage deployed with `-c embedder=local`: the same checks as locally.
    const hashing = deployed('local-hash-v1', 384);
    expect(hashing.localEmbedder).toBe(true);
    expect(whereLocalEmbedder(hashing, 'nearest neighbours')).toBeUndefined();
    // The hashing embedder at another size collides otherwise: its neighbours are not the ones expected.
    expect(deployed('local-hash-v1', 512).localEmbedder).toBe(false);
    expect(isLocalEmbedder(LOCAL_EMBEDDING)).toBe(true);
  });
});
