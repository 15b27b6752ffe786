import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, manifest } from '../../infra/manifest.ts';
import { MANAGER_IDS } from '../../shared/managers/specs.ts';
import {
  cfnString,
  functionStatements,
  grantedBeyondLogs,
  logicalIdOf,
  resourcesOf,
  type Synthesized,
  synthPlatform,
  TEST_REGION,
} from './support.ts';

/**
 * The workflow manager's least privilege in the synthesized stacks. Its functions may create
 * state machines and execution roles of the stage's `wf-*` names only; a role only with the
 * stage's permissions boundary, which allows invoking the managers' live aliases and nothing else;
 * passed to Step Functions only. Step Functions' status changes reach the status function through a
 * rule on the default bus, which may read the workflows and publish, nothing more.
 */

describe('the workflow manager in the stacks', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });
  const short = (resource: string) =>
    /(StateTable|EventBus)/.exec(resource)?.[1] ??
    resource.replace('<AWS::Partition>', 'aws').replace('<AWS::AccountId>', 'ACCOUNT');
  const granted = (name: FunctionName) => grantedBeyondLogs(s, name, short);
  const states = `arn:aws:states:${TEST_REGION}:ACCOUNT`;
  const roles = 'arn:aws:iam::ACCOUNT:role/vector-platform/dev/workflows/wf-*';
  const boundary = 'arn:aws:iam::ACCOUNT:policy/vector-platform-dev-workflow-task-boundary';
  const manage = [
    `iam:CreateRole ${roles}`,
    `iam:DeleteRole ${roles}`,
    `iam:DeleteRolePolicy ${roles}`,
    `iam:GetRole ${roles}`,
    `iam:PassRole ${roles}`,
    `iam:PutRolePolicy ${roles}`,
    `states:CreateStateMachine ${states}:stateMachine:vector-platform-dev-wf-*`,
    `states:DeleteStateMachine ${states}:stateMachine:vector-platform-dev-wf-*`,
    `states:DescribeExecution ${states}:execution:vector-platform-dev-wf-*:*`,
    `states:DescribeStateMachine ${states}:stateMachine:vector-platform-dev-wf-*`,
    `states:GetExecutionHistory ${states}:execution:vector-platform-dev-wf-*:*`,
    `states:ListExecutions ${states}:stateMachine:vector-platform-dev-wf-*`,
    `states:StartExecution ${states}:stateMachine:vector-platform-dev-wf-*`,
    `states:StopExecution ${states}:execution:vector-platform-dev-wf-*:*`,
    `states:UpdateStateMachine ${states}:stateMachine:vector-platform-dev-wf-*`,
  ];

  it("the API function: the state table, and the stage's workflows' state machines and roles only", () => {
    expect(granted('workflows')).toEqual(
      [
        'dynamodb:DeleteItem StateTable',
        'dynamodb:GetItem StateTable',
        'dynamodb:PutItem StateTable',
        'dynamodb:Query StateTable',
        'dynamodb:UpdateItem StateTable',
        ...manage,
      ].sort(),
    );
  });

  it('the contract function: the same workflows access, its metrics, and ManagerFailed', () => {
    expect(granted('workflowsManager')).toEqual(
      [
        'cloudwatch:GetMetricData *',
        'dynamodb:DeleteItem StateTable',
        'dynamodb:GetItem StateTable',
        'dynamodb:PutItem StateTable',
        'dynamodb:Query StateTable',
        'dynamodb:UpdateItem StateTable',
        'events:DescribeEventBus EventBus',
        'events:PutEvents EventBus',
        ...manage,
      ].sort(),
    );
  });

  it('creates and changes roles only with the boundary, and passes them only to Step Functions', () => {
    const conditionOf = (action: string) =>
      functionStatements(s, 'workflows').find((st) => ([] as string[]).concat(st.Action).includes(action)) as
        | { Condition?: Record<string, Record<string, unknown>> }
        | undefined;
    for (const action of ['iam:CreateRole', 'iam:PutRolePolicy']) {
      const condition = conditionOf(action)?.Condition?.StringEquals?.['iam:PermissionsBoundary'];
      expect(short(cfnString(condition)), action).toBe(boundary);
    }
    expect(conditionOf('iam:PassRole')?.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'states.amazonaws.com' },
    });
    for (const action of ['iam:GetRole', 'iam:DeleteRole', 'iam:DeleteRolePolicy']) {
      expect(conditionOf(action)?.Condition, action).toBeUndefined();
    }
    // No way around the boundary: nothing may remove or replace it, or attach managed policies.
    const actions = functionStatements(s, 'workflows').flatMap((st) => ([] as string[]).concat(st.Action));
    for (const forbidden of [
      'iam:DeleteRolePermissionsBoundary',
      'iam:PutRolePermissionsBoundary',
      'iam:AttachRolePolicy',
      'iam:UpdateAssumeRolePolicy',
    ]) {
      expect(actions).not.toContain(forbidden);
    }
  });

  it("the boundary: invoking the managers' contract functions through their live aliases, nothing else", () => {
    const policies = Object.values(
      s.statelessTemplate.findResources('AWS::IAM::ManagedPolicy', {
        Properties: { ManagedPolicyName: 'vector-platform-dev-workflow-task-boundary' },
      }),
    ) as Array<{
      Properties: { PolicyDocument: { Statement: Array<{ Action: unknown; Resource: unknown }> } };
    }>;
    expect(policies).toHaveLength(1);
    const [statement, ...others] = policies[0]!.Properties.PolicyDocument.Statement;
    expect(others).toEqual([]);
    expect(statement!.Action).toBe('lambda:InvokeFunction');
    const invoked = resourcesOf(statement as never)
      .map(cfnString)
      .map((r) => /function:(vector-platform-dev-[A-Za-z]+:live)$/.exec(r)?.[1] ?? r)
      .sort();
    expect(invoked).toEqual(
      MANAGER_IDS.map((id) => `vector-platform-dev-${manifest.managers[id].function}:live`).sort(),
    );
  });

  it('tells the contract functions apart in the task functions it gives: their live aliases by manager', () => {
    const env =
      s.statelessTemplate.toJSON().Resources[logicalIdOf(s.stateless.functions.workflows!.fn)].Properties
        .Environment.Variables;
    expect(env.WORKFLOW_ROLE_PATH).toBe('/vector-platform/dev/workflows/');
    expect(env.WORKFLOW_STATE_MACHINE_PREFIX).toBe('vector-platform-dev-');
    const functions = cfnString(env.WORKFLOW_TASK_FUNCTIONS);
    for (const id of MANAGER_IDS) {
      expect(functions).toContain(`"${id}":"arn:`);
      expect(functions).toContain(`function:vector-platform-dev-${manifest.managers[id].function}:live"`);
    }
  });

  it("delivers Step Functions' status changes from the default bus to the status function's alias", () => {
    const rules = Object.values(
      s.statelessTemplate.findResources('AWS::Events::Rule', {
        Properties: { EventPattern: { source: ['aws.states'] } },
      }),
    ) as Array<{ Properties: Record<string, unknown> }>;
    expect(rules).toHaveLength(1);
    const rule = rules[0]!.Properties;
    expect(rule.EventBusName).toBeUndefined();
    expect(rule.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: [{ wildcard: '*:stateMachine:vector-platform-*-wf-*' }] },
    });
    const targets = rule.Targets as Array<{ Arn: unknown }>;
    expect(targets).toHaveLength(1);
    expect(JSON.stringify(targets[0]!.Arn)).toContain('WorkflowStatus');
    expect(granted('workflowStatus')).toEqual([
      'dynamodb:GetItem StateTable',
      'dynamodb:Query StateTable',
      'events:DescribeEventBus EventBus',
      'events:PutEvents EventBus',
    ]);
  });
});
