import { RemovalPolicy } from 'aws-cdk-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, parseSettings } from '../../infra/stacks/settings.ts';

describe('parseSettings', () => {
  it('defaults to the dev stage with OpenAI, retained data and per-stage reference names', () => {
    expect(parseSettings({})).toEqual({
      stage: 'dev',
      platform: { embedder: 'openai' },
      corsOrigins: ['*'],
      throttle: { rateLimit: 50, burstLimit: 100 },
      logRetention: 30,
      removalPolicy: RemovalPolicy.RETAIN,
      references: {
        qdrantUrlParameter: '/vector-platform/dev/qdrant-url',
        qdrantApiKeySecret: 'vector-platform/dev/qdrant-api-key',
        openaiApiKeySecret: 'vector-platform/dev/openai-api-key',
      },
    });
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
      throttleRateLimit: '5',
      throttleBurstLimit: '9',
      destroyOnRemoval: 'true',
      corsOrigins: 'https://a.example,https://b.example:8443',
    });
    const fromJson = parseSettings({
      stage: 'qa',
      throttleRateLimit: 5,
      throttleBurstLimit: 9,
      destroyOnRemoval: true,
      corsOrigins: ['https://a.example', 'https://b.example:8443'],
    });
    expect(fromCli).toEqual(fromJson);
    expect(fromCli.removalPolicy).toBe(RemovalPolicy.DESTROY);
    expect(fromCli.references.qdrantUrlParameter).toBe('/vector-platform/qa/qdrant-url');
  });

  it.each([
    [{ stage: 'Prod' }, 'stage'],
    [{ stage: 'a'.repeat(21) }, 'stage'],
    [{ embedder: 'cohere' }, 'embedder'],
    [{ corsOrigins: 'https://a.example/path' }, 'corsOrigins'],
    [{ corsOrigins: 'ftp://a.example' }, 'corsOrigins'],
    [{ corsOrigins: '' }, 'corsOrigins'],
    [{ throttleRateLimit: '0' }, 'throttleRateLimit'],
    [{ throttleRateLimit: 200 }, 'throttleBurstLimit'],
    [{ logRetentionDays: 31 }, 'logRetentionDays'],
    [{ destroyOnRemoval: 'yes' }, 'destroyOnRemoval'],
    [{ qdrantApiKeySecret: 'has space' }, 'qdrantApiKeySecret'],
    [{ qdrantUrlParameter: 'bad*name' }, 'qdrantUrlParameter'],
    [{ alarmEmail: 'not-an-email' }, 'alarmEmail'],
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
          expect(settings.throttle.burstLimit).toBeGreaterThanOrEqual(settings.throttle.rateLimit);
          expect(settings.corsOrigins.length).toBeGreaterThan(0);
        } catch (err) {
          expect((err as Error).message).toMatch(/^Invalid CDK context: /);
        }
      }),
    );
  });
});
