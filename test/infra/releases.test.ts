import { Stack } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { routeRolesOf } from '../../infra/function-environment.ts';
import { manifest } from '../../infra/manifest.ts';
import { cfnString, logicalIdOf, type Synthesized, synthPlatform, wiredManifest } from './support.ts';

const functionNames = Object.keys(manifest.functions) as Array<keyof typeof manifest.functions>;
const deployed = (name: string, stage = 'dev') => `vector-platform-${stage}-${name}`;
const routed = (name: string) => Object.keys(routeRolesOf(manifest, name)).length > 0;

describe('blue/green releases', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });
  const groupOf = (synth: Synthesized, name: string) => {
    const groups = Object.values(
      synth.operationsTemplate.findResources('AWS::CodeDeploy::DeploymentGroup', {
        Properties: { DeploymentGroupName: deployed(name, synth.settings.stage) },
      }),
    );
    expect(groups, name).toHaveLength(1);
    return groups[0]!.Properties;
  };

  it("gives every function a live alias on its current version, released through the function's deployment group", () => {
    const resources = s.statelessTemplate.toJSON().Resources;
    expect(Object.keys(s.statelessTemplate.findResources('AWS::Lambda::Alias'))).toHaveLength(
      functionNames.length,
    );
    for (const name of functionNames) {
      const fn = s.stateless.functions[name]!;
      const alias = resources[logicalIdOf(fn.live)];
      // One version per function (its id hashes the code and configuration: a change publishes anew).
      const versions = Object.keys(
        s.statelessTemplate.findResources('AWS::Lambda::Version', {
          Properties: { FunctionName: { Ref: logicalIdOf(fn.fn) } },
        }),
      );
      expect(versions, name).toHaveLength(1);
      expect(alias.Properties, name).toEqual({
        Name: 'live',
        FunctionName: { Ref: logicalIdOf(fn.fn) },
        FunctionVersion: { 'Fn::GetAtt': [versions[0], 'Version'] },
      });
      // Fixed names: the groups are the operations stack's, which reads this one.
      expect(alias.UpdatePolicy, name).toEqual({
        CodeDeployLambdaAliasUpdate: {
          ApplicationName: 'vector-platform-dev',
          DeploymentGroupName: deployed(name),
        },
      });
      groupOf(s, name);
    }
    s.operationsTemplate.hasResourceProperties('AWS::CodeDeploy::Application', {
      ApplicationName: 'vector-platform-dev',
      ComputePlatform: 'Lambda',
    });
    s.operationsTemplate.resourceCountIs('AWS::CodeDeploy::DeploymentGroup', functionNames.length);
  });

  it("rolls a release back when the shift fails or one of the function's two alarms fires", () => {
    const alarms = s.operationsTemplate.findResources('AWS::CloudWatch::Alarm');
    for (const name of functionNames) {
      const group = groupOf(s, name);
      expect(group, name).toMatchObject({
        ApplicationName: { Ref: logicalIdOf(s.operations.releases.application) },
        DeploymentStyle: { DeploymentType: 'BLUE_GREEN', DeploymentOption: 'WITH_TRAFFIC_CONTROL' },
        AutoRollbackConfiguration: {
          Enabled: true,
          Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM'],
        },
        AlarmConfiguration: { Enabled: true },
      });
      const watched = (group.AlarmConfiguration.Alarms as Array<{ Name: { Ref: string } }>).map(
        (a) => alarms[a.Name.Ref]!.Properties,
      );
      const aliasDimensions = [
        { Name: 'FunctionName', Value: deployed(name) },
        { Name: 'Resource', Value: `${deployed(name)}:live` },
      ];
      const timeout = manifest.functions[name].timeoutSeconds;
      expect(watched, name).toEqual([
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Dimensions: aliasDimensions,
          Statistic: 'Sum',
          Period: 60,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        }),
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          MetricName: 'Duration',
          Dimensions: aliasDimensions,
          ExtendedStatistic: 'p95',
          Period: 60,
          EvaluationPeriods: 3,
          DatapointsToAlarm: 2,
          // A function people wait on is held to the API's p95 target; any other to 80 % of its timeout.
          Threshold: routed(name) ? 500 : timeout * 800,
          ComparisonOperator: 'GreaterThanThreshold',
        }),
      ]);
    }
    // Both kinds exist in the manifest, so both budgets are checked above.
    expect(functionNames.some(routed)).toBe(true);
    expect(functionNames.some((n) => !routed(n))).toBe(true);
  });

  it('releases dev all at once and prod through a 10 % canary for 5 minutes; a stage may name another config', () => {
    for (const name of functionNames) {
      expect(groupOf(s, name).DeploymentConfigName).toBe('CodeDeployDefault.LambdaAllAtOnce');
    }
    const prod = synthPlatform({ context: { stage: 'prod' } });
    for (const name of functionNames) {
      expect(groupOf(prod, name).DeploymentConfigName).toBe(
        'CodeDeployDefault.LambdaCanary10Percent5Minutes',
      );
    }
    const linear = synthPlatform({
      context: {
        stage: 'qa',
        deploymentConfig: 'Linear10PercentEvery1Minute',
        alarmFunctionTimeoutPercent: '50',
      },
    });
    expect(groupOf(linear, 'managerHealthSweep')).toMatchObject({
      DeploymentConfigName: 'CodeDeployDefault.LambdaLinear10PercentEvery1Minute',
      ApplicationName: { Ref: logicalIdOf(linear.operations.releases.application) },
    });
    linear.operationsTemplate.hasResourceProperties('AWS::CodeDeploy::Application', {
      ApplicationName: 'vector-platform-qa',
    });
    const sweepDuration = linear.operations.releases.alarms.managerHealthSweep!.duration;
    const budget = Stack.of(sweepDuration).resolve(
      (sweepDuration.node.defaultChild as { threshold?: number }).threshold,
    );
    expect(budget).toBe(manifest.functions.managerHealthSweep.timeoutSeconds * 500);
  });

  it("lets CodeDeploy only shift aliases, through AWS's limited Lambda policy", () => {
    const roles = s.operationsTemplate.findResources('AWS::IAM::Role');
    expect(Object.values(roles)).toHaveLength(1);
    const role = Object.values(roles)[0]!.Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'codedeploy.amazonaws.com' } }),
    ]);
    expect(JSON.stringify(role.ManagedPolicyArns)).toContain(
      'iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited',
    );
    expect(role.ManagedPolicyArns).toHaveLength(1);
    s.operationsTemplate.resourceCountIs('AWS::IAM::Policy', 0);
  });

  it('invokes nothing but aliases: routes, queue consumers, rules, schedules and bucket notifications', () => {
    const wired = synthPlatform({ manifest: wiredManifest });
    const template = wired.statelessTemplate;
    // The routes (API stack) name each function's alias by its ARN.
    const apiResources = wired.apiTemplate.toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;
    const routeTargets = Object.values(apiResources).flatMap((r) =>
      r.Type === 'AWS::ApiGatewayV2::Integration'
        ? [cfnString(r.Properties.IntegrationUri)]
        : r.Type === 'AWS::Lambda::Permission'
          ? [cfnString(r.Properties.FunctionName)]
          : [],
    );
    expect(routeTargets.length).toBeGreaterThan(manifest.routes.length);
    for (const arn of routeTargets) expect(arn).toMatch(/:function:vector-platform-dev-[A-Za-z]+:live$/);
    const aliasIds = new Set(Object.keys(template.findResources('AWS::Lambda::Alias')));
    const functionIds = new Set(Object.values(wired.stateless.functions).map((f) => logicalIdOf(f.fn)));
    const refsIn = (value: unknown) =>
      [...JSON.stringify(value).matchAll(/"(?:Ref|Fn::GetAtt)":\[?"([A-Za-z0-9]+)"/g)].map((m) => m[1]!);
    const invokers: Array<[string, unknown]> = [
      ...Object.entries(template.findResources('AWS::Lambda::Permission')).map(
        ([id, r]): [string, unknown] => [id, r.Properties.FunctionName],
      ),
      ...Object.entries(template.findResources('AWS::Lambda::EventSourceMapping')).map(
        ([id, r]): [string, unknown] => [id, r.Properties.FunctionName],
      ),
      ...Object.entries(template.findResources('AWS::ApiGatewayV2::Integration')).map(
        ([id, r]): [string, unknown] => [id, r.Properties.IntegrationUri],
      ),
      ...Object.entries(template.findResources('AWS::Events::Rule')).flatMap(([id, r]) =>
        (r.Properties.Targets as Array<{ Arn: unknown }>).map((t): [string, unknown] => [id, t.Arn]),
      ),
      ...Object.entries(template.findResources('Custom::S3BucketNotifications')).flatMap(([id, r]) =>
        (
          r.Properties.NotificationConfiguration.LambdaFunctionConfigurations as Array<{
            LambdaFunctionArn: unknown;
          }>
        ).map((c): [string, unknown] => [id, c.LambdaFunctionArn]),
      ),
    ];
    let viaAlias = 0;
    for (const [id, target] of invokers) {
      const refs = refsIn(target);
      expect(
        refs.filter((r) => functionIds.has(r)),
        `${id} invokes a function without its alias`,
      ).toEqual([]);
      if (refs.some((r) => aliasIds.has(r))) viaAlias += 1;
    }
    // Every kind above is wired by this manifest: mappings, rules, schedules, notifications.
    expect(viaAlias).toBeGreaterThanOrEqual(
      Object.keys(wiredManifest.rules).length + Object.keys(wiredManifest.schedules).length + 2,
    );
  });

  it('keeps the stateless stack independent of the operations and API stacks, and every stack under 500 resources', () => {
    expect(s.operations.dependencies).toContain(s.stateless);
    // The routes follow the functions they name by ARN; the functions never wait for the routes.
    expect(s.api.dependencies).toContain(s.stateless);
    expect(s.stateless.dependencies).not.toContain(s.api);
    expect(s.stateless.dependencies).not.toContain(s.operations);
    expect(JSON.stringify(s.statelessTemplate.toJSON())).not.toContain(s.operations.stackName);
    for (const template of [
      s.statefulTemplate,
      s.statelessTemplate,
      s.apiTemplate,
      s.operationsTemplate,
      s.edgeTemplate,
    ]) {
      // CloudFormation's limit per stack; the stateless stack grows by ~6 per manager function.
      expect(Object.keys(template.toJSON().Resources).length).toBeLessThan(500);
    }
  });
});
