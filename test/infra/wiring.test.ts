import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Manifest, ScheduleDecl } from '../../infra/manifest.ts';
import { toCdkPattern } from '../../infra/stacks/stateless-stack.ts';
import {
  actionsOf,
  logicalIdOf,
  platform,
  type Synthesized,
  statementsOfRole,
  synthPlatform,
  wiredManifest,
} from './support.ts';

describe('consumers, rules and notifications from the manifest', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform({ manifest: wiredManifest });
  });
  // Everything invokes a function through its live alias, whose `Ref` is its ARN.
  const aliasOf = (name: keyof typeof wiredManifest.functions) => ({
    Ref: logicalIdOf(s.stateless.functions[name]!.live),
  });

  it('consumes each queue with its declared batching, concurrency and partial batch responses', () => {
    for (const [name, decl] of Object.entries(wiredManifest.queues)) {
      // The alias's qualified name, `<function>:live` (CDK takes the name out of the alias's ARN).
      const mappings = s.statelessTemplate.findResources('AWS::Lambda::EventSourceMapping', {
        Properties: {
          FunctionName: {
            'Fn::Join': [
              '',
              [{ 'Fn::Select': [6, { 'Fn::Split': [':', aliasOf(decl.consumer)] }] }, ':live'],
            ],
          },
        },
      });
      expect(Object.values(mappings), name).toHaveLength(1);
      expect(Object.values(mappings)[0]!.Properties).toMatchObject({
        BatchSize: decl.batchSize,
        MaximumBatchingWindowInSeconds: decl.maxBatchingWindowSeconds,
        ScalingConfig: { MaximumConcurrency: decl.maxConcurrency },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      const consumerActions = statementsOfRole(
        s.statelessTemplate,
        logicalIdOf(s.stateless.functions[decl.consumer]!.role),
      ).flatMap(actionsOf);
      expect(consumerActions).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']));
    }
  });

  it('runs each schedule as a rate rule on the default bus, with its constant input when declared', () => {
    const schedules = Object.values(s.statelessTemplate.findResources('AWS::Events::Rule')).filter(
      (r) => r.Properties.ScheduleExpression !== undefined,
    );
    const declared: ScheduleDecl[] = Object.values(wiredManifest.schedules);
    expect(schedules).toHaveLength(declared.length);
    for (const decl of declared) {
      const rule = schedules.find(
        (r) =>
          JSON.stringify(r.Properties.Targets[0].Arn) ===
          JSON.stringify(aliasOf(decl.function as keyof typeof wiredManifest.functions)),
      );
      expect(rule?.Properties, decl.function).toMatchObject({
        ScheduleExpression: `rate(${decl.rateMinutes} minute${decl.rateMinutes === 1 ? '' : 's'})`,
        State: 'ENABLED',
      });
      expect(rule?.Properties.EventBusName).toBeUndefined();
    }
  });

  it('routes each rule on the platform bus to its function, with retries and a dead-letter queue', () => {
    const rules = Object.values(s.statelessTemplate.findResources('AWS::Events::Rule')).filter(
      (r) => r.Properties.EventPattern !== undefined,
    );
    expect(rules).toHaveLength(Object.keys(wiredManifest.rules).length);
    const rule = wiredManifest.rules.migrationFinished;
    const props = rules[0]!.Properties;
    expect(props.EventPattern).toEqual(rule.pattern);
    expect(JSON.stringify(props.EventBusName)).toContain('EventBus');
    expect(props.Targets).toEqual([
      expect.objectContaining({
        Arn: aliasOf(rule.function),
        DeadLetterConfig: {
          Arn: { 'Fn::GetAtt': [expect.stringMatching(/^RuleTargetDeadLetterQueue/), 'Arn'] },
        },
        RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 7200 },
      }),
    ]);
    s.statelessTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RuleTargetDeadLetterQueue'), 'QueueName'] },
        },
      ],
    });
  });

  it('invokes the declared function when an object is created under the prefix and suffix', () => {
    const [n] = wiredManifest.notifications;
    const custom = Object.values(s.statelessTemplate.findResources('Custom::S3BucketNotifications'));
    expect(custom).toHaveLength(1);
    // Unmanaged: notifications configured outside this stack stay on the bucket.
    expect(custom[0]!.Properties.Managed).toBe(false);
    const configs = custom[0]!.Properties.NotificationConfiguration.LambdaFunctionConfigurations;
    expect(configs).toEqual([
      {
        Events: ['s3:ObjectCreated:*'],
        Filter: {
          Key: {
            FilterRules: expect.arrayContaining([
              { Name: 'prefix', Value: n.prefix },
              { Name: 'suffix', Value: n.suffix },
            ]),
          },
        },
        LambdaFunctionArn: aliasOf(n.function),
      },
    ]);
    s.statelessTemplate.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 's3.amazonaws.com',
      FunctionName: aliasOf(n.function),
    });
  });
});

