import { Duration, Fn, Lazy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { CorsHttpMethod, HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { type EventPattern, Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction, SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Bucket, EventType } from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { CORRELATION_HEADER } from '../../shared/correlation.ts';
import {
  type FunctionLinks,
  type PlatformResources,
  ServiceFunction,
} from '../constructs/service-function.ts';
import {
  managedResourcesOf,
  type ResourceRef,
  routeRolesOf,
  workflowBoundaryGrant,
  workflowBoundaryPolicyName,
} from '../function-environment.ts';
import {
  type Manifest,
  type EventPattern as ManifestPattern,
  queueConsumerProblem,
  type RuleDecl,
} from '../manifest.ts';
import { API_STAGE_NAME } from './api-stack.ts';
import { deployedName, functionArn, pascalCase } from './naming.ts';
import type { StageSettings } from './settings.ts';
import { alarmOnDeadLetters, deadLetterAlarmName, EXPORTS_BUCKET_ARN_OUTPUT } from './stateful-stack.ts';

/** The key of the rule targets' dead-letter queue among the queues' (`deadLetterAlarmName`). */
export const RULE_TARGETS_DEAD_LETTERS = 'rule-targets';

export interface StatelessStackProps extends StackProps {
  manifest: Manifest;
  settings: StageSettings;
  /** `package.json` version, reported by the version endpoint. */
  version: string;
  /** From the stateful stack. */
  resources: PlatformResources;
  statefulStackName: string;
  alarmTopic: ITopic;
}

/** The CORS answer of a stage that names origins (`corsOrigins`); none without them. */
// A page may name its own correlation id and read the one the API answered with.
export const CORS_ALLOW_HEADERS = ['authorization', 'content-type', CORRELATION_HEADER] as const;
export const CORS_EXPOSE_HEADERS = [
  'apigw-requestid',
  'retry-after',
  'location',
  CORRELATION_HEADER,
] as const;
export const CORS_MAX_AGE_SECONDS = 3600;

/**
 * Everything that can be replaced at will: one function per manifest entry with its `live` alias,
 * the HTTP API (its stage and routes are the API stack's), the queue consumers, event rules and
 * bucket notifications, all invoking the aliases. Functions and rules have fixed names
 * (`deployedName`): functions name each other by them. Alarms, releases and the dashboard are the
 * operations stack's.
 */
export class StatelessStack extends Stack {
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** Its stage and routes are the API stack's (`ApiStack`). */
  readonly api: HttpApi;
  /** Events no rule target could take; none without rules. */
  readonly ruleTargetDeadLetterQueue: IQueue | undefined;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { manifest, settings, alarmTopic } = props;
    // The bucket's ARN read by output name: automatic cross-stack references would end up in IAM
    // policies (and in the cdk-nag findings that name them) under a generated output name.
    const exportsBucket = Bucket.fromBucketAttributes(this, 'ExportsBucket', {
      bucketName: props.resources.exportsBucket.bucketName,
      bucketArn: Fn.getStackOutput(props.statefulStackName, EXPORTS_BUCKET_ARN_OUTPUT),
    });
    const resources: PlatformResources = { ...props.resources, exportsBucket };

    // The HTTP API, before the functions (`api:metrics` names it), in this stack: its routes name
    // the functions, and the API stack that holds them follows this one. CORS only for the
    // origins a stage names: requests carry bearer tokens.
    const methods = [...new Set(manifest.routes.map((r) => r.method))];
    this.api = new HttpApi(this, 'HttpApi', {
      apiName: `${manifest.service}-${settings.stage}`,
      description: `${manifest.service} /api/v1 (${settings.stage})`,
      createDefaultStage: false,
      ...(settings.corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: settings.corsOrigins,
              allowMethods: methods.map((m) => CorsHttpMethod[m]),
              allowHeaders: [...CORS_ALLOW_HEADERS],
              exposeHeaders: [...CORS_EXPOSE_HEADERS],
              maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
            },
          }
        : {}),
    });
    // What functions may name besides the stateful resources. Functions by their fixed names:
    // references would make cycles (managers invoke each other). Event source mappings are
    // created with their consumers below, so they are named by tokens resolved at synth.
    const mappings: Record<string, SqsEventSource> = {};
    const mappingOf = (queue: string): SqsEventSource => {
      const source = mappings[queue];
      if (!source) throw new Error(`Queue ${queue} has no event source mapping`);
      return source;
    };
    const links: FunctionLinks = {
      functions: Object.fromEntries(
        Object.keys(manifest.functions).map((name) => {
          const deployed = deployedName(manifest.service, settings.stage, name, 'Function');
          return [name, { name: deployed, arn: functionArn(this, deployed) }];
        }),
      ),
      eventSourceMappings: Object.fromEntries(
        Object.entries(manifest.queues)
          .filter(([, q]) => q.consumer !== undefined)
          .map(([queue]): [string, ResourceRef] => [
            queue,
            {
              name: Lazy.string({ produce: () => mappingOf(queue).eventSourceMappingId }),
              arn: Lazy.string({ produce: () => mappingOf(queue).eventSourceMappingArn }),
            },
          ]),
      ),
      httpApi: { id: this.api.apiId, stage: API_STAGE_NAME },
    };
    const managers = managedResourcesOf(manifest);

    const functions: Record<string, ServiceFunction> = {};
    for (const [name, decl] of Object.entries(manifest.functions)) {
      const fn = new ServiceFunction(this, pascalCase(name), {
        name,
        decl,
        service: manifest.service,
        version: props.version,
        settings,
        resources,
        links,
        managers,
        routeRoles: routeRolesOf(manifest, name),
      });
      functions[name] = fn;
    }
    this.functions = functions;

    // The most any workflow's execution role may do (the workflow manager creates the roles at run
    // time, each with this boundary and a policy naming only the managers its tasks call).
    if (Object.values(manifest.functions).some((f) => f.access.includes('workflows:manage'))) {
      const boundary = workflowBoundaryGrant(links, managers);
      new ManagedPolicy(this, 'WorkflowTaskBoundary', {
        managedPolicyName: workflowBoundaryPolicyName(manifest.service, settings.stage),
        description:
          "Permissions boundary of the workflows' execution roles: invoke the managers' live aliases",
        statements: [
          new PolicyStatement({ actions: [...boundary.actions], resources: [...boundary.resources] }),
        ],
      });
    }
    const fnOf = (name: string, usedBy: string): ServiceFunction => {
      const fn = functions[name];
      if (!fn) throw new Error(`${usedBy} names function "${name}", which the manifest does not declare`);
      return fn;
    };

    // Queue consumers.
    for (const [name, decl] of Object.entries(manifest.queues)) {
      if (!decl.consumer) continue;
      const fn = fnOf(decl.consumer, `Queue ${name}`);
      const queue = resources.queues[name];
      if (!queue) throw new Error(`Queue ${name} is missing from the stateful stack`);
      const problem = queueConsumerProblem(manifest, name);
      if (problem) throw new Error(problem);
      const source = new SqsEventSource(queue, {
        batchSize: decl.batchSize,
        maxBatchingWindow: Duration.seconds(decl.maxBatchingWindowSeconds),
        maxConcurrency: decl.maxConcurrency,
        reportBatchItemFailures: true,
      });
      fn.live.addEventSource(source);
      mappings[name] = source;
    }

    // Event rules, to a function or a queue; events a target cannot take after its retries go to
    // one dead-letter queue.
    const rules = Object.entries(manifest.rules);
    this.ruleTargetDeadLetterQueue = undefined;
    if (rules.length > 0) {
      const ruleDlq = new Queue(this, 'RuleTargetDeadLetterQueue', {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      Validations.of(ruleDlq).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is itself the dead-letter queue of the event rule targets.',
      });
      this.ruleTargetDeadLetterQueue = ruleDlq;
      // Named as the queues' dead-letter alarms are: the operations stack's composite reads it by name.
      alarmOnDeadLetters(
        this,
        'RuleTargetDeadLetterAlarm',
        ruleDlq,
        alarmTopic,
        'Events that no rule target could take',
        deadLetterAlarmName(manifest.service, settings.stage, RULE_TARGETS_DEAD_LETTERS),
      );
      const delivery = { deadLetterQueue: ruleDlq, retryAttempts: 4, maxEventAge: Duration.hours(2) };
      const targetOf = (name: string, decl: RuleDecl) => {
        if (decl.function !== undefined)
          return new LambdaFunction(fnOf(decl.function, `Rule ${name}`).live, delivery);
        const queue = resources.queues[decl.queue];
        if (!queue)
          throw new Error(`Rule ${name} names queue "${decl.queue}", which the manifest does not declare`);
        // Imported: SqsQueue's grant to the rule would write this rule's ARN into the queue's
        // policy in the stateful stack, a reference back to this stack (a cycle). On an imported
        // queue it does nothing; the stateful stack grants the rule by its fixed name instead. The
        // ARN is formatted here so that its account and region are this stack's (a rule warns of
        // a target whose environment it cannot compare).
        const imported = Queue.fromQueueArn(
          this,
          `${pascalCase(name)}RuleQueue`,
          Stack.of(this).formatArn({ service: 'sqs', resource: queue.queueName }),
        );
        return new SqsQueue(imported, delivery);
      };
      for (const [name, decl] of rules) {
        new Rule(this, `${pascalCase(name)}Rule`, {
          ruleName: deployedName(manifest.service, settings.stage, name, 'Rule'),
          // The default bus when the events are an AWS service's (`bus: 'default'`).
          ...(decl.bus === 'default' ? {} : { eventBus: resources.eventBus }),
          description: decl.description,
          eventPattern: toCdkPattern(decl.pattern, `Rule ${name}`),
          targets: [targetOf(name, decl)],
        });
      }
    }

    // Schedules: rules on the account's default bus, as EventBridge schedules are.
    for (const [name, decl] of Object.entries(manifest.schedules ?? {})) {
      const fn = fnOf(decl.function, `Schedule ${name}`);
      if (!Number.isInteger(decl.rateMinutes) || decl.rateMinutes < 1) {
        throw new Error(`Schedule ${name}: rateMinutes must be a whole number of minutes, at least 1`);
      }
      new Rule(this, `${pascalCase(name)}Schedule`, {
        description: decl.description,
        schedule: Schedule.rate(Duration.minutes(decl.rateMinutes)),
        targets: [
          new LambdaFunction(fn.live, {
            retryAttempts: 2,
            ...(decl.input ? { event: RuleTargetInput.fromObject(decl.input) } : {}),
          }),
        ],
      });
    }

    // Bucket notifications, on the imported bucket: configuring it from its own stack
    // would make the stateful stack depend on these functions, and these on it.
    if (manifest.notifications.length > 0) {
      for (const n of manifest.notifications) {
        const fn = fnOf(n.function, `Notification ${n.prefix}`);
        exportsBucket.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(fn.live), {
          prefix: n.prefix,
          ...(n.suffix ? { suffix: n.suffix } : {}),
        });
      }
      // The notifications are applied at deployment by CDK's singleton custom resource.
      const applier = this.node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
      const applierRole = applier?.node.tryFindChild('Role');
      if (!applierRole) throw new Error('The bucket-notifications custom resource was not found');
      Validations.of(applierRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "CDK's bucket-notifications handler runs only at deployment and its role is not configurable; the policy only lets it write its logs.",
      });
    }
  }
}

const PATTERN_FIELDS: Record<string, keyof EventPattern> = {
  source: 'source',
  'detail-type': 'detailType',
  detail: 'detail',
  account: 'account',
  region: 'region',
  resources: 'resources',
  time: 'time',
  id: 'id',
  version: 'version',
};

/** The manifest writes patterns as EventBridge does (`detail-type`); CDK wants camel case. */
export function toCdkPattern(pattern: ManifestPattern, usedBy: string): EventPattern {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pattern)) {
    const field = PATTERN_FIELDS[key];
    if (!field) throw new Error(`${usedBy}: "${key}" is not an EventBridge pattern field`);
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    if (key === 'detail' ? !isObject : !Array.isArray(value)) {
      throw new Error(
        `${usedBy}: pattern field "${key}" must be ${key === 'detail' ? 'an object' : 'an array'}`,
      );
    }
    out[field] = value;
  }
  if (Object.keys(out).length === 0) throw new Error(`${usedBy}: the event pattern is empty`);
  return out as EventPattern;
}
