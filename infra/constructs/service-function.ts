import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { Effect, type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { Access, FunctionDecl } from '../manifest.ts';
import type { StageSettings } from '../stacks/settings.ts';
import { handlerBundle } from './bundling.ts';
import { nagResourceFinding } from './nag.ts';

/** The repository root: manifest entries are relative to it, and it holds the lock file. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The resources a manifest `access` entry can name (owned by the stateful stack). */
export interface PlatformResources {
  /**
   * Its ARN must have its final form where the functions are (see `nagResourceFinding`): the
   * bucket itself in the same stack, a view imported through `Fn.getStackOutput` in another.
   */
  exportsBucket: IBucket;
  stateTable: ITable;
  eventBus: IEventBus;
  queues: Readonly<Record<string, IQueue>>;
  deadLetterQueues: Readonly<Record<string, IQueue>>;
  qdrantUrlParameter: IStringParameter;
  qdrantApiKeySecret: ISecret;
  openaiApiKeySecret: ISecret;
}

export interface ServiceFunctionProps {
  /** The function's key in the manifest (`upsert`, `health`…). */
  name: string;
  decl: FunctionDecl;
  /** `manifest.service`: Powertools service name. */
  service: string;
  /** Reported by the version endpoint. */
  version: string;
  settings: StageSettings;
  resources: PlatformResources;
}

/** Powertools metrics namespace, the same one `shared/powertools.ts` defaults to locally. */
export const METRICS_NAMESPACE = 'VectorPlatform';

/** The environment variable carrying a queue's URL, as `shared/config.ts` names it. */
export function queueUrlVariable(queue: string): string {
  if (queue === 'migrations') return 'MIGRATION_QUEUE_URL';
  return `${queue.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}_QUEUE_URL`;
}

/** The environment variable carrying a queue's dead-letter queue URL, as `shared/config.ts` names it. */
export function deadLetterUrlVariable(queue: string): string {
  if (queue === 'migrations') return 'MIGRATION_DLQ_URL';
  return `${queue.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}_DLQ_URL`;
}

const QUEUE_ACCESS = /^queue:(.+):(send|dead-letters)$/;

/**
 * Every Lambda of the platform: Node 22 on ARM64, bundled as minified ESM with source maps,
 * traced, logging to its own log group with a retention, with exactly the permissions its
 * manifest `access` list names (its role has no managed policy) and the configuration that
 * `shared/config.ts` reads — resource names and ARNs only, never a secret value.
 */
export class ServiceFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const { decl, settings } = props;

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${props.name} function`,
    });
    // What AWSLambdaBasicExecutionRole would grant, scoped to this function's own log group.
    this.logGroup.grantWrite(this.role);

    const environment: Record<string, string> = {
      STAGE: settings.stage,
      SERVICE_VERSION: props.version,
      EMBEDDER: settings.embedder,
      POWERTOOLS_SERVICE_NAME: props.service,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    };
    const objectActions = new Set<string>();
    for (const access of decl.access) {
      Object.assign(environment, grantAccess(this.role, access, props, objectActions));
    }
    if (objectActions.size > 0) {
      const objects = props.resources.exportsBucket.arnForObjects('*');
      this.role.addToPolicy(new PolicyStatement({ actions: [...objectActions], resources: [objects] }));
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[${nagResourceFinding(this, objects)}]`,
        reason:
          'Exports are addressed by object key, so `<exports bucket>/*` is the narrowest resource for object access.',
      });
    }

    const bundlingSkipped = !Stack.of(this).bundlingRequired;
    this.fn = new NodejsFunction(this, 'Function', {
      description: decl.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: decl.memoryMb,
      timeout: Duration.seconds(decl.timeoutSeconds),
      tracing: Tracing.ACTIVE,
      logGroup: this.logGroup,
      role: this.role,
      environment,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      ...(bundlingSkipped
        ? {
            // Synths that skip bundling (tests, `cdk deploy` of another stack) emit a placeholder
            // instead of an asset and so do not need the handler module to exist yet.
            code: Code.fromInline('// placeholder: this stack was synthesized without bundling'),
            handler: 'index.handler',
          }
        : {
            entry: join(PROJECT_ROOT, decl.entry),
            handler: 'handler',
            bundling: {
              target: handlerBundle.target,
              format: handlerBundle.format === 'esm' ? OutputFormat.ESM : OutputFormat.CJS,
              minify: handlerBundle.minify,
              sourceMap: handlerBundle.sourcemap,
              sourcesContent: handlerBundle.sourcesContent,
              mainFields: [...handlerBundle.mainFields],
              externalModules: [...handlerBundle.external],
              banner: handlerBundle.banner,
              esbuildArgs: {
                '--alias': Object.entries(handlerBundle.alias).map(([from, to]) => `${from}=${to}`),
              },
              // Keeps `cdk synth` output to problems; `bench/bundles.ts` reports the sizes.
              logLevel: LogLevel.WARNING,
            },
          }),
    });

    Validations.of(this.fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the project is built and tested on; moving to a newer one is its own change.',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource scoping.',
    });
  }
}

