import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { managedResourcesOf } from '../../infra/function-environment.ts';
import { type FunctionName, manifest } from '../../infra/manifest.ts';
import { deadLetterUrlVariable, queueUrlVariable } from '../../shared/resource-env.ts';
import {
  actionsOf,
  cfnString,
  logicalIdOf,
  resourcesOf,
  type Statement,
  type Synthesized,
  statementsOfRole,
  synthPlatform,
  TEST_REGION,
} from './support.ts';

const functionNames = Object.keys(manifest.functions) as FunctionName[];
const accessOf = (name: FunctionName): readonly string[] => manifest.functions[name].access;
const consumers = new Set<string>(Object.values(manifest.queues).map((q) => q.consumer));

/** An API key, a private key, or a long mixed-case alphanumeric token (names and ARNs have separators). */
function looksLikeSecretValue(value: string): boolean {
  if (/sk-[A-Za-z0-9_-]{8,}|-----BEGIN/.test(value)) return true;
  return (value.match(/[A-Za-z0-9+/=]{24,}/g) ?? []).some(
    (run) => /\d/.test(run) && /[a-z]/.test(run) && /[A-Z]/.test(run),
  );
}

describe('the platform stacks (default stage)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });

  const fnResource = (name: FunctionName) => {
    const resource = s.statelessTemplate.toJSON().Resources[logicalIdOf(s.stateless.functions[name]!.fn)];
    expect(resource, name).toBeDefined();
    return resource.Properties;
  };
  const statementsOf = (name: FunctionName): Statement[] =>
    statementsOfRole(s.statelessTemplate, logicalIdOf(s.stateless.functions[name]!.role));

  it('names the stacks after the stage; the edge stack lives in us-east-1, the others in the stage region', () => {
    expect(s.stateful.stackName).toBe('VectorPlatform-dev-Stateful');
    expect(s.stateless.stackName).toBe('VectorPlatform-dev-Stateless');
    expect(s.edge.stackName).toBe('VectorPlatform-dev-Edge');
    expect([s.stateful.region, s.stateless.region, s.edge.region]).toEqual([
      TEST_REGION,
      TEST_REGION,
      'us-east-1',
    ]);
  });

  describe('functions', () => {
    it("declares exactly one Lambda per manifest function (plus CDK's bucket-notifications handler)", () => {
      const notificationsHandler = manifest.notifications.length > 0 ? 1 : 0;
      s.statelessTemplate.resourceCountIs(
        'AWS::Lambda::Function',
        functionNames.length + notificationsHandler,
      );
    });

    it.each(functionNames)('%s: Node 22 on ARM64, traced, sized as the manifest says', (name) => {
      const decl = manifest.functions[name];
      const props = fnResource(name);
      expect(props).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        MemorySize: decl.memoryMb,
        Timeout: decl.timeoutSeconds,
        Description: decl.description,
      });
      expect(props.Environment.Variables).toMatchObject({
        STAGE: 'dev',
        EMBEDDER: 'openai',
        POWERTOOLS_SERVICE_NAME: manifest.service,
        POWERTOOLS_METRICS_NAMESPACE: expect.any(String),
        LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
      });
    });

    it.each(functionNames)('%s: logs to its own log group with a retention', (name) => {
      const logGroupId = logicalIdOf(s.stateless.functions[name]!.logGroup);
      expect(fnResource(name).LoggingConfig).toEqual({ LogGroup: { Ref: logGroupId } });
      const logGroup = s.statelessTemplate.toJSON().Resources[logGroupId];
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(30);
      expect(logGroup.DeletionPolicy).toBe('Retain');
    });

    it.each(functionNames)('%s: its role has no managed policy and may write only its own logs', (name) => {
      const role = s.statelessTemplate.toJSON().Resources[logicalIdOf(s.stateless.functions[name]!.role)];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      const logs = statementsOf(name).filter((st) => actionsOf(st).some((a) => a.startsWith('logs:')));
      expect(logs).toEqual([
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logicalIdOf(s.stateless.functions[name]!.logGroup), 'Arn'] },
        },
      ]);
    });

    it('grants a wildcard resource only to the X-Ray actions, and to GetMetricData for metrics:read', () => {
      for (const name of functionNames) {
        const wildcard = statementsOf(name).filter((st) => st.Resource === '*');
        const metrics = accessOf(name).includes('metrics:read') ? ['cloudwatch:GetMetricData'] : [];
        expect(wildcard.flatMap(actionsOf).sort(), name).toEqual([
          ...metrics,
          'xray:PutTelemetryRecords',
          'xray:PutTraceSegments',
        ]);
      }
      expect(functionNames.filter((n) => accessOf(n).includes('metrics:read')).length).toBeGreaterThan(0);
    });

    it('gives the health function no data-plane permission and no resource names', () => {
      const actions = statementsOf('health').flatMap(actionsOf);
      expect(actions.filter((a) => !a.startsWith('logs:') && !a.startsWith('xray:'))).toEqual([]);
      const env = fnResource('health').Environment.Variables;
      for (const key of [
        'QDRANT_URL_PARAMETER',
        'QDRANT_API_KEY_SECRET',
        'OPENAI_API_KEY_SECRET',
        'EXPORTS_BUCKET',
        'STATE_TABLE',
      ]) {
        expect(env[key], key).toBeUndefined();
      }
    });

    it('lets upsert read the Qdrant URL parameter, the two secrets it needs and its manager record, nothing on the bucket', () => {
      const statements = statementsOf('upsert');
      const byAction = (action: string) => statements.filter((st) => actionsOf(st).includes(action));
      expect(byAction('ssm:GetParameter')).toHaveLength(1);
      expect(JSON.stringify(byAction('ssm:GetParameter')[0]!.Resource)).toContain(
        ':parameter/vector-platform/dev/qdrant-url"',
      );
      const secrets = byAction('secretsmanager:GetSecretValue')
        .flatMap(resourcesOf)
        .map((r) => JSON.stringify(r));
      expect(secrets).toHaveLength(2);
      expect(secrets.some((r) => r.includes(':secret:vector-platform/dev/qdrant-api-key-??????'))).toBe(true);
      expect(secrets.some((r) => r.includes(':secret:vector-platform/dev/openai-api-key-??????'))).toBe(true);
      // Its manager (vectorization) can be stopped: it reads its lifecycle record, nothing else.
      const other = statements.flatMap(actionsOf).filter((a) => !/^(logs|xray|ssm|secretsmanager):/.test(a));
      expect(other).toEqual(['dynamodb:GetItem']);
      expect(actionsOf(byAction('ssm:GetParameter')[0]!)).toEqual(['ssm:GetParameter']);
    });

    it('grants each function exactly the services its access list names', () => {
      const serviceOf: Record<string, string> = {
        qdrant: 'ssm secretsmanager',
        embedder: 'secretsmanager',
        'exports:read': 's3',
        'exports:write': 's3',
        'exports:upload': 's3',
        'state:read': 'dynamodb',
        'state:write': 'dynamodb',
        'bus:put': 'events',
        'managers:invoke': 'lambda',
        'managers:control': 'lambda',
        'metrics:read': 'cloudwatch',
        'api:metrics': '', // names the API: CloudWatch's GetMetricData is metrics:read's
        'webhook-secrets:read': 'secretsmanager',
        'webhook-secrets:write': 'secretsmanager',
        'webhook-secrets:rotate': 'secretsmanager',
        'email:send': 'ses',
        'dead-letters:peek': 'sqs',
        'users:read': 'cognito-idp',
        'workflows:manage': 'states iam',
      };
      const stoppable = Object.values(managedResourcesOf(manifest)).filter((m) => m.stoppable);
      for (const name of functionNames) {
        const expected = new Set(
          accessOf(name)
            .flatMap((a) =>
              (
                serviceOf[a] ?? (a.startsWith('queue:') ? 'sqs' : a.startsWith('manager:') ? 'lambda' : a)
              ).split(' '),
            )
            .filter((svc) => svc !== ''),
        );
        // A function of a manager that can be stopped reads its lifecycle record.
        if (stoppable.some((m) => m.functions.includes(name))) expected.add('dynamodb');
        // A queue's consumer also receives and deletes through its event source mapping.
        if (consumers.has(name)) expected.add('sqs');
        const granted = new Set(
          statementsOf(name)
            .flatMap(actionsOf)
            .map((a) => a.split(':')[0]!)
            .filter((svc) => svc !== 'logs' && svc !== 'xray'),
        );
        expect([...granted].sort(), name).toEqual([...expected].sort());
      }
    });

    it('lets the status function read exports but not write them, and send to the migrations queue', () => {
      const actions = statementsOf('status').flatMap(actionsOf);
      expect(actions).toEqual(
        expect.arrayContaining(['s3:ListBucket', 's3:GetObject', 'sqs:SendMessage', 'events:PutEvents']),
      );
      expect(actions).not.toContain('s3:PutObject');
      expect(actions).not.toContain('s3:DeleteObject');
      expect(actions).not.toContain('dynamodb:PutItem');
      const env = fnResource('status').Environment.Variables;
      for (const key of ['EXPORTS_BUCKET', 'STATE_TABLE', 'EVENT_BUS_NAME', queueUrlVariable('migrations')]) {
        expect(env[key], key).toBeDefined();
      }
    });

    it('lets only the functions with dead-letters access read and delete dead letters, on the dead-letter queue alone', () => {
      const readers = functionNames.filter((n) => accessOf(n).includes('queue:migrations:dead-letters'));
      expect(readers.sort()).toEqual(['migrationManager', 'redriveMigration']);
      for (const name of readers) {
        const dlqStatements = statementsOf(name).filter((st) => actionsOf(st).includes('sqs:ReceiveMessage'));
        expect(dlqStatements, name).toHaveLength(1);
        expect([...actionsOf(dlqStatements[0]!)].sort()).toEqual([
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:ReceiveMessage',
        ]);
        expect(JSON.stringify(resourcesOf(dlqStatements[0]!))).toMatch(/DeadLetterQueue/);
        expect(fnResource(name).Environment.Variables[deadLetterUrlVariable('migrations')]).toBeDefined();
      }
      for (const name of functionNames) {
        if (readers.includes(name) || consumers.has(name)) continue; // consumers delete what they took
        expect(statementsOf(name).flatMap(actionsOf), name).not.toContain('sqs:DeleteMessage');
      }
    });

    it('puts names and ARNs in the environment, never a secret value', () => {
      expect(looksLikeSecretValue('sk-proj-Abc123def456ghi789')).toBe(true);
      expect(looksLikeSecretValue('vector-platform/dev/openai-api-key')).toBe(false);
      for (const name of functionNames) {
        const vars: Record<string, unknown> = fnResource(name).Environment.Variables;
        for (const [key, value] of Object.entries(vars)) {
          if (typeof value === 'string')
            expect(looksLikeSecretValue(value), `${name} ${key}=${value}`).toBe(false);
          if (key.endsWith('_SECRET'))
            expect(value, `${name} ${key}`).toMatch(/^vector-platform\/dev\/[a-z-]+$/);
        }
      }
      // References only: the stacks create no secret and no parameter, so no value can be inlined.
      for (const template of [s.statefulTemplate, s.statelessTemplate, s.apiTemplate]) {
        template.resourceCountIs('AWS::SecretsManager::Secret', 0);
        template.resourceCountIs('AWS::SSM::Parameter', 0);
      }
    });
  });

  describe('HTTP API', () => {
    it('has exactly one route per manifest route, plus the default route', () => {
      // In the API stack, beside the stateless stack that holds the functions and the API itself.
      s.statelessTemplate.resourceCountIs('AWS::ApiGatewayV2::Route', 0);
      s.apiTemplate.resourceCountIs('AWS::ApiGatewayV2::Route', manifest.routes.length + 1);
      const [fallback, ...others] = Object.values(
        s.apiTemplate.findResources('AWS::ApiGatewayV2::Route', {
          Properties: { RouteKey: '$default' },
        }),
      );
      expect(others).toEqual([]);
      // Public: it only says that no route matches.
      expect(fallback?.Properties.AuthorizationType).toBe('NONE');
      const integration = JSON.stringify(fallback?.Properties.Target);
      expect(integration).toContain('UnroutedIntegration');
    });

    it.each(manifest.routes.map((r) => [`${r.method} ${r.path}`, r] as const))(
      '%s reaches its function',
      (routeKey, route) => {
        const routes = s.apiTemplate.findResources('AWS::ApiGatewayV2::Route', {
          Properties: { RouteKey: routeKey },
        });
        expect(Object.keys(routes)).toHaveLength(1);
        const props = Object.values(routes)[0]!.Properties;
        const integrationId = props.Target['Fn::Join'][1][1].Ref as string;
        const integration = s.apiTemplate.toJSON().Resources[integrationId].Properties;
        expect(integration).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
        // The alias, by its ARN: a release shifts the route's traffic with it.
        expect(cfnString(integration.IntegrationUri)).toBe(
          `arn:aws:lambda:${TEST_REGION}:<AWS::AccountId>:function:vector-platform-dev-${route.function}:live`,
        );
        // Non-public routes need a verified token (identity.test.ts checks which authorizer).
        expect(props.AuthorizationType ?? 'NONE').toBe(route.role === 'public' ? 'NONE' : 'JWT');
      },
    );

    it('throttles and access-logs the default stage', () => {
      const accessLogs = logicalIdOf(s.api.node.findChild('HttpApiAccessLogs') as never);
      s.apiTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: {
          ThrottlingRateLimit: manifest.limits.stage.ratePerSecond,
          ThrottlingBurstLimit: manifest.limits.stage.burst,
        },
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [accessLogs, 'Arn'] },
          Format: Match.stringLikeRegexp('\\$context\\.requestId'),
        },
      });
      s.apiTemplate.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('has no CORS configuration by default: no origin is allowed to read answers', () => {
      const api = Object.values(s.statelessTemplate.findResources('AWS::ApiGatewayV2::Api'))[0]!.Properties;
      expect(api.CorsConfiguration).toBeUndefined();
    });
  });

  describe('data', () => {
    it.each(Object.entries(manifest.queues))('queue %s redrives to its dead-letter queue', (name, decl) => {
      const pair = s.stateful.queues[name]!;
      const resources = s.statefulTemplate.toJSON().Resources;
      const queue = resources[logicalIdOf(pair.queue)].Properties;
      const dlqId = logicalIdOf(pair.deadLetterQueue);
      expect(queue).toMatchObject({
        VisibilityTimeout: decl.visibilityTimeoutSeconds,
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
          maxReceiveCount: decl.maxReceiveCount,
        },
      });
      expect(resources[dlqId].Properties).toMatchObject({
        MessageRetentionPeriod: 14 * 24 * 3600,
        SqsManagedSseEnabled: true,
      });
      for (const id of [logicalIdOf(pair.queue), dlqId]) {
        s.statefulTemplate.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: id }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
    });

    it('alarms on every dead-letter queue and on every function error', () => {
      const topic = { Ref: logicalIdOf(s.stateful.alarmTopic) };
      for (const { deadLetterQueue } of Object.values(s.stateful.queues)) {
        s.statefulTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [
            { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(deadLetterQueue), 'QueueName'] } },
          ],
          Threshold: 1,
          AlarmActions: [topic],
        });
      }
      // By the functions' fixed names, through their live alias (releases.test.ts: they roll back).
      const errorAlarms = s.operationsTemplate.findResources('AWS::CloudWatch::Alarm', {
        Properties: { MetricName: 'Errors' },
      });
      const alarmed = Object.values(errorAlarms).map((a) => JSON.stringify(a.Properties.Dimensions));
      for (const name of functionNames) {
        const deployed = `vector-platform-dev-${name}`;
        expect(alarmed, name).toContain(
          JSON.stringify([
            { Name: 'FunctionName', Value: deployed },
            { Name: 'Resource', Value: `${deployed}:live` },
          ]),
        );
      }
      expect(Object.keys(errorAlarms)).toHaveLength(functionNames.length);
      for (const alarm of Object.values(errorAlarms)) expect(alarm.Properties.AlarmActions).toHaveLength(1);
      // Handler-mapped 5xx answers are Lambda successes: they have their own alarm.
      s.operationsTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'VectorPlatform',
        MetricName: 'ServerErrors',
        Dimensions: [{ Name: 'service', Value: 'vector-platform' }],
        Threshold: 1,
        AlarmActions: [Match.anyValue()],
      });
      s.statefulTemplate.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
      s.statefulTemplate.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    });

    it('keeps every platform event in the bus archive', () => {
      const busId = logicalIdOf(s.stateful.eventBus);
      s.statefulTemplate.hasResourceProperties('AWS::Events::EventBus', { Name: 'vector-platform-dev' });
      s.statefulTemplate.hasResourceProperties('AWS::Events::Archive', {
        SourceArn: { 'Fn::GetAtt': [busId, 'Arn'] },
        EventPattern: { source: [manifest.eventSource] },
        RetentionDays: 30,
      });
    });

    it('blocks public access to the exports bucket, encrypts it and denies plain HTTP', () => {
      const bucketId = logicalIdOf(s.stateful.exportsBucket);
      const bucket = s.statefulTemplate.toJSON().Resources[bucketId];
      expect(bucket.DeletionPolicy).toBe('Retain');
      expect(bucket.Properties).toMatchObject({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: { Ref: logicalIdOf(s.stateful.accessLogsBucket) } },
      });
      expect(JSON.stringify(bucket.Properties.LifecycleConfiguration)).toContain(
        'NoncurrentVersionExpiration',
      );
      s.statefulTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('holds state in a pk/sk table with point-in-time recovery and encryption', () => {
      const table = s.statefulTemplate.toJSON().Resources[logicalIdOf(s.stateful.stateTable)];
      expect(table.DeletionPolicy).toBe('Retain');
      expect(table.Properties).toMatchObject({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
      });
    });

    it('outputs the API URLs, bucket, queue URLs, bus name, user pool, clients and token endpoint', () => {
      const outputs = Object.keys(s.statefulTemplate.toJSON().Outputs);
      expect(outputs).toEqual(
        expect.arrayContaining(['ExportsBucketName', 'EventBusName', 'MigrationsQueueUrl']),
      );
      expect(Object.keys(s.apiTemplate.toJSON().Outputs)).toContain('DirectApiUrl');
      expect(Object.keys(s.edgeTemplate.toJSON().Outputs)).toContain('ApiUrl');
      expect(Object.keys(s.statefulTemplate.toJSON().Outputs)).toEqual(
        expect.arrayContaining(['UserPoolId', 'UserClientId', 'MachineClientId', 'TokenEndpoint']),
      );
    });
  });
});

