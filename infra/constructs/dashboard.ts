import { Duration } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, managedResourcesOf } from '../function-environment.ts';
import type { Manifest } from '../manifest.ts';
import { deployedName } from '../stacks/naming.ts';
import type { StageSettings } from '../stacks/settings.ts';
import { apiErrorRate, functionMetric, managerUnhealthy } from './watched-metrics.ts';

export interface PlatformDashboardProps {
  manifest: Manifest;
  settings: StageSettings;
  apiStage: HttpStage;
  /** The manifest queues, by name. */
  queues: Readonly<Record<string, IQueue>>;
  /** Every dead-letter queue, labelled. */
  deadLetterQueues: Readonly<Record<string, IQueue>>;
  /** Shown by state at the top. */
  alarms: readonly IAlarm[];
}

const PERIOD = Duration.minutes(1);

/**
 * One dashboard per stage: alarms, the API, each manager's health and functions (grouped as the
 * manifest declares them), migrations, Qdrant calls, the queues and dead-letter queues. Only
 * metrics that AWS publishes for these resources or that the platform publishes (EMF, namespace
 * VectorPlatform) are shown.
 */
export class PlatformDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: PlatformDashboardProps) {
    super(scope, id);
    const { manifest, settings, apiStage } = props;
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${manifest.service}-${settings.stage}`,
      defaultInterval: Duration.hours(3),
    });
    const graph = (title: string, left: IMetric[], width = 6) =>
      new GraphWidget({ title, left, width, height: 6 });
    const custom = (metricName: string, statistic = 'Sum') =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: manifest.service },
        statistic,
        period: PERIOD,
        label: metricName,
      });

    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 4 }),
    );

    const { apiLatencyP95Ms, apiErrorRatePercent } = settings.alarms;
    this.dashboard.addWidgets(
      graph('API requests', [apiStage.metricCount({ statistic: 'Sum', period: PERIOD, label: 'requests' })]),
      graph('API 4xx and 5xx', [
        apiStage.metricClientError({ statistic: 'Sum', period: PERIOD, label: '4xx' }),
        apiStage.metricServerError({ statistic: 'Sum', period: PERIOD, label: '5xx' }),
      ]),
      new GraphWidget({
        title: 'API 5xx rate (%)',
        left: [apiErrorRate(apiStage, PERIOD)],
        leftAnnotations: [{ value: apiErrorRatePercent, label: 'alarm' }],
        width: 6,
        height: 6,
      }),
      new GraphWidget({
        title: 'API latency (ms)',
        left: ['p50', 'p95', 'p99'].map((statistic) =>
          apiStage.metricLatency({ statistic, period: PERIOD, label: statistic }),
        ),
        leftAnnotations: [{ value: apiLatencyP95Ms, label: 'p95 alarm' }],
        width: 6,
        height: 6,
      }),
    );
    // Handler-mapped answers: a 4xx/5xx a handler maps is a successful Lambda invocation.
    this.dashboard.addWidgets(
      graph(
        'Handler answers',
        ['Requests', 'ClientErrors', 'ServerErrors'].map((m) => custom(m)),
      ),
      graph(
        'Manager health (1 = unhealthy)',
        Object.keys(manifest.managers ?? {}).map((m) =>
          managerUnhealthy(manifest.service, m).with({ label: m }),
        ),
        12,
      ),
      graph('Health changes, stalled migrations resumed', [
        custom('ManagerHealthChanges'),
        custom('StalledMigrationsResumed'),
      ]),
    );

    // Published by the stalled-migrations sweep (every minute), the migration workers (per chunk)
    // and every Qdrant client (per call: `getQdrantClient`).
    this.dashboard.addWidgets(
      graph('Migrations in progress', [custom('MigrationsInProgress', 'Maximum')]),
      graph('Migration records written per second', [
        new MathExpression({
          expression: 'FILL(written, 0) / PERIOD(written)',
          usingMetrics: { written: custom('MigrationRecordsWritten') },
          label: 'records/s',
          period: PERIOD,
        }),
      ]),
      new GraphWidget({
        title: 'Qdrant call latency (ms)',
        left: ['p50', 'p95', 'p99'].map((statistic) =>
          custom('QdrantCallLatency', statistic).with({ label: statistic }),
        ),
        width: 6,
        height: 6,
      }),
      new GraphWidget({
        title: 'Qdrant calls and errors',
        left: [custom('QdrantCallLatency', 'SampleCount').with({ label: 'calls' })],
        right: [custom('QdrantCallErrors').with({ label: 'errors' })],
        width: 6,
        height: 6,
      }),
    );

    for (const [title, names] of functionGroups(manifest)) {
      // Every version together: during a release, the old and the new one both serve.
      const each = (metricName: Parameters<typeof functionMetric>[1], statistic?: string) =>
        names.map((name) =>
          functionMetric(deployedName(manifest.service, settings.stage, name, 'Function'), metricName, {
            period: PERIOD,
            label: name,
            ...(statistic ? { statistic } : {}),
          }),
        );
      this.dashboard.addWidgets(new TextWidget({ markdown: `### ${title}`, width: 24, height: 1 }));
      this.dashboard.addWidgets(
        graph(`${title}: invocations`, each('Invocations')),
        graph(`${title}: errors`, each('Errors')),
        graph(`${title}: throttles`, each('Throttles')),
        graph(`${title}: duration p95 (ms)`, each('Duration', 'p95')),
      );
    }

    const queues = Object.entries(props.queues);
    this.dashboard.addWidgets(
      graph(
        'Queue depth',
        queues.map(([label, q]) =>
          q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: PERIOD, label }),
        ),
        8,
      ),
      new GraphWidget({
        title: 'Oldest message age (s)',
        left: queues.map(([label, q]) =>
          q.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: PERIOD, label }),
        ),
        leftAnnotations: [{ value: settings.alarms.queueAgeSeconds, label: 'alarm' }],
        width: 8,
        height: 6,
      }),
      graph(
        'Dead-letter queues',
        Object.entries(props.deadLetterQueues).map(([label, q]) =>
          q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: PERIOD, label }),
        ),
        8,
      ),
    );
  }
}

/** The manifest's functions grouped by the manager that owns them; the rest under "Other functions". */
export function functionGroups(manifest: Manifest): Array<[string, readonly string[]]> {
  const managed = managedResourcesOf(manifest);
  const groups: Array<[string, readonly string[]]> = Object.entries(manifest.managers ?? {}).map(
    ([id, m]) => [`${m.name} (${id})`, managed[id]!.functions],
  );
  const owned = new Set(groups.flatMap(([, fns]) => fns));
  const others = Object.keys(manifest.functions).filter((f) => !owned.has(f));
  if (others.length > 0) groups.push(['Other functions', others]);
  return groups;
}
