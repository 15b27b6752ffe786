import { Stack, type StackProps } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, type IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { PlatformAlarms } from '../constructs/alarms.ts';
import { PlatformDashboard } from '../constructs/dashboard.ts';
import { FunctionReleases } from '../constructs/releases.ts';
import type { Manifest } from '../manifest.ts';
import { pascalCase } from './naming.ts';
import type { StageSettings } from './settings.ts';
import { deadLetterAlarmName } from './stateful-stack.ts';

export interface OperationsStackProps extends StackProps {
  manifest: Manifest;
  settings: StageSettings;
  /** From the stateful stack. */
  alarmTopic: ITopic;
  /** The manifest queues, by name (stateful stack). */
  queues: Readonly<Record<string, IQueue>>;
  /** Every dead-letter queue, labelled: the manifest queues' and the rule targets' one. */
  deadLetterQueues: Readonly<Record<string, IQueue>>;
  /** The key of each dead-letter queue's alarm (`deadLetterAlarmName`): the queues' and the rule targets'. */
  deadLetterAlarmKeys: readonly string[];
  /** The HTTP API's stage (stateless stack): its metrics. */
  apiStage: HttpStage;
}

/**
 * How a stage is watched and released: each function's deployment group and the alarms that roll
 * its releases back, the service alarms and the dashboard. Apart from the API's id and the queues
 * it reads, it names the stateless stack's resources by their fixed names (functions, aliases,
 * dead-letter alarms), so the functions' aliases can name its deployment groups without the two
 * stacks depending on each other. It also keeps the stateless stack under CloudFormation's 500
 * resources per stack (docs/architecture.md).
 */
export class OperationsStack extends Stack {
  readonly releases: FunctionReleases;
  readonly alarms: PlatformAlarms;
  readonly dashboard: PlatformDashboard;

  constructor(scope: Construct, id: string, props: OperationsStackProps) {
    super(scope, id, props);
    const { manifest, settings, alarmTopic, apiStage } = props;
    this.releases = new FunctionReleases(this, 'Releases', { manifest, settings, topic: alarmTopic });
    const deadLetterAlarms: IAlarm[] = props.deadLetterAlarmKeys.map((key) =>
      Alarm.fromAlarmName(
        this,
        `${pascalCase(key)}DeadLetterAlarm`,
        deadLetterAlarmName(manifest.service, settings.stage, key),
      ),
    );
    this.alarms = new PlatformAlarms(this, 'Alarms', {
      manifest,
      settings,
      topic: alarmTopic,
      apiStage,
      queues: props.queues,
      deadLetterAlarms,
    });
    const { alarms } = this;
    this.dashboard = new PlatformDashboard(this, 'Dashboard', {
      manifest,
      settings,
      apiStage,
      queues: props.queues,
      deadLetterQueues: props.deadLetterQueues,
      alarms: [
        alarms.degraded,
        ...Object.values(alarms.managerUnhealthy),
        alarms.apiLatency,
        alarms.apiErrorRate,
        ...Object.values(alarms.queueAge),
        ...deadLetterAlarms,
      ],
    });
  }
}
