import { Duration, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { CfnDeploymentGroup, LambdaApplication } from 'aws-cdk-lib/aws-codedeploy';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { LIVE_ALIAS, routeRolesOf } from '../function-environment.ts';
import type { Manifest } from '../manifest.ts';
import { deployedName, pascalCase, releaseApplicationName } from '../stacks/naming.ts';
import type { StageSettings } from '../stacks/settings.ts';
import { functionMetric } from './watched-metrics.ts';

export interface FunctionReleasesProps {
  manifest: Manifest;
  settings: StageSettings;
  topic: ITopic;
}

/** The alarms that stop a function's release and roll it back; both also notify. */
export interface ReleaseAlarms {
  /** Any invocation through `live` ended in an error, in a minute. */
  errors: Alarm;
  /** p95 duration through `live` above the function's budget, in 2 of 3 minutes. */
  duration: Alarm;
}

/**
 * Blue/green releases: one CodeDeploy deployment group per function, which moves the function's
 * `live` alias (`ServiceFunction`) to the version a deployment publishes, in the stage's steps
 * (`deploymentConfig`: production a 10 % canary for 5 minutes, other stages all at once), and
 * moves it back when one of the function's alarms fires during the shift or the shift fails.
 * CloudFormation then rolls the whole stateless stack back (docs/deploying.md, "Rolling back").
 *
 * The groups are named after the functions and the application after the stage: each alias
 * names its group by these fixed names.
 */
export class FunctionReleases extends Construct {
  readonly application: LambdaApplication;
  readonly groups: Readonly<Record<string, CfnDeploymentGroup>>;
  readonly alarms: Readonly<Record<string, ReleaseAlarms>>;

  constructor(scope: Construct, id: string, props: FunctionReleasesProps) {
    super(scope, id);
    const { manifest, settings } = props;
    this.application = new LambdaApplication(this, 'Application', {
      applicationName: releaseApplicationName(manifest.service, settings.stage),
    });
    const role = new Role(this, 'DeployRole', {
      assumedBy: new ServicePrincipal('codedeploy.amazonaws.com'),
      description: `CodeDeploy: shifts the ${LIVE_ALIAS} aliases of ${manifest.service} (${settings.stage})`,
      managedPolicies: [
        ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSCodeDeployRoleForLambdaLimited'),
      ],
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
      reason:
        "AWS's own least-privilege policy for CodeDeploy on Lambda (read and update aliases, read alarms, invoke CodeDeployHook_* functions), maintained with the service; CDK's LambdaDeploymentGroup attaches the same.",
    });
    const notify = new SnsAction(props.topic);

    const groups: Record<string, CfnDeploymentGroup> = {};
    const alarms: Record<string, ReleaseAlarms> = {};
    for (const [name, decl] of Object.entries(manifest.functions)) {
      const functionName = deployedName(manifest.service, settings.stage, name, 'Function');
      const id = pascalCase(name);
      const budgetMs = durationBudgetMs(manifest, name, decl.timeoutSeconds, settings);
      const minute = Duration.minutes(1);
      const errors = new Alarm(this, `${id}Errors`, {
        alarmDescription: `${name}: an invocation through ${LIVE_ALIAS} ended in an error (rolls back a release in progress)`,
        metric: functionMetric(functionName, 'Errors', { alias: true, period: minute }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      // Two minutes of three: one slow minute (a first cold start of the new version among few
      // canary invocations) does not roll a release back.
      const duration = new Alarm(this, `${id}DurationP95`, {
        alarmDescription: `${name}: p95 duration through ${LIVE_ALIAS} above ${budgetMs} ms in 2 of 3 minutes (rolls back a release in progress)`,
        metric: functionMetric(functionName, 'Duration', { alias: true, period: minute, statistic: 'p95' }),
        threshold: budgetMs,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      for (const alarm of [errors, duration]) alarm.addAlarmAction(notify);
      alarms[name] = { errors, duration };
      groups[name] = new CfnDeploymentGroup(this, `${id}Group`, {
        applicationName: this.application.applicationName,
        deploymentGroupName: functionName,
        serviceRoleArn: role.roleArn,
        deploymentConfigName: `CodeDeployDefault.Lambda${settings.deploymentConfig}`,
        deploymentStyle: { deploymentType: 'BLUE_GREEN', deploymentOption: 'WITH_TRAFFIC_CONTROL' },
        alarmConfiguration: {
          enabled: true,
          alarms: [{ name: errors.alarmName }, { name: duration.alarmName }],
        },
        autoRollbackConfiguration: {
          enabled: true,
          events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM'],
        },
      });
    }
    this.groups = groups;
    this.alarms = alarms;
  }
}

/**
 * How long a function may take at p95 before its release is rolled back: a function that routes
 * invoke answers people and is held to the API's p95 target; any other (queue consumers, rules,
 * schedules, manager contracts) only to a share of its timeout, as it has no latency target.
 */
export function durationBudgetMs(
  manifest: Manifest,
  name: string,
  timeoutSeconds: number,
  settings: StageSettings,
): number {
  const servesRoutes = Object.keys(routeRolesOf(manifest, name)).length > 0;
  return servesRoutes
    ? settings.alarms.apiLatencyP95Ms
    : Math.round((timeoutSeconds * 1000 * settings.alarms.functionTimeoutPercent) / 100);
}
