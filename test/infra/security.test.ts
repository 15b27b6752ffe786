import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, manifest } from '../../infra/manifest.ts';
import {
  actionsOf,
  functionStatements,
  grantedBeyondLogs,
  logicalIdOf,
  resourcesOf,
  type Synthesized,
  synthPlatform,
} from './support.ts';

/**
 * The security manager's least privilege in the synthesized stacks: the API function reads the
 * state table and lists the user pool's users and its groups' members (that pool only, and no
 * other function may); the auditor reads and writes the table and publishes (SecurityAlert); the
 * contract function reads and replaces webhook secrets under the stage's prefix (no creation, no
 * deletion); the audited events reach the auditor through a rule into its queue; the rotation
 * schedule calls the contract function (identity.test.ts checks every route is behind the authorizer).
 */

describe('the security manager in the stacks', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });
  const statementsOf = (name: FunctionName) => functionStatements(s, name);
  const short = (resource: string) => {
    const named = /(StateTable|EventBus|SecurityEventsQueue|UserPool)/.exec(resource)?.[1];
    if (named) return named;
    return resource.includes('notifications/webhooks/*') ? 'webhook-secrets/*' : resource;
  };
  const granted = (name: FunctionName) => [...new Set(grantedBeyondLogs(s, name, short))];

  it('the API function: reads the state table and lists the user pool, nothing else', () => {
    expect(granted('securityAudit')).toEqual([
      'cognito-idp:ListUsers UserPool',
      'cognito-idp:ListUsersInGroup UserPool',
      'dynamodb:GetItem StateTable',
      'dynamodb:Query StateTable',
    ]);
  });

  it('names the stage’s user pool alone (its ARN and id from the stateful stack), and no other function lists users', () => {
    const poolId = logicalIdOf(s.stateful.identity.userPool);
    const cognito = statementsOf('securityAudit').filter((st) =>
      actionsOf(st).some((a) => a.startsWith('cognito-idp:')),
    );
    expect(cognito).toHaveLength(1);
    const [resource, ...others] = resourcesOf(cognito[0]!);
    expect(others).toEqual([]);
    // A stateful value reaches the stateless stack as Fn::GetStackOutput of one of its outputs.
    const exported = (value: unknown) => {
      const ref = (value as { 'Fn::GetStackOutput'?: { OutputName: string } })['Fn::GetStackOutput'];
      const outputs = s.statefulTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
      return ref ? outputs[ref.OutputName]?.Value : undefined;
    };
    expect(exported(resource)).toEqual({ 'Fn::GetAtt': [poolId, 'Arn'] });
    const env = (fn: FunctionName) => {
      const resources = s.statelessTemplate.toJSON().Resources as Record<
        string,
        { Properties: { Environment: { Variables: Record<string, unknown> } } }
      >;
      return resources[logicalIdOf(s.stateless.functions[fn]!.fn)]?.Properties.Environment.Variables;
    };
    expect(exported(env('securityAudit')?.USER_POOL_ID)).toEqual({ Ref: poolId });
    const listing = (Object.keys(manifest.functions) as FunctionName[]).filter((fn) =>
      statementsOf(fn).some((st) => actionsOf(st).some((a) => a.startsWith('cognito-idp:'))),
    );
    expect(listing).toEqual(['securityAudit']);
  });

  it('the auditor: reads and writes the state table, publishes on the bus, consumes its queue', () => {
    expect(granted('securityAuditor')).toEqual([
      'dynamodb:DeleteItem StateTable',
      'dynamodb:GetItem StateTable',
      'dynamodb:PutItem StateTable',
      'dynamodb:Query StateTable',
      'dynamodb:UpdateItem StateTable',
      'events:DescribeEventBus EventBus',
      'events:PutEvents EventBus',
      'sqs:ChangeMessageVisibility SecurityEventsQueue',
      'sqs:DeleteMessage SecurityEventsQueue',
      'sqs:GetQueueAttributes SecurityEventsQueue',
      'sqs:GetQueueUrl SecurityEventsQueue',
      'sqs:ReceiveMessage SecurityEventsQueue',
    ]);
  });

  it('the contract function: reads and replaces webhook secrets under the prefix, never creates or deletes one', () => {
    expect(granted('securityManager')).toEqual([
      'cloudwatch:GetMetricData *',
      'dynamodb:GetItem StateTable',
      'dynamodb:Query StateTable',
      'events:DescribeEventBus EventBus',
      'events:PutEvents EventBus',
      'secretsmanager:GetSecretValue webhook-secrets/*',
      'secretsmanager:PutSecretValue webhook-secrets/*',
    ]);
  });

  it('routes the audited events and the refusals to its queue, which its auditor consumes', () => {
    const rule = manifest.rules.securityEvents;
    expect(rule.queue).toBe('securityEvents');
    expect(rule.pattern['detail-type']).toEqual(
      expect.arrayContaining([
        'ManagerStarted',
        'ConfigChanged',
        'CollectionDeleted',
        'MigrationRolledBack',
        'ApiAccessDenied',
      ]),
    );
    expect(manifest.queues.securityEvents.consumer).toBe('securityAuditor');
    const rules = Object.values(
      s.statelessTemplate.findResources('AWS::Events::Rule', {
        Properties: { Name: 'vector-platform-dev-securityEvents' },
      }),
    ) as Array<{ Properties: { EventPattern: { 'detail-type': string[] } } }>;
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties.EventPattern['detail-type']).toEqual(rule.pattern['detail-type']);
  });

  it('schedules the rotation as a contract call of its function', () => {
    const schedule = manifest.schedules.webhookSecretRotation;
    expect(schedule.function).toBe('securityManager');
    const scheduled = Object.values(
      s.statelessTemplate.findResources('AWS::Events::Rule', {
        Properties: { ScheduleExpression: 'rate(30 minutes)' },
      }),
    ) as Array<{ Properties: { Targets: Array<{ Input?: string }> } }>;
    const inputs = scheduled.flatMap((r) =>
      r.Properties.Targets.flatMap((t) => (t.Input ? [JSON.parse(t.Input)] : [])),
    );
    expect(inputs).toContainEqual(schedule.input);
  });
});
