import { RemovalPolicy } from 'aws-cdk-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, DEFAULT_CALLBACK_URL, parseSettings } from '../../infra/stacks/settings.ts';

describe('parseSettings', () => {
  it('defaults to the dev stage with OpenAI, retained data, no CORS and per-stage names', () => {
    expect(parseSettings({})).toEqual({
      stage: 'dev',
      platform: { embedder: 'openai' },
      corsOrigins: [],
      auth: { domainPrefix: 'vector-platform-dev', callbackUrls: [DEFAULT_CALLBACK_URL] },
      logRetention: 30,
      removalPolicy: RemovalPolicy.RETAIN,
      references: {
        qdrantUrlParameter: '/vector-platform/dev/qdrant-url',
        qdrantApiKeySecret: 'vector-platform/dev/qdrant-api-key',
        openaiApiKeySecret: 'vector-platform/dev/openai-api-key',
        webhookSecretsPrefix: 'vector-platform/dev/notifications/webhooks/',
        notificationsEmailFrom: 'notifications@vector-platform.local',
      },
      alarms: {
        apiLatencyP95Ms: 500,
        apiErrorRatePercent: 1,
        queueAgeSeconds: 900,
        functionTimeoutPercent: 80,
      },
      deploymentConfig: 'AllAtOnce',
    });
  });

  it('releases prod through a 10 % canary and other stages at once, unless a context names a config', () => {
    expect(parseSettings({ stage: 'prod' }).deploymentConfig).toBe('Canary10Percent5Minutes');
    expect(parseSettings({ stage: 'qa' }).deploymentConfig).toBe('AllAtOnce');
    expect(
      parseSettings({ stage: 'prod', deploymentConfig: 'Linear10PercentEvery1Minute' }).deploymentConfig,
    ).toBe('Linear10PercentEvery1Minute');
    expect(() => parseSettings({ stage: 'prod', deploymentConfig: 'Canary50Percent1Minute' })).toThrow(
      /deploymentConfig: Invalid option: expected one of "AllAtOnce"\|/,
    );
  });

  it('keeps prod: its logs a year by default, and no context can make it destroy its data', () => {
    expect(parseSettings({ stage: 'prod' })).toMatchObject({
      logRetention: 365,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    expect(parseSettings({ stage: 'prod', logRetentionDays: '90' }).logRetention).toBe(90);
    expect(() => parseSettings({ stage: 'prod', destroyOnRemoval: 'true' })).toThrow(
      /destroyOnRemoval: the prod stage retains its data/,
    );
    // Another stage may be thrown away.
    expect(parseSettings({ stage: 'dev', destroyOnRemoval: 'true' }).removalPolicy).toBe(
      RemovalPolicy.DESTROY,
    );
  });

  it('reads the alarm thresholds from `-c` strings and cdk.json numbers alike', () => {
    const raw = {
      alarmApiLatencyP95Ms: 800,
      alarmApiErrorRatePercent: 0.5,
      alarmQueueAgeSeconds: 300,
      alarmFunctionTimeoutPercent: 60,
    };
    const expected = {
      apiLatencyP95Ms: 800,
      apiErrorRatePercent: 0.5,
      queueAgeSeconds: 300,
      functionTimeoutPercent: 60,
    };
    expect(parseSettings(raw).alarms).toEqual(expected);
    expect(
      parseSettings(Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)]))).alarms,
    ).toEqual(expected);
  });

  it('reads the embedder settings the functions get, and names a bad one', () => {
    expect(
      parseSettings({
        embedder: 'openai',
        embeddingModel: 'text-embedding-3-large',
        embeddingDimensions: '256',
        openaiBaseUrl: 'https://llm.example/v1',
        defaultCollection: 'notes',
      }).platform,
    ).toEqual({
      embedder: 'openai',
      embeddingModel: 'text-embedding-3-large',
      embeddingDimensions: '256',
      openaiBaseUrl: 'https://llm.example/v1',
      defaultCollection: 'notes',
    });
    expect(() => parseSettings({ embeddingDimensions: '0' })).toThrow(/embeddingDimensions/);
    expect(() => parseSettings({ defaultCollection: 'a b' })).toThrow(/defaultCollection/);
    expect(() => parseSettings({ openaiBaseUrl: 'ftp://x' })).toThrow(/openaiBaseUrl/);
  });

  it('reads `-c` strings and cdk.json values alike', () => {
    const fromCli = parseSettings({
      stage: 'qa',
      destroyOnRemoval: 'true',
      corsOrigins: 'https://a.example,https://b.example:8443',
      authDomainPrefix: 'acme-vectors-qa',
      authCallbackUrls: 'https://app.example/callback, http://localhost:9000/cb',
      edgeDomainName: 'api.example.com',
      edgeCertificateArn:
        'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
    });
    const fromJson = parseSettings({
      stage: 'qa',
      destroyOnRemoval: true,
      corsOrigins: ['https://a.example', 'https://b.example:8443'],
      authDomainPrefix: 'acme-vectors-qa',
      authCallbackUrls: ['https://app.example/callback', 'http://localhost:9000/cb'],
      edgeDomainName: 'api.example.com',
      edgeCertificateArn:
        'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
    });
    expect(fromCli).toEqual(fromJson);
    expect(fromCli.removalPolicy).toBe(RemovalPolicy.DESTROY);
    expect(fromCli.references.qdrantUrlParameter).toBe('/vector-platform/qa/qdrant-url');
    expect(fromCli.auth).toEqual({
      domainPrefix: 'acme-vectors-qa',
      callbackUrls: ['https://app.example/callback', 'http://localhost:9000/cb'],
    });
    expect(fromCli.edgeDomain?.name).toBe('api.example.com');
  });

  it('derives the Cognito domain prefix from the stage unless one is given', () => {
    expect(parseSettings({ stage: 'prod' }).auth.domainPrefix).toBe('vector-platform-prod');
    expect(parseSettings({ stage: 'prod', authDomainPrefix: 'acme-vp' }).auth.domainPrefix).toBe('acme-vp');
  });

  it('takes an empty origin list as no CORS at all', () => {
    expect(parseSettings({ corsOrigins: '' }).corsOrigins).toEqual([]);
    expect(parseSettings({ corsOrigins: [] }).corsOrigins).toEqual([]);
  });

  it('reads no throttle from context: limits are declared once, in the manifest', () => {
    expect(CONTEXT_KEYS).not.toContain('throttleRateLimit');
    expect(CONTEXT_KEYS).not.toContain('throttleBurstLimit');
    expect(parseSettings({ throttleRateLimit: 5 } as never)).not.toHaveProperty('throttle');
  });

  it.each([
    [{ stage: 'Prod' }, 'stage'],
    [{ stage: 'a'.repeat(21) }, 'stage'],
    [{ embedder: 'cohere' }, 'embedder'],
    [{ corsOrigins: 'https://a.example/path' }, 'corsOrigins'],
    [{ corsOrigins: 'ftp://a.example' }, 'corsOrigins'],
    [{ corsOrigins: '*' }, 'corsOrigins'],
    [{ corsOrigins: 'https://a.example,*' }, 'corsOrigins'],
    [{ authDomainPrefix: 'Vectors' }, 'authDomainPrefix'],
    [{ authDomainPrefix: 'my-cognito-pool' }, 'authDomainPrefix'],
    [{ authDomainPrefix: 'vectors-aws' }, 'authDomainPrefix'],
    [{ authDomainPrefix: '-vectors' }, 'authDomainPrefix'],
    [{ authDomainPrefix: 'a'.repeat(64) }, 'authDomainPrefix'],
    [{ authCallbackUrls: 'http://app.example/callback' }, 'authCallbackUrls'],
    [{ authCallbackUrls: '' }, 'authCallbackUrls'],
    [{ edgeDomainName: 'api.example.com' }, 'edgeCertificateArn'],
    [
      {
        edgeCertificateArn:
          'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
      },
      'edgeDomainName',
    ],
    [
      {
        edgeDomainName: 'api.example.com',
        edgeCertificateArn:
          'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
      },
      'edgeCertificateArn',
    ],
    [{ edgeDomainName: 'API.example.com', edgeCertificateArn: 'x' }, 'edgeDomainName'],
    [{ logRetentionDays: 31 }, 'logRetentionDays'],
    [{ destroyOnRemoval: 'yes' }, 'destroyOnRemoval'],
    [{ qdrantApiKeySecret: 'has space' }, 'qdrantApiKeySecret'],
    [{ qdrantUrlParameter: 'bad*name' }, 'qdrantUrlParameter'],
    [{ alarmEmail: 'not-an-email' }, 'alarmEmail'],
    [{ alarmApiLatencyP95Ms: '0' }, 'alarmApiLatencyP95Ms'],
    [{ alarmApiLatencyP95Ms: 'fast' }, 'alarmApiLatencyP95Ms'],
    [{ alarmApiErrorRatePercent: 0 }, 'alarmApiErrorRatePercent'],
    [{ alarmApiErrorRatePercent: '101' }, 'alarmApiErrorRatePercent'],
    [{ alarmQueueAgeSeconds: 1.5 }, 'alarmQueueAgeSeconds'],
  ])('rejects %j, naming %s', (raw, key) => {
    expect(() => parseSettings(raw)).toThrow(new RegExp(`Invalid CDK context: .*${key}`));
  });

  it('keeps every origin of a comma-separated list, in order, whatever the spacing', () => {
    const origin = fc
      .tuple(
        fc.constantFrom('http', 'https'),
        fc.domain(),
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      )
      .map(([scheme, host, port]) => new URL(`${scheme}://${host}${port ? `:${port}` : ''}`).origin);
    fc.assert(
      fc.property(
        fc.array(origin, { minLength: 1, maxLength: 5 }),
        fc.constantFrom(',', ', ', ' ,'),
        (origins, sep) => {
          expect(parseSettings({ corsOrigins: origins.join(sep) }).corsOrigins).toEqual(origins);
        },
      ),
    );
  });

  it('either returns valid settings or throws a context error, for any input', () => {
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.array(fc.string()),
      fc.constant(null),
      fc.object(),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...CONTEXT_KEYS), value), (raw) => {
        try {
          const settings = parseSettings(raw);
          expect(settings.stage).toMatch(/^[a-z][a-z0-9-]{0,19}$/);
          expect(settings.corsOrigins).not.toContain('*');
          expect(settings.auth.domainPrefix).toMatch(/^[a-z0-9-]{1,63}$/);
          expect(settings.auth.callbackUrls.length).toBeGreaterThan(0);
        } catch (err) {
          expect((err as Error).message).toMatch(/^Invalid CDK context: /);
        }
      }),
    );
  });
});
