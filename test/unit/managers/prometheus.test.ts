import { execFileSync, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Gauge,
  type LifecycleState,
  LifecycleStateSchema,
  type Metrics,
} from '#shared/managers/contract.ts';
import type { ManagerSummary } from '#shared/managers/coordinator.ts';
import { type ManagerFigures, renderPrometheus } from '#shared/managers/prometheus.ts';
import type { ManagerId } from '#shared/managers/specs.ts';

/** The Prometheus exposition of every manager's figures, read back sample by sample. */

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (label values unescaped), and its HELP/TYPE lines by family. */
function parse(text: string): { samples: Sample[]; help: Map<string, string>; types: Map<string, string> } {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'HELP' ? help : types).set(meta[2]!, meta[3]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { samples, help, types };
}

const summary = (id: ManagerId, state: LifecycleState): ManagerSummary => ({
  id,
  name: id,
  description: `the ${id} manager`,
  stoppable: id !== 'central-coordinator',
  status: { managerId: id, state, since: null, by: 'deployment' },
});

function metricsOf(id: ManagerId, functions: Metrics['functions'], gauges: Gauge[] = []): Metrics {
  return {
    managerId: id,
    window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:15:00.000Z' },
    functions,
    totals: { invocations: 0, errors: 0, throttles: 0 },
    gauges,
  };
}

const figures: ManagerFigures[] = [
  {
    summary: summary('migration', 'running'),
    metrics: metricsOf(
      'migration',
      {
        migrationManager: {
          invocations: 12,
          errors: 2,
          throttles: 1,
          durationMs: { p50: 25, p95: 1_250, p99: null },
        },
        migrationWorker: {
          invocations: 0,
          errors: 0,
          throttles: 0,
          durationMs: { p50: null, p95: null, p99: null },
        },
      },
      [
        { name: 'migration_jobs', help: 'Migration jobs by state', value: 3, labels: { state: 'completed' } },
        { name: 'migration_records_per_second', help: 'Records per second', value: 120.5 },
        // Shared with monitoring below, with other labels.
        { name: 'shared_figure', help: 'A gauge two managers report', value: 1, labels: { kind: 'a' } },
      ],
    ),
  },
  { summary: summary('monitoring', 'stopped'), metrics: undefined },
  {
    summary: summary('roadmap', 'failed'),
    metrics: metricsOf('roadmap', {}, [
      { name: 'shared_figure', help: 'A gauge two managers report', value: 2, labels: { plan: 'p"1\\x\ny' } },
      { name: 'shared_figure', help: 'A gauge two managers report', value: 3 },
    ]),
  },
];

const samplesOf = (samples: Sample[], name: string) => samples.filter((s) => s.name === name);

