import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { publishManagerHealth } from '#functions/managers/health-sweep/health-metric.ts';
import { METRICS_NAMESPACE } from '#infra/function-environment.ts';
import { MANAGER_DIMENSION, MANAGER_UNHEALTHY_METRIC } from '#infra/platform-metrics.ts';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** The EMF documents written to stdout while `run` runs, metrics enabled as in Lambda. */
function emfOf(run: (metrics: Metrics) => void): Array<Record<string, unknown>> {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  const lines: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  run(new Metrics({ serviceName: 'vector-platform', namespace: METRICS_NAMESPACE }));
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

describe('publishManagerHealth', () => {
  it('writes one document per manager: 1 when unhealthy, 0 when healthy or degraded', () => {
    const docs = emfOf((metrics) =>
      publishManagerHealth(metrics, { roadmap: 'unhealthy', migration: 'degraded', config: 'healthy' }),
    );
    expect(docs.map((d) => [d[MANAGER_DIMENSION], d[MANAGER_UNHEALTHY_METRIC]])).toEqual([
      ['roadmap', 1],
      ['migration', 0],
      ['config', 0],
    ]);
    for (const doc of docs) {
      expect(doc).toMatchObject({
        service: 'vector-platform',
        _aws: {
          CloudWatchMetrics: [
            {
              Namespace: METRICS_NAMESPACE,
              Dimensions: [['service', MANAGER_DIMENSION]],
              Metrics: [{ Name: MANAGER_UNHEALTHY_METRIC, Unit: 'Count' }],
            },
          ],
        },
      });
    }
  });

  it('writes nothing for no manager', () => {
    expect(emfOf((metrics) => publishManagerHealth(metrics, {}))).toEqual([]);
  });
});
