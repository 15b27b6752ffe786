import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { functionGroups } from '../../infra/constructs/dashboard.ts';
import { PROJECT_ROOT } from '../../infra/constructs/service-function.ts';
import { METRICS_NAMESPACE } from '../../infra/function-environment.ts';
import { manifest } from '../../infra/manifest.ts';
import { MANAGER_DIMENSION, MANAGER_UNHEALTHY_METRIC } from '../../infra/platform-metrics.ts';
import { deadLetterAlarmName } from '../../infra/stacks/stateful-stack.ts';
import { RULE_TARGETS_DEAD_LETTERS } from '../../infra/stacks/stateless-stack.ts';
import { logicalIdOf, type Synthesized, synthPlatform } from './support.ts';

const managerIds = Object.keys(manifest.managers);
const THRESHOLDS = { alarmApiLatencyP95Ms: 750, alarmApiErrorRatePercent: 2.5, alarmQueueAgeSeconds: 600 };

/** A template value as text, intrinsics as `{Ref:X}`, `{GetAtt:X.Y}`, `{Output:Name}`: JSON-safe markers. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as Record<string, unknown>;
  if (node['Fn::Join']) {
    const [delimiter, items] = node['Fn::Join'] as [string, unknown[]];
    return items.map(flatten).join(delimiter);
  }
  if (typeof node.Ref === 'string') return `{Ref:${node.Ref}}`;
  if (node['Fn::GetAtt']) return `{GetAtt:${(node['Fn::GetAtt'] as string[]).join('.')}}`;
  if (node['Fn::GetStackOutput']) {
    return `{Output:${(node['Fn::GetStackOutput'] as { OutputName: string }).OutputName}}`;
  }
  throw new Error(`unexpected intrinsic ${JSON.stringify(value)}`);
}

/** The custom metric names the functions publish: every literal `addMetric('Name'` in the code. */
function publishedCustomMetrics(): Set<string> {
  const names = new Set<string>([MANAGER_UNHEALTHY_METRIC]); // its publisher: health-metric.test.ts
  const scan = (dir: string): void => {
    for (const entry of readdirSync(join(PROJECT_ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) scan(path);
      else if (entry.name.endsWith('.ts')) {
        const source = readFileSync(join(PROJECT_ROOT, path), 'utf8');
        for (const m of source.matchAll(/addMetric\(\s*'([A-Za-z]+)'/g)) names.add(m[1]!);
      }
    }
  };
  scan('shared');
  scan('functions');
  return names;
}

interface MetricRef {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

interface Widget {
  type: string;
  properties: { title?: string; metrics?: unknown[][]; alarms?: string[] };
}

/** The weak references (`{Output:Name}`) through which another stack reads `value` from `template`. */
function outputsWith(template: Template, value: unknown): Set<string> {
  const outputs = (template.toJSON().Outputs ?? {}) as Record<string, { Value: unknown }>;
  return new Set(
    Object.entries(outputs)
      .filter(([, o]) => JSON.stringify(o.Value) === JSON.stringify(value))
      .map(([name]) => `{Output:${name}}`),
  );
}

describe('observability (dashboard and alarms, in the operations stack)', () => {
  let s: Synthesized;
  let widgets: Widget[];
  /** The service alarms: the releases' per-function alarms are releases.test.ts's. */
  let alarms: ReturnType<Synthesized['operationsTemplate']['findResources']>;
  beforeAll(() => {
    s = synthPlatform({ context: THRESHOLDS });
    const dashboards = Object.values(s.operationsTemplate.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    widgets = JSON.parse(flatten(dashboards[0]!.Properties.DashboardBody)).widgets;
    alarms = Object.fromEntries(
      Object.entries(s.operationsTemplate.findResources('AWS::CloudWatch::Alarm')).filter(
        ([id]) => !id.startsWith('Releases'),
      ),
    );
  });
  /** The API's id as the operations stack reads it: an output of the stateless stack. */
  const apiIds = () => outputsWith(s.statelessTemplate, { Ref: logicalIdOf(s.stateless.api) });

  /** The metrics a widget plots (expressions skipped: their inputs are listed as metrics). */
  const metricsOf = (w: Widget): MetricRef[] =>
    (w.properties.metrics ?? [])
      .filter((row) => typeof row[0] === 'string')
      .map((row) => {
        const [namespace, name, ...rest] = row as string[];
        const dims = rest.filter((x) => typeof x === 'string');
        return {
          namespace: namespace!,
          name: name!,
          dimensions: Object.fromEntries(dims.flatMap((_, i) => (i % 2 ? [] : [[dims[i], dims[i + 1]]]))),
        };
      });
  const titled = (title: string): Widget => {
    const found = widgets.find((w) => w.properties.title === title);
    expect(found, title).toBeDefined();
    return found!;
  };

  it('is one dashboard per stage, named after it', () => {
    s.operationsTemplate.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: 'vector-platform-dev',
    });
    const qa = synthPlatform({ context: { stage: 'qa' } });
    qa.operationsTemplate.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    qa.operationsTemplate.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: 'vector-platform-qa',
    });
  });

  it('plots only metrics that AWS publishes for resources of the stacks or that the code publishes', () => {
    const apiId = apiIds();
    // By their fixed names: the functions are the stateless stack's.
    const functionNames = new Set(Object.keys(manifest.functions).map((f) => `vector-platform-dev-${f}`));
    const queueName = (id: string) => ({ 'Fn::GetAtt': [id, 'QueueName'] });
    const statefulQueues = Object.values(s.stateful.queues).flatMap((p) => [p.queue, p.deadLetterQueue]);
    const queueNames = new Set([
      ...statefulQueues.flatMap((q) => [...outputsWith(s.statefulTemplate, queueName(logicalIdOf(q)))]),
      ...Object.keys(s.statelessTemplate.findResources('AWS::SQS::Queue')).flatMap((id) => [
        ...outputsWith(s.statelessTemplate, queueName(id)),
      ]),
    ]);
    expect(apiId.size).toBe(1);
    const custom = publishedCustomMetrics();

    const all = widgets.flatMap(metricsOf);
    expect(all.length).toBeGreaterThan(0);
    for (const m of all) {
      const what = JSON.stringify(m);
      switch (m.namespace) {
        case 'AWS/ApiGateway':
          expect(['Count', '4xx', '5xx', 'Latency'], what).toContain(m.name);
          expect(Object.keys(m.dimensions), what).toEqual(['ApiId', 'Stage']);
          expect(apiId.has(m.dimensions.ApiId!), what).toBe(true);
          expect(m.dimensions.Stage, what).toBe(s.api.apiStage.stageName);
          break;
        case 'AWS/Lambda':
          expect(['Invocations', 'Errors', 'Throttles', 'Duration'], what).toContain(m.name);
          expect(Object.keys(m.dimensions), what).toEqual(['FunctionName']);
          expect(functionNames.has(m.dimensions.FunctionName!), what).toBe(true);
          break;
        case 'AWS/SQS':
          expect(['ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage'], what).toContain(
            m.name,
          );
          expect(Object.keys(m.dimensions), what).toEqual(['QueueName']);
          expect(queueNames.has(m.dimensions.QueueName!), what).toBe(true);
          break;
        case METRICS_NAMESPACE:
          expect(custom.has(m.name), what).toBe(true);
          expect(m.dimensions.service, what).toBe(manifest.service);
          if (m.name === MANAGER_UNHEALTHY_METRIC)
            expect(managerIds).toContain(m.dimensions[MANAGER_DIMENSION]);
          else expect(Object.keys(m.dimensions), what).toEqual(['service']);
          break;
        default:
          throw new Error(`unexpected namespace: ${what}`);
      }
    }
  });

  it('shows each manager its own functions, each queue, every dead-letter queue and every manager health', () => {
    const fnId = (name: string) => `vector-platform-dev-${name}`;
    for (const [title, names] of functionGroups(manifest)) {
      for (const metric of ['invocations', 'errors', 'throttles', 'duration p95 (ms)']) {
        const plotted = metricsOf(titled(`${title}: ${metric}`)).map((m) => m.dimensions.FunctionName);
        expect(plotted.sort(), `${title}: ${metric}`).toEqual(names.map(fnId).sort());
      }
    }
    expect(
      functionGroups(manifest)
        .flatMap(([, names]) => names)
        .sort(),
    ).toEqual(Object.keys(manifest.functions).sort());
    const queues = Object.keys(manifest.queues).length;
    expect(metricsOf(titled('Queue depth'))).toHaveLength(queues);
    expect(metricsOf(titled('Oldest message age (s)'))).toHaveLength(queues);
    expect(metricsOf(titled('Dead-letter queues'))).toHaveLength(queues + 1); // + the rule targets'
    expect(metricsOf(titled('Manager health (1 = unhealthy)')).map((m) => m.dimensions.manager)).toEqual(
      managerIds,
    );
    expect(metricsOf(titled('API latency (ms)')).map((m) => m.name)).toEqual([
      'Latency',
      'Latency',
      'Latency',
    ]);
  });

  it('alarms on each manager unhealthy for 3 sweeps in a row, a silent sweep counting as unhealthy', () => {
    const unhealthy = Object.values(alarms).filter(
      (a) => a.Properties.MetricName === MANAGER_UNHEALTHY_METRIC,
    );
    const dimensionsOf = (a: (typeof unhealthy)[number]) =>
      Object.fromEntries(
        (a.Properties.Dimensions as Array<{ Name: string; Value: string }>).map((d) => [d.Name, d.Value]),
      );
    expect(unhealthy.map((a) => dimensionsOf(a)[MANAGER_DIMENSION]).sort()).toEqual([...managerIds].sort());
    for (const a of unhealthy) expect(dimensionsOf(a).service).toBe(manifest.service);
    for (const a of unhealthy) {
      expect(a.Properties).toMatchObject({
        Namespace: METRICS_NAMESPACE,
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'breaching',
      });
    }
  });

  it('takes the API latency, error-rate and queue-age thresholds from the stage settings', () => {
    const latency = Object.values(alarms).filter(
      (a) => a.Properties.Namespace === 'AWS/ApiGateway' && a.Properties.MetricName === 'Latency',
    );
    expect(latency).toHaveLength(1);
    expect(latency[0]!.Properties).toMatchObject({
      ExtendedStatistic: 'p95',
      Threshold: THRESHOLDS.alarmApiLatencyP95Ms,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    const [apiId, stage] = latency[0]!.Properties.Dimensions as Array<{ Name: string; Value: unknown }>;
    expect(apiIds().has(flatten(apiId!.Value))).toBe(true);
    expect(stage).toEqual({ Name: 'Stage', Value: '$default' });
    const rate = Object.values(alarms).find((a) => Array.isArray(a.Properties.Metrics));
    expect(rate?.Properties).toMatchObject({
      Threshold: THRESHOLDS.alarmApiErrorRatePercent,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      Metrics: expect.arrayContaining([
        expect.objectContaining({ Expression: '100 * FILL(errors, 0) / requests', ReturnData: true }),
        expect.objectContaining({
          Id: 'errors',
          MetricStat: expect.objectContaining({ Metric: expect.objectContaining({ MetricName: '5xx' }) }),
        }),
        expect.objectContaining({
          Id: 'requests',
          MetricStat: expect.objectContaining({ Metric: expect.objectContaining({ MetricName: 'Count' }) }),
        }),
      ]),
    });
    const ages = Object.values(alarms).filter(
      (a) => a.Properties.MetricName === 'ApproximateAgeOfOldestMessage',
    );
    expect(ages).toHaveLength(Object.keys(manifest.queues).length);
    for (const a of ages) expect(a.Properties.Threshold).toBe(THRESHOLDS.alarmQueueAgeSeconds);
    // The defaults, without context.
    expect(synthPlatform().settings.alarms).toEqual({
      apiLatencyP95Ms: 500,
      apiErrorRatePercent: 1,
      queueAgeSeconds: 900,
      functionTimeoutPercent: 80,
    });
  });

  it('adds no second dead-letter alarm; the composite reads the existing ones by their fixed names', () => {
    const dlqAlarms = (t: typeof s.statefulTemplate) =>
      Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter(
        (a) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible',
      );
    expect(dlqAlarms(s.statefulTemplate)).toHaveLength(Object.keys(manifest.queues).length);
    expect(dlqAlarms(s.statelessTemplate)).toHaveLength(1); // the rule targets'
    expect(dlqAlarms(s.operationsTemplate)).toHaveLength(0);
    const rule = flatten(
      Object.values(s.operationsTemplate.findResources('AWS::CloudWatch::CompositeAlarm'))[0]!.Properties
        .AlarmRule,
    );
    for (const queue of Object.keys(manifest.queues)) {
      const name = deadLetterAlarmName(manifest.service, 'dev', queue);
      s.statefulTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: name });
      expect(rule).toContain(`:alarm:${name}")`);
    }
    const ruleTargets = deadLetterAlarmName(manifest.service, 'dev', RULE_TARGETS_DEAD_LETTERS);
    s.statelessTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: ruleTargets });
    expect(rule).toContain(`:alarm:${ruleTargets}")`);
  });

  it('the composite "platform degraded" is any of the service alarms and dead-letter alarms', () => {
    s.operationsTemplate.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 1);
    const composite = Object.values(
      s.operationsTemplate.findResources('AWS::CloudWatch::CompositeAlarm'),
    )[0]!;
    const rule = flatten(composite.Properties.AlarmRule);
    const children = [...rule.matchAll(/ALARM\("([^"]+)"\)/g)].map((m) => m[1]);
    const own = Object.entries(alarms)
      .filter(([, a]) => a.Properties.MetricName !== 'ServerErrors')
      .map(([id]) => `{GetAtt:${id}.Arn}`);
    expect(children.filter((c) => c?.startsWith('{GetAtt:')).sort()).toEqual(own.sort());
    expect(rule.split(' OR ')).toHaveLength(
      managerIds.length + 2 + Object.keys(manifest.queues).length * 2 + 1,
    );
  });

  it('every alarm, metric and composite, notifies the alarm topic only', () => {
    const topic = { Ref: logicalIdOf(s.stateful.alarmTopic) };
    // The other stacks read the topic's ARN from a stateful output (a weak reference).
    const topicOutputs = outputsWith(s.statefulTemplate, topic);
    const elsewhere = {
      ...s.operationsTemplate.findResources('AWS::CloudWatch::Alarm'),
      ...s.operationsTemplate.findResources('AWS::CloudWatch::CompositeAlarm'),
      ...s.statelessTemplate.findResources('AWS::CloudWatch::Alarm'),
    };
    expect(Object.keys(elsewhere).length).toBeGreaterThan(Object.keys(alarms).length);
    for (const [id, a] of Object.entries(elsewhere)) {
      const actions = (a.Properties.AlarmActions as unknown[]).map(flatten);
      expect(actions, id).toHaveLength(1);
      expect(topicOutputs.has(actions[0]!), id).toBe(true);
    }
    for (const [id, a] of Object.entries(s.statefulTemplate.findResources('AWS::CloudWatch::Alarm'))) {
      expect(a.Properties.AlarmActions, id).toEqual([topic]);
    }
    s.operationsTemplate.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmRule: Match.anyValue(),
      ActionsEnabled: Match.absent(),
    });
  });
});