describe('the platform stacks (context overrides)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform({
      context: {
        stage: 'qa',
        embedder: 'local',
        corsOrigins: 'https://app.example.com, https://admin.example.com',
        logRetentionDays: '90',
        destroyOnRemoval: 'true',
        qdrantApiKeySecret: 'ops/qdrant',
      },
    });
  });

  it('derives stack, bus, function and reference names from the stage', () => {
    expect(s.stateless.stackName).toBe('VectorPlatform-qa-Stateless');
    s.statefulTemplate.hasResourceProperties('AWS::Events::EventBus', { Name: 'vector-platform-qa' });
    const upsert = s.statelessTemplate.toJSON().Resources[logicalIdOf(s.stateless.functions.upsert!.fn)];
    expect(upsert.Properties.FunctionName).toBe('vector-platform-qa-upsert');
    const env = upsert.Properties.Environment.Variables;
    expect(env).toMatchObject({
      STAGE: 'qa',
      QDRANT_URL_PARAMETER: '/vector-platform/qa/qdrant-url',
      QDRANT_API_KEY_SECRET: 'ops/qdrant',
    });
  });

  it('with the local embedder, sets EMBEDDER=local and grants no access to the OpenAI secret', () => {
    const upsert = s.stateless.functions.upsert!;
    const env =
      s.statelessTemplate.toJSON().Resources[logicalIdOf(upsert.fn)].Properties.Environment.Variables;
    expect(env.EMBEDDER).toBe('local');
    expect(env.OPENAI_API_KEY_SECRET).toBeUndefined();
    const secrets = statementsOfRole(s.statelessTemplate, logicalIdOf(upsert.role)).filter((st) =>
      actionsOf(st).includes('secretsmanager:GetSecretValue'),
    );
    expect(secrets.flatMap(resourcesOf).map((r) => JSON.stringify(r))).toEqual([
      expect.stringContaining(':secret:ops/qdrant-??????'),
    ]);
  });

  it("applies CORS origins, retention and removal policy from context; throttles stay the manifest's", () => {
    const api = Object.values(s.statelessTemplate.findResources('AWS::ApiGatewayV2::Api'))[0]!.Properties;
    const methods = [...new Set(manifest.routes.map((r) => r.method))].sort();
    expect(api.CorsConfiguration).toEqual({
      AllowOrigins: ['https://app.example.com', 'https://admin.example.com'],
      AllowMethods: expect.any(Array),
      AllowHeaders: ['authorization', 'content-type', 'x-correlation-id'],
      ExposeHeaders: ['apigw-requestid', 'retry-after', 'location', 'x-correlation-id'],
      MaxAge: 3600,
    });
    expect([...api.CorsConfiguration.AllowMethods].sort()).toEqual(methods);
    s.apiTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: {
        ThrottlingRateLimit: manifest.limits.stage.ratePerSecond,
        ThrottlingBurstLimit: manifest.limits.stage.burst,
      },
    });
    s.statelessTemplate.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    s.apiTemplate.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    s.statefulTemplate.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    s.statefulTemplate.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
  });
});