describe('manifest mistakes fail the synth with a message naming them', () => {
  // The managers hold zod schemas, which cannot be cloned (and no variant changes them).
  const variant = (change: (m: Manifest) => Manifest): Manifest => {
    const { managers, ...rest } = wiredManifest;
    return change({ ...structuredClone(rest), managers } as unknown as Manifest);
  };

  it.each([
    [
      'a route to an undeclared function',
      variant((m) => ({
        ...m,
        routes: [...m.routes, { method: 'GET', path: '/api/v1/x', function: 'nope', role: 'public' }],
      })),
      /Route GET \/api\/v1\/x names function "nope"/,
    ],
    [
      'access to an undeclared queue',
      variant((m) => {
        m.functions.health = { ...m.functions.health!, access: ['queue:ghost:send'] };
        return m;
      }),
      /access "queue:ghost:send" names no declared queue/,
    ],
    [
      'a visibility timeout shorter than its consumer may run',
      variant((m) => {
        m.queues.migrations = { ...m.queues.migrations!, visibilityTimeoutSeconds: 30 };
        return m;
      }),
      /visibilityTimeoutSeconds must be at least migrateChunk's timeout/,
    ],
    [
      'a rule for an undeclared function',
      variant((m) => {
        const { description, pattern } = m.rules.migrationFinished!;
        m.rules.migrationFinished = { description, pattern, function: 'ghost' };
        return m;
      }),
      /Rule migrationFinished names function "ghost"/,
    ],
    [
      'a rule to an undeclared queue',
      variant((m) => {
        const { description, pattern } = m.rules.migrationFinished!;
        m.rules.migrationFinished = { description, pattern, queue: 'ghost' };
        return m;
      }),
      /Rule migrationFinished names queue "ghost"/,
    ],
    [
      'an archived rule matching events the archive does not keep',
      variant((m) => {
        m.rules.migrationFinished = { ...m.rules.migrationFinished!, pattern: { source: ['elsewhere'] } };
        return m;
      }),
      /Rule migrationFinished: archive needs a pattern whose source is only "vector-platform"/,
    ],
    [
      'a function whose deployed name would exceed 64 characters',
      variant((m) => {
        m.functions.aFunctionKeyLongEnoughToPushTheDeployedNameOverLimit = m.functions.health!;
        return m;
      }),
      /Function aFunctionKeyLongEnoughToPushTheDeployedNameOverLimit: its deployed name "vector-platform-dev-aFunctionKeyLongEnoughToPushTheDeployedNameOverLimit" \(72 characters\) must be at most 64/,
    ],
  ])('%s', (_what, manifest, message) => {
    expect(() => platform({ manifest })).toThrow(message);
  });
});

describe('toCdkPattern', () => {
  it('maps EventBridge field names to CDK ones', () => {
    expect(
      toCdkPattern({ source: ['a'], 'detail-type': ['B'], detail: { id: [{ prefix: 'x' }] } }, 'r'),
    ).toEqual({
      source: ['a'],
      detailType: ['B'],
      detail: { id: [{ prefix: 'x' }] },
    });
  });

  it.each([
    [{ sauce: ['a'] }, /"sauce" is not an EventBridge pattern field/],
    [{ source: 'a' }, /"source" must be an array/],
    [{ detail: ['a'] }, /"detail" must be an object/],
    [{}, /empty/],
  ])('rejects %j', (pattern, message) => {
    expect(() => toCdkPattern(pattern, 'Rule r')).toThrow(message);
  });
});
