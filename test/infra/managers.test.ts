import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, manifest } from '../../infra/manifest.ts';
import { pascalCase } from '../../infra/stacks/naming.ts';
import { MANAGER_ENV } from '../../shared/managers/environment.ts';
import {
  actionsOf,
  cfnString,
  logicalIdOf,
  resourcesOf,
  type Statement,
  type Synthesized,
  statementsOfRole,
  synthPlatform,
  TEST_REGION,
} from './support.ts';

const functionNames = Object.keys(manifest.functions) as FunctionName[];
const managers = Object.entries(manifest.managers);
/** A manager's contract function and the functions it owns. */
const runsOf = (m: (typeof managers)[number][1]): readonly string[] => [m.function, ...m.functions];
/** The queues a function of the manager consumes. */
const queuesOf = (m: (typeof managers)[number][1]): string[] =>
  Object.entries(manifest.queues)
    .filter(([, q]) => runsOf(m).includes(q.consumer))
    .map(([name]) => name);
const queueRules = Object.entries(manifest.rules).filter(([, r]) => 'queue' in r);

describe('managers, their functions, rules and schedules in AWS', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });

  const resources = () => s.statelessTemplate.toJSON().Resources;
  const fnProps = (name: string) => resources()[logicalIdOf(s.stateless.functions[name]!.fn)].Properties;
  const envOf = (name: string): Record<string, unknown> => fnProps(name).Environment.Variables;
  const statementsOf = (name: string): Statement[] =>
    statementsOfRole(s.statelessTemplate, logicalIdOf(s.stateless.functions[name]!.role));
  const grantedOn = (name: string, action: string): string[] =>
    statementsOf(name)
      .filter((st) => actionsOf(st).includes(action))
      .flatMap(resourcesOf)
      .map(cfnString)
      .sort();
  const account = () => cfnString(s.stateless.resolve(s.stateless.account));
  const partition = () => cfnString(s.stateless.resolve(s.stateless.partition));
  const functionArn = (name: string) =>
    `arn:${partition()}:lambda:${TEST_REGION}:${account()}:function:${fnProps(name).FunctionName}`;
  /** The logical id of the event source mapping of a queue (its consumer's only one). */
  const mappingIdOf = (queue: string): string => {
    const consumer = manifest.queues[queue as keyof typeof manifest.queues].consumer;
    const found = Object.keys(s.statelessTemplate.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (id) =>
        JSON.stringify(resources()[id].Properties.FunctionName).includes(
          `"Ref":"${logicalIdOf(s.stateless.functions[consumer]!.live)}"`,
        ),
    );
    expect(found, queue).toHaveLength(1);
    return found[0]!;
  };

  it('names every function <service>-<stage>-<manifest key>', () => {
    for (const name of functionNames) expect(fnProps(name).FunctionName).toBe(`vector-platform-dev-${name}`);
  });

  it("runs each manager's contract in a Lambda of its own, with a role of its own", () => {
    expect(managers.length).toBeGreaterThan(1);
    const roles = managers.map(([id, m]) => {
      const fn = s.stateless.functions[m.function];
      expect(fn, id).toBeDefined();
      const roleId = logicalIdOf(fn!.role);
      expect(fnProps(m.function).Role, id).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
      return roleId;
    });
    expect(new Set(roles).size).toBe(managers.length);
  });

  it.each(
    functionNames.filter((n) =>
      (manifest.functions[n].access as readonly string[]).includes('managers:invoke'),
    ),
  )("%s may invoke exactly the managers' contract functions' live aliases, and knows them", (name) => {
    expect(grantedOn(name, 'lambda:InvokeFunction')).toEqual(
      managers.map(([, m]) => `${functionArn(m.function)}:live`).sort(),
    );
    expect(JSON.parse(envOf(name)[MANAGER_ENV.functions] as string)).toEqual(
      Object.fromEntries(managers.map(([id, m]) => [id, `${fnProps(m.function).FunctionName}:live`])),
    );
  });

  /** The managers a function may call one by one (`manager:<id>:invoke`). */
  const oneManagerAccess = (name: FunctionName): string[] =>
    (manifest.functions[name].access as readonly string[]).flatMap(
      (a) => /^manager:(.+):invoke$/.exec(a)?.slice(1) ?? [],
    );

  it.each(functionNames.filter((n) => oneManagerAccess(n).length > 0))(
    "%s may invoke exactly the named manager's contract function's live alias, and knows it alone",
    (name) => {
      const [id] = oneManagerAccess(name) as [keyof typeof manifest.managers];
      const contract = manifest.managers[id].function;
      expect(grantedOn(name, 'lambda:InvokeFunction')).toEqual([`${functionArn(contract)}:live`]);
      expect(JSON.parse(envOf(name)[MANAGER_ENV.functions] as string)).toEqual({
        [id]: `${fnProps(contract).FunctionName}:live`,
      });
    },
  );

  it('lets no function without managers:invoke or manager:<id>:invoke invoke another', () => {
    for (const name of functionNames) {
      if ((manifest.functions[name].access as readonly string[]).includes('managers:invoke')) continue;
      if (oneManagerAccess(name).length > 0) continue;
      expect(grantedOn(name, 'lambda:InvokeFunction'), name).toEqual([]);
    }
  });

  it("lets managersApi switch exactly the stoppable managers' event source mappings, named by UUID", () => {
    const controlled = managers.filter(([, m]) => m.stoppable && queuesOf(m).length > 0);
    const expectedQueues = controlled.flatMap(([, m]) => queuesOf(m));
    const consumed = managers.flatMap(([, m]) => queuesOf(m));
    // Discriminating: some consumed queue belongs to a manager that cannot be stopped.
    expect(consumed.filter((q) => !expectedQueues.includes(q))).not.toEqual([]);
    const mappingArn = (queue: string) =>
      `arn:${partition()}:lambda:${TEST_REGION}:${account()}:event-source-mapping:<${mappingIdOf(queue)}>`;
    const expected = expectedQueues.map(mappingArn).sort();
    expect(grantedOn('managersApi', 'lambda:UpdateEventSourceMapping')).toEqual(expected);
    expect(grantedOn('managersApi', 'lambda:GetEventSourceMapping')).toEqual(expected);
    expect(JSON.parse(cfnString(envOf('managersApi')[MANAGER_ENV.eventSources]))).toEqual(
      Object.fromEntries(controlled.map(([id, m]) => [id, queuesOf(m).map((q) => `<${mappingIdOf(q)}>`)])),
    );
    for (const name of functionNames) {
      if (name === 'managersApi') continue;
      expect(grantedOn(name, 'lambda:UpdateEventSourceMapping'), name).toEqual([]);
    }
  });

  it('lets each manager read the metrics of its own functions, named in its environment', () => {
    for (const [id, m] of managers) {
      expect(JSON.parse(envOf(m.function)[MANAGER_ENV.metricFunctions] as string), id).toEqual(
        Object.fromEntries(runsOf(m).map((f) => [f, fnProps(f).FunctionName])),
      );
      expect(grantedOn(m.function, 'cloudwatch:GetMetricData'), id).toEqual(['*']);
    }
  });

  it('gives the API gateway manager the HTTP API and its stage, which has route-level metrics', () => {
    expect(envOf('apiGatewayManager')).toMatchObject({
      [MANAGER_ENV.httpApiId]: { Ref: logicalIdOf(s.stateless.api) },
      [MANAGER_ENV.httpApiStage]: '$default',
    });
    const stage = s.apiTemplate.toJSON().Resources[logicalIdOf(s.api.apiStage)].Properties;
    expect(stage.StageName).toBe('$default');
    expect(stage.DefaultRouteSettings.DetailedMetricsEnabled).toBe(true);
  });

  it('runs the manager health sweep every minute, on the default bus', () => {
    const schedule = resources()[logicalIdOf(s.stateless.node.findChild('ManagerHealthSchedule') as never)];
    expect(manifest.schedules.managerHealth.function).toBe('managerHealthSweep');
    expect(schedule.Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      Targets: [{ Arn: { Ref: logicalIdOf(s.stateless.functions.managerHealthSweep!.live) } }],
    });
    expect(schedule.Properties.EventBusName).toBeUndefined();
  });

  describe.each(queueRules)('rule %s, to a queue', (name, decl) => {
    const queue = (decl as { queue: string }).queue;
    const ruleOf = () =>
      resources()[logicalIdOf(s.stateless.node.findChild(`${pascalCase(name)}Rule`) as never)];

    it('sends to the queue on the platform bus, with retries and the rule-target dead-letter queue', () => {
      const props = ruleOf().Properties;
      expect(props.Name).toBe(`vector-platform-dev-${name}`);
      expect(JSON.stringify(props.EventBusName)).toContain(logicalIdOf(s.stateful.eventBus));
      expect(props.Targets).toHaveLength(1);
      const [target] = props.Targets;
      expect(JSON.stringify(target.Arn)).toContain(logicalIdOf(s.stateful.queues[queue]!.queue));
      expect(target).toMatchObject({
        DeadLetterConfig: {
          Arn: {
            'Fn::GetAtt': [
              logicalIdOf(s.stateless.node.findChild('RuleTargetDeadLetterQueue') as never),
              'Arn',
            ],
          },
        },
        RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 7200 },
      });
    });

    it("is the only sender EventBridge may be for the queue, by the rule's ARN", () => {
      const queueId = logicalIdOf(s.stateful.queues[queue]!.queue);
      const policies = Object.values(
        s.statefulTemplate.findResources('AWS::SQS::QueuePolicy', {
          Properties: { Queues: [{ Ref: queueId }] },
        }),
      );
      expect(policies).toHaveLength(1);
      const fromEvents = (
        policies[0]!.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>
      ).filter((st) => JSON.stringify(st.Principal) === JSON.stringify({ Service: 'events.amazonaws.com' }));
      const bus = s.statefulTemplate.toJSON().Resources[logicalIdOf(s.stateful.eventBus)].Properties.Name;
      const ruleArn = `arn:${partition()}:events:${TEST_REGION}:${account()}:rule/${bus}/${ruleOf().Properties.Name}`;
      expect(
        fromEvents.map((st) => ({
          ...st,
          Condition: cfnString(
            (st.Condition as { ArnEquals: Record<string, unknown> }).ArnEquals['aws:SourceArn'],
          ),
        })),
      ).toEqual([
        {
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Principal: { Service: 'events.amazonaws.com' },
          Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
          Condition: ruleArn,
        },
      ]);
    });
  });

  it('lets EventBridge send to no queue that no rule targets', () => {
    const targeted = new Set(
      queueRules.map(([, r]) => logicalIdOf(s.stateful.queues[(r as { queue: string }).queue]!.queue)),
    );
    for (const policy of Object.values(s.statefulTemplate.findResources('AWS::SQS::QueuePolicy'))) {
      const fromEvents = JSON.stringify(policy.Properties.PolicyDocument).includes('events.amazonaws.com');
      const [queue] = policy.Properties.Queues;
      expect(fromEvents, JSON.stringify(queue)).toBe(targeted.has(queue.Ref));
    }
  });

  it('keeps the events of every archived rule in the bus archive', () => {
    const [archive, ...others] = Object.values(s.statefulTemplate.findResources('AWS::Events::Archive'));
    expect(others).toEqual([]);
    const archived = Object.entries(manifest.rules).filter(([, r]) => 'archive' in r && r.archive);
    expect(archived.length).toBeGreaterThan(0);
    for (const [name, rule] of archived) {
      for (const source of rule.pattern.source)
        expect(archive!.Properties.EventPattern.source, name).toContain(source);
    }
  });

  it('has no dependency cycle inside either stack', () => {
    // CDK finds cycles between stacks at synth; `Template` refuses one inside a template.
    expect(() => Template.fromStack(s.stateless)).not.toThrow();
    expect(() => Template.fromStack(s.stateful)).not.toThrow();
    const cyclic = {
      A: { Type: 'X::Y::Z', Properties: { P: { Ref: 'B' } } },
      B: { Type: 'X::Y::Z', DependsOn: 'A' },
    };
    expect(() => Template.fromJSON({ Resources: cyclic })).toThrow(/dependency cycle/);
  });
});
