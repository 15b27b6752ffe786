import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alias, Architecture, type CfnAlias, Code, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { Role as RouteRole } from '../../shared/auth/roles.ts';
import {
  exportObjectsArn,
  functionEnvironment,
  LIVE_ALIAS,
  type ManagedResources,
  type ResourceRefs,
  type WorkflowRefs,
  workflowRefs,
} from '../function-environment.ts';
import type { FunctionDecl } from '../manifest.ts';
import { deployedName, releaseApplicationName } from '../stacks/naming.ts';
import type { StageSettings } from '../stacks/settings.ts';
import { bundledFilesCommands, handlerBundle } from './bundling.ts';
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
  /** The platform's people (`users:read`). */
  userPool: IUserPool;
}

/** What a function may name besides the stateful resources: other functions, mappings, the API. */
export type FunctionLinks = Pick<ResourceRefs, 'functions' | 'eventSourceMappings' | 'httpApi'>;

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
  links: FunctionLinks;
  /** The managers and what each runs (`managedResourcesOf`). */
  managers: Readonly<Record<string, ManagedResources>>;
  /** The role each route it serves needs (`routeRolesOf`); none for functions no route invokes. */
  routeRoles?: Readonly<Record<string, RouteRole>>;
}

/**
 * Resource-less actions a grant may name with resource `*` (IAM has no resource-level permission
 * for them), each with why; any other `*` grant fails the synth rather than hide behind the
 * acknowledgement below.
 */
const UNSCOPABLE_ACTIONS: Readonly<Record<string, string>> = {
  'cloudwatch:GetMetricData': 'reading metrics (cloudwatch:GetMetricData)',
};

/**
 * Every Lambda of the platform, named `<service>-<stage>-<key>` (`deployedName`) and invoked
 * through its `live` alias, which CodeDeploy moves to each new version (`releases.ts`): Node 22 on
 * ARM64, bundled as minified ESM with source maps, traced, logging to its own log group with a
 * retention, with exactly the permissions its manifest `access` list names (its role has no
 * managed policy) and the configuration that `shared/config.ts` reads — resource names and ARNs
 * only, never a secret value.
 */
export class ServiceFunction extends Construct {
  readonly fn: NodejsFunction;
  /** What everything invokes: the alias a release shifts from the previous version to the new one. */
  readonly live: Alias;
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

    const workflows = stackWorkflowRefs(this, props.service, settings.stage);
    const { environment, grants } = functionEnvironment(
      decl,
      {
        ...platformRefs(props.resources),
        ...notificationRefs(this, settings),
        ...props.links,
        workflows,
      },
      {
        name: props.name,
        service: props.service,
        stage: settings.stage,
        version: props.version,
        settings: settings.platform,
        routeRoles: props.routeRoles ?? {},
        managers: props.managers,
      },
    );
    const objects = exportObjectsArn(props.resources.exportsBucket.bucketArn);
    const webhookSecrets = `${notificationRefs(this, settings).webhookSecrets.arn}*`;
    const workflowPatterns = [
      `${workflows.stateMachineArnPrefix}wf-*`,
      `${workflows.executionArnPrefix}wf-*:*`,
      `${workflows.roleArnPrefix}wf-*`,
    ];
    for (const grant of grants) {
      this.role.addToPolicy(
        new PolicyStatement({
          actions: [...grant.actions],
          resources: [...grant.resources],
          ...(grant.conditions ? { conditions: grant.conditions } : {}),
        }),
      );
      if (grant.resources.includes(objects)) {
        Validations.of(this.role).acknowledge({
          id: `AwsSolutions-IAM5[${nagResourceFinding(this, objects)}]`,
          reason:
            'Exports are addressed by object key, so `<exports bucket>/*` is the narrowest resource for object access.',
        });
      }
      for (const resource of grant.resources.filter((r) => workflowPatterns.includes(r))) {
        Validations.of(this.role).acknowledge({
          id: `AwsSolutions-IAM5[${nagResourceFinding(this, resource)}]`,
          reason:
            "Workflows' state machines, executions and execution roles are created at run time, named `<stage prefix>wf-<id>`: the stage's `wf-*` prefix is the narrowest resource (roles only with the boundary, passed only to Step Functions).",
        });
      }
      if (grant.resources.includes(webhookSecrets)) {
        Validations.of(this.role).acknowledge({
          id: `AwsSolutions-IAM5[${nagResourceFinding(this, webhookSecrets)}]`,
          reason:
            'Webhook secrets are created per subscription at run time, so their name prefix (`<stage>/notifications/webhooks/*`) is the narrowest resource.',
        });
      }
    }