describe('renderPrometheus', () => {
  it('answers text exposition 0.0.4', async () => {
    expect((await renderPrometheus(figures)).contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it("one-hot lifecycle states: one sample per state, 1 for the manager's current one", async () => {
    const { samples, types } = parse((await renderPrometheus(figures)).text);
    const state = samplesOf(samples, 'vector_platform_manager_state');
    expect(types.get('vector_platform_manager_state')).toBe('gauge');
    for (const { summary: s } of figures) {
      const mine = state.filter((x) => x.labels.manager === s.id);
      expect(mine.map((x) => x.labels.state).sort(), s.id).toEqual([...LifecycleStateSchema.options].sort());
      expect(
        mine.filter((x) => x.value === 1).map((x) => x.labels.state),
        s.id,
      ).toEqual([s.status.state]);
      expect(
        mine.filter((x) => x.value === 0),
        s.id,
      ).toHaveLength(LifecycleStateSchema.options.length - 1);
    }
  });

  it('a manager that did not answer is a scrape error, with no function figures', async () => {
    const { samples } = parse((await renderPrometheus(figures)).text);
    expect(
      samplesOf(samples, 'vector_platform_manager_scrape_errors').map((s) => [s.labels.manager, s.value]),
    ).toEqual([
      ['migration', 0],
      ['monitoring', 1],
      ['roadmap', 0],
    ]);
    expect(
      samples
        .filter((s) => s.labels.manager === 'monitoring')
        .map((s) => s.name)
        .sort(),
    ).toEqual(
      [
        ...Array(LifecycleStateSchema.options.length).fill('vector_platform_manager_state'),
        'vector_platform_manager_scrape_errors',
      ].sort(),
    );
  });

  it('function figures are labelled by manager and function', async () => {
    const { samples } = parse((await renderPrometheus(figures)).text);
    const value = (name: string, fn: string) =>
      samplesOf(samples, name).find((s) => s.labels.manager === 'migration' && s.labels.function === fn)
        ?.value;
    expect(value('vector_platform_function_invocations', 'migrationManager')).toBe(12);
    expect(value('vector_platform_function_errors', 'migrationManager')).toBe(2);
    expect(value('vector_platform_function_throttles', 'migrationManager')).toBe(1);
    expect(value('vector_platform_function_invocations', 'migrationWorker')).toBe(0);
    for (const name of ['function_invocations', 'function_errors', 'function_throttles']) {
      for (const s of samplesOf(samples, `vector_platform_${name}`)) {
        expect(Object.keys(s.labels).sort()).toEqual(['function', 'manager']);
      }
    }
  });

  it('durations are in seconds, by `percentile`, and a percentile with no data is left out', async () => {
    const { samples } = parse((await renderPrometheus(figures)).text);
    const durations = samplesOf(samples, 'vector_platform_function_duration_seconds');
    expect(durations.map((s) => [s.labels.function, s.labels.percentile, s.value])).toEqual([
      ['migrationManager', 'p50', 0.025],
      ['migrationManager', 'p95', 1.25],
    ]);
    for (const s of durations) expect(s.labels).not.toHaveProperty('quantile');
  });

  it("each manager's own gauges are prefixed and labelled by the manager", async () => {
    const { samples, help, types } = parse((await renderPrometheus(figures)).text);
    expect(samplesOf(samples, 'vector_platform_migration_jobs')).toEqual([
      {
        name: 'vector_platform_migration_jobs',
        labels: { manager: 'migration', state: 'completed' },
        value: 3,
      },
    ]);
    expect(samplesOf(samples, 'vector_platform_migration_records_per_second')).toEqual([
      {
        name: 'vector_platform_migration_records_per_second',
        labels: { manager: 'migration' },
        value: 120.5,
      },
    ]);
    expect(help.get('vector_platform_migration_jobs')).toBe('Migration jobs by state');
    expect(types.get('vector_platform_migration_jobs')).toBe('gauge');
  });

  it("a gauge reported by several managers is one family whose label names are the union of its samples'", async () => {
    const { text } = await renderPrometheus(figures);
    const { samples } = parse(text);
    // One HELP and one TYPE line for the family.
    expect(text.match(/^# HELP vector_platform_shared_figure /gm)).toHaveLength(1);
    expect(text.match(/^# TYPE vector_platform_shared_figure /gm)).toHaveLength(1);
    expect(samplesOf(samples, 'vector_platform_shared_figure').map((s) => [s.labels, s.value])).toEqual([
      [{ manager: 'migration', kind: 'a' }, 1],
      // Label values are escaped in the text and read back as they were.
      [{ manager: 'roadmap', plan: 'p"1\\x\ny' }, 2],
      [{ manager: 'roadmap' }, 3],
    ]);
  });

  it('with no manager at all, is still a valid exposition with no sample', async () => {
    const { text } = await renderPrometheus([]);
    expect(parse(text).samples).toEqual([]);
  });

  it('promtool accepts the exposition, label values with quotes, backslashes and line breaks included', async (ctx) => {
    const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (promtool.error) {
      // CI installs Debian's prometheus (.ci/run); there a missing promtool is a failure.
      if (process.env.CI) throw new Error('promtool is not installed (Debian package prometheus)');
      ctx.skip('promtool is not installed (apt install prometheus)');
    }
    const odd = [
      ...new Set([
        '"',
        '\\',
        '\n',
        'a\\nb',
        '"\\"\n',
        '',
        'été 🙂',
        '{manager="x"}',
        ...fc.sample(fc.string({ unit: 'grapheme', maxLength: 20 }), { numRuns: 20, seed: 42 }),
      ]),
    ];
    const { text } = await renderPrometheus([
      ...figures,
      {
        summary: summary('vectorization', 'starting'),
        metrics: metricsOf(
          'vectorization',
          { f: { invocations: 1, errors: 0, throttles: 0, durationMs: { p50: 1, p95: 2, p99: 3 } } },
          odd.map((v, i) => ({
            name: 'odd_labels',
            help: 'Label values of any text',
            value: i,
            labels: { v },
          })),
        ),
      },
    ]);
    // `promtool check metrics` reads the exposition on stdin and exits non-zero on a format error.
    expect(() =>
      execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' }),
    ).not.toThrow();
    // And every odd value reads back as it was.
    const back = samplesOf(parse(text).samples, 'vector_platform_odd_labels').map((s) => s.labels.v);
    expect(back).toEqual(odd);
  });
});
