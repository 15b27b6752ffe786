import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { type IStringParameter, StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { EXPIRES_AT_ATTRIBUTE } from '../../shared/adapters/state-rules.ts';
import { Identity } from '../constructs/identity.ts';
import type { PlatformResources } from '../constructs/service-function.ts';
import type { Manifest } from '../manifest.ts';
import { deployedName, pascalCase, ruleArn } from './naming.ts';
import type { StageSettings } from './settings.ts';

export interface StatefulStackProps extends StackProps {
  manifest: Manifest;
  settings: StageSettings;
}

/** Output read by the stateless stack by name, so that IAM findings on the ARN are predictable. */
export const EXPORTS_BUCKET_ARN_OUTPUT = 'ExportsBucketArn';

/** A manifest queue and the dead-letter queue its poisoned messages end in. */
export interface QueuePair {
  queue: Queue;
  deadLetterQueue: Queue;
}

/**
 * Everything that holds data or outlives a deployment: the exports bucket, the queues and their
 * dead-letter queues, the event bus and its archive, the state table, the alarm topic, the user
 * pool (users, groups, scopes, clients), and the
 * references to the values an operator creates outside the stacks (Qdrant URL and API key, OpenAI key).
 */
export class StatefulStack extends Stack {
  readonly exportsBucket: Bucket;
  readonly accessLogsBucket: Bucket;
  readonly stateTable: Table;
  readonly eventBus: EventBus;
  readonly queues: Readonly<Record<string, QueuePair>>;
  readonly alarmTopic: Topic;
  readonly qdrantUrlParameter: IStringParameter;
  readonly qdrantApiKeySecret: ISecret;
  readonly openaiApiKeySecret: ISecret;
  /** What the stateless stack's functions may be granted. */
  readonly resources: PlatformResources;
  /** Users, groups, scopes and clients: who may call the API. */
  readonly identity: Identity;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { manifest, settings } = props;
    const removalPolicy = settings.removalPolicy;

    // Alarms: a customer-managed key, since CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key.
    const alarmKey = new Key(this, 'AlarmTopicKey', {
      description: `Encrypts the ${manifest.service} ${settings.stage} alarm topic`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    alarmKey.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: `${manifest.service} ${settings.stage} alarms`,
      masterKey: alarmKey,
      enforceSSL: true,
    });
    if (settings.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(settings.alarmEmail));

    // Receives the exports bucket's server access logs (cdk-nag accepts a log destination without its own logs).
    this.accessLogsBucket = new Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      // Server access log delivery supports SSE-S3 only.
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy,
    });
    this.exportsBucket = new Bucket(this, 'ExportsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'exports/',
      lifecycleRules: [
        {
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      removalPolicy,
    });

    const queues: Record<string, QueuePair> = {};
    for (const [name, decl] of Object.entries(manifest.queues)) {
      const id = pascalCase(name);
      const deadLetterQueue = new Queue(this, `${id}DeadLetterQueue`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      const queue = new Queue(this, `${id}Queue`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        visibilityTimeout: Duration.seconds(decl.visibilityTimeoutSeconds),
        retentionPeriod: Duration.days(4),
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: decl.maxReceiveCount },
      });
      queues[name] = { queue, deadLetterQueue };
      if (decl.alarmTopic) this.alarmTopic.addSubscription(new SqsSubscription(queue));
      alarmOnDeadLetters(
        this,
        `${id}DeadLetterAlarm`,
        deadLetterQueue,
        this.alarmTopic,
        `${name}: messages in the dead-letter queue`,
        deadLetterAlarmName(manifest.service, settings.stage, name),
      );
      new CfnOutput(this, `${id}QueueUrl`, { value: queue.queueUrl, description: decl.description });
      new CfnOutput(this, `${id}DeadLetterQueueUrl`, { value: deadLetterQueue.queueUrl });
    }
    this.queues = queues;

    const eventBusName = `${manifest.service}-${settings.stage}`;
    this.eventBus = new EventBus(this, 'EventBus', {
      eventBusName,
      description: `Events published by ${manifest.service} (${settings.stage})`,
    });
    // Every platform event is kept for replay (rules flagged `archive` replay from here).
    this.eventBus.archive('EventArchive', {
      description: `Events from ${manifest.eventSource}, kept for replay`,
      eventPattern: { source: [manifest.eventSource] },
      retention: Duration.days(30),
    });
    for (const [name, rule] of Object.entries(manifest.rules)) {
      const sources = rule.pattern.source;
      const archived =
        Array.isArray(sources) && sources.length > 0 && sources.every((s) => s === manifest.eventSource);
      if (rule.archive && !archived) {
        throw new Error(
          `Rule ${name}: archive needs a pattern whose source is only "${manifest.eventSource}", the events the bus archive keeps`,
        );
      }
      // A rule's queue target: EventBridge may send to it for that rule alone. The rule (stateless
      // stack) is named by its fixed name: a reference to it would make the stacks a cycle, and a
      // policy resource of its own there would replace this one (SQS keeps one policy per queue).
      if (rule.queue === undefined) continue;
      const target = queues[rule.queue]?.queue;
      if (!target)
        throw new Error(`Rule ${name} names queue "${rule.queue}", which the manifest does not declare`);
      target.addToResourcePolicy(
        new PolicyStatement({
          principals: [new ServicePrincipal('events.amazonaws.com')],
          actions: ['sqs:SendMessage'],
          resources: [target.queueArn],
          conditions: {
            ArnEquals: {
              'aws:SourceArn': ruleArn(
                this,
                eventBusName,
                deployedName(manifest.service, settings.stage, name, 'Rule'),
              ),
            },
          },
        }),
      );
    }

    // The StateStore port: items addressed by `pk` + `sk` with `value`, `version` and `updatedAt`;
    // items written with an expiry are deleted by DynamoDB's TTL after it (reads skip them at once).
    this.stateTable = new Table(this, 'StateTable', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      timeToLiveAttribute: EXPIRES_AT_ATTRIBUTE,
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });

    // Created by the operator outside any stack; referenced by name so no value enters a template.
    const refs = settings.references;
    this.qdrantUrlParameter = StringParameter.fromStringParameterName(
      this,
      'QdrantUrlParameter',
      refs.qdrantUrlParameter,
    );
    this.qdrantApiKeySecret = Secret.fromSecretNameV2(this, 'QdrantApiKeySecret', refs.qdrantApiKeySecret);
    this.openaiApiKeySecret = Secret.fromSecretNameV2(this, 'OpenAiApiKeySecret', refs.openaiApiKeySecret);

    // Users are data: the pool is retained (and protected from deletion) unless the stage is throwaway.
    this.identity = new Identity(this, 'Identity', {
      service: manifest.service,
      stage: settings.stage,
      domainPrefix: settings.auth.domainPrefix,
      callbackUrls: settings.auth.callbackUrls,
      removalPolicy,
    });

    this.resources = {
      exportsBucket: this.exportsBucket,
      stateTable: this.stateTable,
      eventBus: this.eventBus,
      queues: Object.fromEntries(Object.entries(queues).map(([name, pair]) => [name, pair.queue])),
      deadLetterQueues: Object.fromEntries(
        Object.entries(queues).map(([name, pair]) => [name, pair.deadLetterQueue]),
      ),
      qdrantUrlParameter: this.qdrantUrlParameter,
      qdrantApiKeySecret: this.qdrantApiKeySecret,
      openaiApiKeySecret: this.openaiApiKeySecret,
      userPool: this.identity.userPool,
    };

    new CfnOutput(this, 'UserPoolId', { value: this.identity.userPool.userPoolId });
    new CfnOutput(this, 'UserClientId', {
      value: this.identity.userClient.userPoolClientId,
      description: 'People: SRP sign-in, or the authorization code grant via the managed login',
    });
    new CfnOutput(this, 'MachineClientId', {
      value: this.identity.machineClient.userPoolClientId,
      description: 'Machines: client credentials (its secret: aws cognito-idp describe-user-pool-client)',
    });
    new CfnOutput(this, 'TokenEndpoint', { value: this.identity.tokenEndpoint });
    new CfnOutput(this, 'AuthDomainUrl', { value: this.identity.domain.baseUrl() });

    new CfnOutput(this, 'ExportsBucketName', { value: this.exportsBucket.bucketName });
    new CfnOutput(this, EXPORTS_BUCKET_ARN_OUTPUT, { value: this.exportsBucket.bucketArn });
    new CfnOutput(this, 'EventBusName', { value: this.eventBus.eventBusName });
    new CfnOutput(this, 'StateTableName', { value: this.stateTable.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
  }
}

/**
 * The fixed name of a manifest queue's dead-letter alarm: the stateless stack's composite alarm
 * names it by the ARN built from this name, as functions and rules are named, instead of being
 * handed the alarm.
 */
export function deadLetterAlarmName(service: string, stage: string, queue: string): string {
  return `${service}-${stage}-${queue}-dead-letters`;
}

/** Alarms as soon as one message sits in a dead-letter queue: each one is lost work until redriven. */
export function alarmOnDeadLetters(
  scope: Construct,
  id: string,
  dlq: IQueue,
  topic: ITopic,
  description: string,
  alarmName?: string,
): Alarm {
  const alarm = new Alarm(scope, id, {
    ...(alarmName ? { alarmName } : {}),
    alarmDescription: description,
    metric: dlq.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new SnsAction(topic));
  return alarm;
}