    const unscopable = new Set<string>();
    for (const grant of grants.filter((g) => g.resources.includes('*'))) {
      for (const action of grant.actions) {
        const why = UNSCOPABLE_ACTIONS[action];
        if (!why) throw new Error(`${props.name}: ${action} is granted on every resource ("*")`);
        unscopable.add(why);
      }
    }

    const functionName = deployedName(props.service, settings.stage, props.name, 'Function');
    const bundlingSkipped = !Stack.of(this).bundlingRequired;
    this.fn = new NodejsFunction(this, 'Function', {
      functionName,
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
              ...(decl.files && decl.files.length > 0
                ? {
                    commandHooks: {
                      beforeBundling: () => [],
                      beforeInstall: () => [],
                      afterBundling: (inputDir: string, outputDir: string) =>
                        bundledFilesCommands(decl.files!, inputDir, outputDir),
                    },
                  }
                : {}),
            },
          }),
    });

    // A new version whenever the code or configuration changes (CDK hashes both); the alias moves
    // to it through the function's deployment group, which the operations stack declares under
    // these fixed names (a reference would make that stack and this one depend on each other).
    this.live = new Alias(this, 'Live', { aliasName: LIVE_ALIAS, version: this.fn.currentVersion });
    (this.live.node.defaultChild as CfnAlias).cfnOptions.updatePolicy = {
      codeDeployLambdaAliasUpdate: {
        applicationName: releaseApplicationName(props.service, settings.stage),
        deploymentGroupName: functionName,
      },
    };

    Validations.of(this.fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the project is built and tested on; moving to a newer one is its own change.',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: `Active tracing (xray:PutTraceSegments, xray:PutTelemetryRecords)${[...unscopable].map((why) => ` and ${why}`).join('')} support no resource scoping.`,
    });
  }
}

/** The workflows' state machines and roles in `scope`'s account and region. */
export function stackWorkflowRefs(scope: Construct, service: string, stage: string): WorkflowRefs {
  const stack = Stack.of(scope);
  return workflowRefs({
    service,
    stage,
    partition: stack.partition,
    region: stack.region,
    account: stack.account,
  });
}

/** What the notifications manager names outside the stacks: its secrets' prefix, its SES identity. */
function notificationRefs(
  scope: Construct,
  settings: StageSettings,
): Pick<ResourceRefs, 'webhookSecrets' | 'emailIdentity'> {
  const { webhookSecretsPrefix, notificationsEmailFrom } = settings.references;
  const stack = Stack.of(scope);
  return {
    webhookSecrets: {
      name: webhookSecretsPrefix,
      arn: stack.formatArn({
        service: 'secretsmanager',
        resource: 'secret',
        resourceName: webhookSecretsPrefix,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
    emailIdentity: {
      name: notificationsEmailFrom,
      arn: stack.formatArn({
        service: 'ses',
        resource: 'identity',
        resourceName: notificationsEmailFrom.split('@')[1]!,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    },
  };
}

/** The stateful stack's resources as the references `functionEnvironment` takes. */
function platformRefs(
  r: PlatformResources,
): Omit<ResourceRefs, keyof FunctionLinks | 'webhookSecrets' | 'emailIdentity' | 'workflows'> {
  const queueRefs = (queues: Readonly<Record<string, IQueue>>) =>
    Object.fromEntries(
      Object.entries(queues).map(([name, q]) => [name, { url: q.queueUrl, arn: q.queueArn }]),
    );
  return {
    exportsBucket: { name: r.exportsBucket.bucketName, arn: r.exportsBucket.bucketArn },
    stateTable: { name: r.stateTable.tableName, arn: r.stateTable.tableArn },
    eventBus: { name: r.eventBus.eventBusName, arn: r.eventBus.eventBusArn },
    queues: queueRefs(r.queues),
    deadLetterQueues: queueRefs(r.deadLetterQueues),
    qdrantUrlParameter: { name: r.qdrantUrlParameter.parameterName, arn: r.qdrantUrlParameter.parameterArn },
    qdrantApiKeySecret: { name: r.qdrantApiKeySecret.secretName, arn: r.qdrantApiKeySecret.secretArn },
    openaiApiKeySecret: { name: r.openaiApiKeySecret.secretName, arn: r.openaiApiKeySecret.secretArn },
    userPool: { name: r.userPool.userPoolId, arn: r.userPool.userPoolArn },
  };
}
