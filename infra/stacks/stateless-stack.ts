import { CfnOutput, Duration, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type EventPattern, Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Bucket, EventType } from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type PlatformResources, ServiceFunction } from '../constructs/service-function.ts';
import { METRICS_NAMESPACE, routeRolesOf } from '../function-environment.ts';
import type { Manifest, EventPattern as ManifestPattern } from '../manifest.ts';
import { pascalCase } from './naming.ts';
import type { StageSettings } from './settings.ts';
import { alarmOnDeadLetters, EXPORTS_BUCKET_ARN_OUTPUT } from './stateful-stack.ts';

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

/**
 * Everything that can be replaced at will: one function per manifest entry, the HTTP API with a
 * route per manifest route, the queue consumers, event rules, bucket notifications and alarms.
 */
export class StatelessStack extends Stack {
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  readonly api: HttpApi;
  readonly apiStage: HttpStage;

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

    const functions: Record<string, ServiceFunction> = {};
    for (const [name, decl] of Object.entries(manifest.functions)) {
      const fn = new ServiceFunction(this, pascalCase(name), {
        name,
        decl,
        service: manifest.service,
        version: props.version,
        settings,
        resources,
        routeRoles: routeRolesOf(manifest, name),
      });
      functions[name] = fn;
      const errors = new Alarm(this, `${pascalCase(name)}ErrorsAlarm`, {
        alarmDescription: `${name}: invocations ended in an error`,
        metric: fn.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      errors.addAlarmAction(new SnsAction(alarmTopic));
    }
    // A 5xx mapped by the HTTP wrapper is a successful invocation: Lambda's Errors never counts it.
    const serverErrors = new Alarm(this, 'ApiServerErrorsAlarm', {
      alarmDescription: 'HTTP API: requests answered with a 5xx by a handler',
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'ServerErrors',
        dimensionsMap: { service: manifest.service },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    serverErrors.addAlarmAction(new SnsAction(alarmTopic));
    this.functions = functions;
    const fnOf = (name: string, usedBy: string): ServiceFunction => {
      const fn = functions[name];
      if (!fn) throw new Error(`${usedBy} names function "${name}", which the manifest does not declare`);
      return fn;
    };

    // HTTP API.
    const methods = [...new Set(manifest.routes.map((r) => r.method))];
    this.api = new HttpApi(this, 'HttpApi', {
      apiName: `${manifest.service}-${settings.stage}`,
      description: `${manifest.service} /api/v1 (${settings.stage})`,
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: settings.corsOrigins,
        allowMethods: methods.map((m) => CorsHttpMethod[m]),
        allowHeaders: [
          'authorization',
          'content-type',
          'x-amz-date',
          'x-amz-security-token',
          'x-amz-content-sha256',
        ],
        maxAge: Duration.hours(1),
      },
    });
    const accessLogs = new LogGroup(this, 'HttpApiAccessLogs', {
      retention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
    });
    // Created by hand because HttpApi's own default stage takes no access-log settings.
    this.apiStage = new HttpStage(this, 'HttpApiDefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: settings.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(HTTP_API_ACCESS_LOG)),
      },
    });

    const integrations = new Map<string, HttpLambdaIntegration>();
    const iam = new HttpIamAuthorizer();
    for (const route of manifest.routes) {
      const fn = fnOf(route.function, `Route ${route.method} ${route.path}`);
      let integration = integrations.get(route.function);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${pascalCase(route.function)}Integration`, fn.fn);
        integrations.set(route.function, integration);
      }
      const isPublic = route.role === 'public';
      // Until the JWT authorizer with roles lands, non-public routes take only IAM-signed
      // (SigV4) requests, so nothing beyond the public routes is open to the world.
      const [created] = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
        ...(isPublic ? {} : { authorizer: iam }),
      });
      if (isPublic && created) {
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'The manifest declares this route public (role "public"): it must answer without credentials.',
        });
      }
    }

    // Requests no route takes: the platform's 404/405 instead of API Gateway's bare 404.
    if (manifest.defaultRoute) {
      const fn = fnOf(manifest.defaultRoute, 'The default route');
      const route = new HttpRoute(this, 'DefaultRoute', {
        httpApi: this.api,
        routeKey: HttpRouteKey.DEFAULT,
        integration: new HttpLambdaIntegration(`${pascalCase(manifest.defaultRoute)}Integration`, fn.fn),
      });
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The default route only answers that no route matches (404/405); it reads and returns no data.',
      });
    }

    // Queue consumers.
    for (const [name, decl] of Object.entries(manifest.queues)) {
      if (!decl.consumer) continue;
      const fn = fnOf(decl.consumer, `Queue ${name}`);
      const queue = resources.queues[name];
      if (!queue) throw new Error(`Queue ${name} is missing from the stateful stack`);
      // Lambda rejects an event source whose queue hides messages for less than the function may run.
      if (decl.visibilityTimeoutSeconds < manifest.functions[decl.consumer]!.timeoutSeconds) {
        throw new Error(
          `Queue ${name}: visibilityTimeoutSeconds must be at least ${decl.consumer}'s timeout`,
        );
      }
      fn.fn.addEventSource(
        new SqsEventSource(queue, {
          batchSize: decl.batchSize,
          maxBatchingWindow: Duration.seconds(decl.maxBatchingWindowSeconds),
          maxConcurrency: decl.maxConcurrency,
          reportBatchItemFailures: true,
        }),
      );
    }

    // Event rules; events a target cannot take after its retries go to one dead-letter queue.
    const rules = Object.entries(manifest.rules);
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
      alarmOnDeadLetters(
        this,
        'RuleTargetDeadLetterAlarm',
        ruleDlq,
        alarmTopic,
        'Events that no rule target could take',
      );
      for (const [name, decl] of rules) {
        const fn = fnOf(decl.function, `Rule ${name}`);
        new Rule(this, `${pascalCase(name)}Rule`, {
          eventBus: resources.eventBus,
          description: decl.description,
          eventPattern: toCdkPattern(decl.pattern, `Rule ${name}`),
          targets: [
            new LambdaFunction(fn.fn, {
              deadLetterQueue: ruleDlq,
              retryAttempts: 4,
              maxEventAge: Duration.hours(2),
            }),
          ],
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
          new LambdaFunction(fn.fn, {
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
        exportsBucket.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(fn.fn), {
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

    new CfnOutput(this, 'ApiUrl', { value: this.apiStage.url, description: 'Base URL of the HTTP API' });
  }
}

/** HTTP API access-log fields (HTTP API variables only: REST-only ones fail deployment). */
const HTTP_API_ACCESS_LOG = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
  requestTime: '$context.requestTime',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
};

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
