import { Duration } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmRule,
  AlarmState,
  ComparisonOperator,
  CompositeAlarm,
  type IAlarm,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../function-environment.ts';
import type { Manifest } from '../manifest.ts';
import { pascalCase } from '../stacks/naming.ts';
import type { StageSettings } from '../stacks/settings.ts';
import { apiErrorRate, managerUnhealthy } from './watched-metrics.ts';

export interface PlatformAlarmsProps {
  manifest: Manifest;
  settings: StageSettings;
  topic: ITopic;
  apiStage: HttpStage;
  /** The manifest queues, by name. */
  queues: Readonly<Record<string, IQueue>>;
  /** The dead-letter alarms that already exist (one per dead-letter queue): the composite reads them. */
  deadLetterAlarms: readonly IAlarm[];
}

/**
 * The platform's service-level alarms (docs/operations.md has a runbook line for each): a manager
 * unhealthy, API p95 latency and 5xx rate, a queue's oldest message, and one composite "platform
 * degraded" over them and the dead-letter alarms. Every one notifies the alarm topic.
 */
export class PlatformAlarms extends Construct {
  readonly managerUnhealthy: Readonly<Record<string, Alarm>>;
  readonly apiLatency: Alarm;
  readonly apiErrorRate: Alarm;
  /** Not a child of the composite: a single handler-mapped 5xx raises it. */
  readonly serverErrors: Alarm;
  readonly queueAge: Readonly<Record<string, Alarm>>;
  readonly degraded: CompositeAlarm;

  constructor(scope: Construct, id: string, props: PlatformAlarmsProps) {
    super(scope, id);
    const { manifest, settings, topic, apiStage } = props;
    const action = new SnsAction(topic);
    const notify = <T extends Alarm | CompositeAlarm>(alarm: T): T => {
      alarm.addAlarmAction(action);
      return alarm;
    };

    // Missing data is breaching: the sweep publishes every manager every minute, so three minutes
    // without a datapoint mean the sweep itself is not running and no manager's health is known.
    this.managerUnhealthy = Object.fromEntries(
      Object.entries(manifest.managers ?? {}).map(([manager, decl]) => [
        manager,
        notify(
          new Alarm(this, `${pascalCase(manager)}Unhealthy`, {
            alarmDescription: `${decl.name} (${manager}): unhealthy in 3 health sweeps in a row, or not swept`,
            metric: managerUnhealthy(manifest.service, manager),
            threshold: 1,
            evaluationPeriods: 3,
            datapointsToAlarm: 3,
            comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treatMissingData: TreatMissingData.BREACHING,
          }),
        ),
      ]),
    );

    // Latency and error rate over 5-minute windows, two in a row: one slow or failing minute of
    // low traffic is noise. No requests is neither slow nor failing.
    const window = Duration.minutes(5);
    const { apiLatencyP95Ms, apiErrorRatePercent, queueAgeSeconds } = settings.alarms;
    this.apiLatency = notify(
      new Alarm(this, 'ApiLatencyP95', {
        alarmDescription: `HTTP API: p95 latency above ${apiLatencyP95Ms} ms for 10 minutes`,
        metric: apiStage.metricLatency({ statistic: 'p95', period: window }),
        threshold: apiLatencyP95Ms,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    this.apiErrorRate = notify(
      new Alarm(this, 'ApiErrorRate', {
        alarmDescription: `HTTP API: more than ${apiErrorRatePercent} % of requests answered 5xx for 10 minutes`,
        metric: apiErrorRate(apiStage, window),
        threshold: apiErrorRatePercent,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    // A 5xx mapped by the HTTP wrapper is a successful invocation: Lambda's Errors never counts it.
    this.serverErrors = notify(
      new Alarm(this, 'ApiServerErrors', {
        alarmDescription: 'HTTP API: requests answered with a 5xx by a handler',
        metric: new Metric({
          namespace: METRICS_NAMESPACE,
          metricName: 'ServerErrors',
          dimensionsMap: { service: manifest.service },
          statistic: 'Sum',
          period: window,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    // The threshold is itself a duration: one window over it means work has waited that long.
    // A stopped manager's queue waits on purpose and alarms too (docs/operations.md).
    this.queueAge = Object.fromEntries(
      Object.entries(props.queues).map(([name, queue]) => [
        name,
        notify(
          new Alarm(this, `${pascalCase(name)}QueueAge`, {
            alarmDescription: `${name}: the oldest message has waited more than ${queueAgeSeconds} s`,
            metric: queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: window }),
            threshold: queueAgeSeconds,
            evaluationPeriods: 1,
            comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
            treatMissingData: TreatMissingData.NOT_BREACHING,
          }),
        ),
      ]),
    );

    const children: IAlarm[] = [
      ...Object.values(this.managerUnhealthy),
      this.apiLatency,
      this.apiErrorRate,
      ...Object.values(this.queueAge),
      ...props.deadLetterAlarms,
    ];
    this.degraded = notify(
      new CompositeAlarm(this, 'PlatformDegraded', {
        alarmDescription: `${manifest.service} (${settings.stage}): degraded, at least one of its service alarms is on`,
        alarmRule: AlarmRule.anyOf(...children.map((a) => AlarmRule.fromAlarm(a, AlarmState.ALARM))),
      }),
    );
  }
}