/**
 * Grants one manifest `access` entry and returns the environment variables that name the
 * resource. Actions cover what the AWS adapters in `shared/adapters/` call, `ping` included;
 * object-level S3 actions are collected into `objectActions` and granted in one statement.
 */
function grantAccess(
  grantee: IGrantable,
  access: Access,
  props: ServiceFunctionProps,
  objectActions: Set<string>,
): Record<string, string> {
  const { resources, settings } = props;
  const allow = (actions: string[], arns: string[]) =>
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ effect: Effect.ALLOW, actions, resources: arns }),
    );
  // A secret referenced by name: Secrets Manager appends a random 6-character suffix to its ARN.
  const secretArns = (secret: ISecret) => [`${secret.secretArn}-??????`];

  switch (access) {
    case 'qdrant':
      allow(['ssm:GetParameter'], [resources.qdrantUrlParameter.parameterArn]);
      allow(['secretsmanager:GetSecretValue'], secretArns(resources.qdrantApiKeySecret));
      return {
        QDRANT_URL_PARAMETER: resources.qdrantUrlParameter.parameterName,
        QDRANT_API_KEY_SECRET: resources.qdrantApiKeySecret.secretName,
      };
    case 'embedder':
      // The local embedder needs no key, so a stage that uses it gets no access to the OpenAI secret.
      if (settings.embedder !== 'openai') return {};
      allow(['secretsmanager:GetSecretValue'], secretArns(resources.openaiApiKeySecret));
      return { OPENAI_API_KEY_SECRET: resources.openaiApiKeySecret.secretName };
    case 'exports:read':
      allow(['s3:ListBucket'], [resources.exportsBucket.bucketArn]);
      objectActions.add('s3:GetObject');
      return { EXPORTS_BUCKET: resources.exportsBucket.bucketName };
    case 'exports:write':
      objectActions.add('s3:PutObject').add('s3:DeleteObject');
      return { EXPORTS_BUCKET: resources.exportsBucket.bucketName };
    case 'state:read':
      allow(['dynamodb:GetItem', 'dynamodb:Query'], [resources.stateTable.tableArn]);
      return { STATE_TABLE: resources.stateTable.tableName };
    case 'state:write':
      allow(
        ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        [resources.stateTable.tableArn],
      );
      return { STATE_TABLE: resources.stateTable.tableName };
    case 'bus:put':
      allow(['events:PutEvents', 'events:DescribeEventBus'], [resources.eventBus.eventBusArn]);
      return { EVENT_BUS_NAME: resources.eventBus.eventBusName };
    default: {
      const [, queueName, right] = QUEUE_ACCESS.exec(access) ?? [];
      if (right === 'dead-letters') {
        const dlq = queueName === undefined ? undefined : resources.deadLetterQueues[queueName];
        if (!dlq) throw new Error(`${props.name}: access "${access}" names no declared queue`);
        allow(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'], [dlq.queueArn]);
        return { [deadLetterUrlVariable(queueName!)]: dlq.queueUrl };
      }
      const queue = queueName === undefined ? undefined : resources.queues[queueName];
      if (!queueName || !queue) throw new Error(`${props.name}: access "${access}" names no declared queue`);
      allow(['sqs:SendMessage', 'sqs:GetQueueAttributes'], [queue.queueArn]);
      return { [queueUrlVariable(queueName)]: queue.queueUrl };
    }
  }
}
