import { Gauge, Registry } from 'prom-client';
import type { Gauge as ManagerGauge, Metrics } from './contract.ts';
import { LifecycleStateSchema } from './contract.ts';
import type { ManagerSummary } from './coordinator.ts';

/**
 * Every manager's figures in the Prometheus text exposition format (prom-client renders it):
 * lifecycle state, the functions' invocations, errors, throttles and duration percentiles over the
 * window, and each manager's own gauges, prefixed `vector_platform_` and labelled by manager.
 */

const PREFIX = 'vector_platform_';

export interface ManagerFigures {
  summary: ManagerSummary;
  /** Undefined when the manager did not answer (counted in `..._scrape_errors`). */
  metrics: Metrics | undefined;
}

export async function renderPrometheus(
  figures: readonly ManagerFigures[],
): Promise<{ text: string; contentType: string }> {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name: `${PREFIX}${name}`, help, labelNames, registers: [registry] });

  const state = gauge('manager_state', 'Lifecycle state of a manager (1 for its current state)', [
    'manager',
    'state',
  ]);
  const scrapeErrors = gauge(
    'manager_scrape_errors',
    'Whether a manager failed to answer its metrics (1) this scrape',
    ['manager'],
  );
  const invocations = gauge('function_invocations', 'Invocations of a function in the window', [
    'manager',
    'function',
  ]);
  const errors = gauge('function_errors', 'Invocations of a function that failed, in the window', [
    'manager',
    'function',
  ]);
  const throttles = gauge('function_throttles', 'Invocations of a function refused for want of concurrency', [
    'manager',
    'function',
  ]);
  // Precomputed percentiles (CloudWatch's), so a gauge per percentile rather than a summary: the
  // label is `percentile` (`quantile` belongs to summaries), in seconds, Prometheus's base unit.
  const duration = gauge('function_duration_seconds', 'Duration of a function in the window, by percentile', [
    'manager',
    'function',
    'percentile',
  ]);

  const own = new Map<string, ManagerGauge[]>();
  for (const { summary, metrics } of figures) {
    const manager = summary.id;
    for (const s of LifecycleStateSchema.options)
      state.set({ manager, state: s }, summary.status.state === s ? 1 : 0);
    scrapeErrors.set({ manager }, metrics ? 0 : 1);
    if (!metrics) continue;
    for (const [fn, f] of Object.entries(metrics.functions)) {
      invocations.set({ manager, function: fn }, f.invocations);
      errors.set({ manager, function: fn }, f.errors);
      throttles.set({ manager, function: fn }, f.throttles);
      for (const percentile of ['p50', 'p95', 'p99'] as const) {
        const ms = f.durationMs[percentile];
        if (ms !== null) duration.set({ manager, function: fn, percentile }, ms / 1000);
      }
    }
    for (const g of metrics.gauges) {
      const labelled = { ...g, labels: { manager, ...g.labels } };
      own.set(g.name, [...(own.get(g.name) ?? []), labelled]);
    }
  }
  // A family's label names are the union of its samples' (a sample without one leaves it empty).
  for (const [name, samples] of own) {
    const labelNames = [...new Set(samples.flatMap((s) => Object.keys(s.labels ?? {})))].sort();
    const family = gauge(name, samples[0]!.help, labelNames);
    for (const s of samples) family.set(s.labels ?? {}, s.value);
  }
  return { text: await registry.metrics(), contentType: registry.contentType };
}
