import { describe, expect, it } from 'vitest';
import { AwsJsonError } from '#local/aws-json.ts';
import { getMetricData } from '#local/cloudwatch.ts';
import {
  MetricRecorder,
  RETENTION_MINUTES,
  recordApiRequest,
  recordInvocation,
  SAMPLES_PER_BUCKET,
} from '#local/metrics.ts';

/**
 * The local metric recorder and GetMetricData over it, on a clock the tests move: one-minute
 * buckets aggregated per period from StartTime rounded down to the minute, newest first, the
 * statistics and percentiles, the three-hour retention, and CloudWatch's refusals naming the field.
 */

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MINUTE = 60_000;
const FN = { FunctionName: 'svc-worker' };

function clock(start = T0) {
  let now = start;
  return { now: () => now, set: (t: number) => (now = t) };
}

/** A GetMetricData request body as the SDK sends it (epoch seconds). */
function request(queries: unknown[], startMs: number, endMs: number, extra: Record<string, unknown> = {}) {
  return { MetricDataQueries: queries, StartTime: startMs / 1000, EndTime: endMs / 1000, ...extra };
}

function stat(
  Id: string,
  MetricName: string,
  Stat: string,
  Period = 60,
  dimensions: Record<string, string> = FN,
) {
  return {
    Id,
    MetricStat: {
      Metric: {
        Namespace: 'AWS/Lambda',
        MetricName,
        Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
      },
      Period,
      Stat,
    },
  };
}

type Results = {
  MetricDataResults: Array<{
    Id: string;
    Label: string;
    Timestamps: number[];
    Values: number[];
    StatusCode: string;
    Messages?: Array<{ Code: string; Value: string }>;
  }>;
};

const answer = (recorder: MetricRecorder, body: unknown) => getMetricData(recorder, body) as Results;

function refusal(run: () => unknown): AwsJsonError {
  try {
    run();
  } catch (err) {
    if (err instanceof AwsJsonError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('MetricRecorder and GetMetricData', () => {
  it('aggregates one-minute buckets per period from StartTime rounded down, newest first', () => {
    const c = clock();
    const recorder = new MetricRecorder({ now: c.now });
    // Three minutes of invocations: 2 at 12:00, 1 at 12:01 (failed), 3 at 12:03.
    for (const [at, durations, failed] of [
      [T0 + 5_000, [10, 30], false],
      [T0 + MINUTE + 59_000, [50], true],
      [T0 + 3 * MINUTE, [5, 15, 100], false],
    ] as const) {
      c.set(at);
      for (const d of durations) recordInvocation(recorder, 'svc-worker', d, failed);
    }

    const perMinute = answer(
      recorder,
      request([stat('n', 'Invocations', 'Sum'), stat('e', 'Errors', 'Sum')], T0 + 30_000, T0 + 4 * MINUTE),
    );
    const [n, e] = perMinute.MetricDataResults;
    expect(n).toEqual({
      Id: 'n',
      Label: 'Invocations',
      Timestamps: [(T0 + 3 * MINUTE) / 1000, (T0 + MINUTE) / 1000, T0 / 1000],
      Values: [3, 1, 2],
      StatusCode: 'Complete',
    });
    expect(e!.Values).toEqual([0, 1, 0]);

    // Two-minute periods from 12:00; EndTime is exclusive (12:03 is left out).
    const twoMinutes = answer(
      recorder,
      request(
        [
          { ...stat('sum', 'Duration', 'Sum', 120), Label: 'total' },
          stat('count', 'Duration', 'SampleCount', 120),
          stat('avg', 'Duration', 'Average', 120),
          stat('min', 'Duration', 'Minimum', 120),
          stat('max', 'Duration', 'Maximum', 120),
          { ...stat('hidden', 'Duration', 'Sum', 120), ReturnData: false },
        ],
        T0,
        T0 + 3 * MINUTE,
        { ScanBy: 'TimestampAscending' },
      ),
    );
    const values = Object.fromEntries(twoMinutes.MetricDataResults.map((r) => [r.Id, r.Values]));
    expect(values).toEqual({ sum: [90], count: [3], avg: [30], min: [10], max: [50] });
    expect(twoMinutes.MetricDataResults[0]).toMatchObject({ Label: 'total', Timestamps: [T0 / 1000] });

    // A period under a minute answers per minute, as standard-resolution metrics do.
    const fine = answer(recorder, request([stat('n', 'Invocations', 'Sum', 10)], T0, T0 + 2 * MINUTE));
    expect(fine.MetricDataResults[0]!.Values).toEqual([1, 2]);
  });

  it('computes percentiles by nearest rank, and matches a metric only by its exact dimensions and unit', () => {
    const recorder = new MetricRecorder({ now: () => T0 });
    for (let d = 1; d <= 100; d++) recordInvocation(recorder, 'svc-worker', d, false);
    const window = (queries: unknown[]) =>
      Object.fromEntries(
        answer(recorder, request(queries, T0, T0 + MINUTE)).MetricDataResults.map((r) => [r.Id, r.Values]),
      );

    expect(
      window([
        stat('p50', 'Duration', 'p50'),
        stat('p95', 'Duration', 'p95'),
        stat('p99', 'Duration', 'p99'),
        stat('p999', 'Duration', 'p99.9'),
        stat('p100', 'Duration', 'p100'),
      ]),
    ).toEqual({ p50: [50], p95: [95], p99: [99], p999: [100], p100: [100] });
    expect(
      window([
        stat('subset', 'Duration', 'Sum', 60, {}),
        stat('other', 'Duration', 'Sum', 60, { FunctionName: 'svc-other' }),
        {
          ...stat('ms', 'Duration', 'SampleCount'),
          MetricStat: { ...stat('x', 'Duration', 'SampleCount').MetricStat, Unit: 'Milliseconds' },
        },
        {
          ...stat('s', 'Duration', 'SampleCount'),
          MetricStat: { ...stat('x', 'Duration', 'SampleCount').MetricStat, Unit: 'Seconds' },
        },
      ]),
    ).toEqual({ subset: [], other: [], ms: [100], s: [] });
  });

  it('records API requests for the stage and, with a route, for the route too; 4xx and 5xx as 0 or 1', () => {
    const recorder = new MetricRecorder({ now: () => T0 });
    const api = { id: 'localapi01', stage: '$default' };
    recordApiRequest(recorder, api, {
      route: { method: 'GET', resource: '/a/{id}' },
      status: 200,
      latencyMs: 4,
    });
    recordApiRequest(recorder, api, {
      route: { method: 'GET', resource: '/a/{id}' },
      status: 429,
      latencyMs: 1,
    });
    recordApiRequest(recorder, api, { status: 404, latencyMs: 2 });
    const stage = { ApiId: 'localapi01', Stage: '$default' };
    const route = { ...stage, Method: 'GET', Resource: '/a/{id}' };
    const q = (Id: string, MetricName: string, Stat: string, dims: Record<string, string>) => ({
      ...stat(Id, MetricName, Stat, 60, dims),
      MetricStat: {
        ...stat(Id, MetricName, Stat, 60, dims).MetricStat,
        Metric: { ...stat(Id, MetricName, Stat, 60, dims).MetricStat.Metric, Namespace: 'AWS/ApiGateway' },
      },
    });
    const out = answer(
      recorder,
      request(
        [
          q('count', 'Count', 'Sum', stage),
          q('rate4xx', '4xx', 'Average', stage),
          q('routeCount', 'Count', 'Sum', route),
          q('route4xx', '4xx', 'Sum', route),
          q('route5xx', '5xx', 'Sum', route),
          q('latency', 'Latency', 'Maximum', route),
        ],
        T0,
        T0 + MINUTE,
      ),
    );
    expect(Object.fromEntries(out.MetricDataResults.map((r) => [r.Id, r.Values[0]]))).toEqual({
      count: 3,
      rate4xx: 2 / 3,
      routeCount: 2,
      route4xx: 1,
      route5xx: 0,
      latency: 4,
    });
  });

  it('keeps memory bounded: percentiles from a capped sample, exact counts, nothing past three hours', () => {
    const c = clock();
    let seed = 1;
    // A deterministic generator for the reservoir, so that the estimate is reproducible.
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const recorder = new MetricRecorder({ now: c.now, random });
    const n = SAMPLES_PER_BUCKET * 10;
    for (let d = 1; d <= n; d++) recordInvocation(recorder, 'svc-worker', d, false);
    const body = request(
      [
        stat('count', 'Duration', 'SampleCount'),
        stat('max', 'Duration', 'Maximum'),
        stat('p50', 'Duration', 'p50'),
      ],
      T0,
      T0 + MINUTE,
    );
    const [count, max, p50] = answer(recorder, body).MetricDataResults.map((r) => r.Values[0]!);
    expect(count).toBe(n);
    expect(max).toBe(n);
    expect(Math.abs(p50! - n / 2)).toBeLessThan(n * 0.05);

    // Past the retention, a record elsewhere prunes the old minute.
    c.set(T0 + (RETENTION_MINUTES + 1) * MINUTE);
    recordInvocation(recorder, 'svc-other', 1, false);
    expect(answer(recorder, body).MetricDataResults[0]!.Values).toEqual([]);
  });

  it('refuses a malformed request as CloudWatch does, naming the field; answers queries it cannot compute with a message', () => {
    const recorder = new MetricRecorder({ now: () => T0 });
    const ok = stat('q', 'Invocations', 'Sum');
    const cases: Array<[unknown, string, RegExp]> = [
      [{ StartTime: 1, EndTime: 2 }, 'MissingRequiredParameterException', /MetricDataQueries/],
      [request([ok], T0, T0), 'InvalidParameterValueException', /StartTime must be less than .*EndTime/],
      [
        request([stat('q', 'Invocations', 'Sum', 90)], T0, T0 + MINUTE),
        'InvalidParameterValueException',
        /MetricDataQueries\.member\.1\.MetricStat\.Period/,
      ],
      [request([ok, ok], T0, T0 + MINUTE), 'InvalidParameterValueException', /member\.2\.Id is not unique/],
      [
        request([{ ...ok, Id: 'Upper' }], T0, T0 + MINUTE),
        'InvalidParameterValueException',
        /MetricDataQueries\.member\.1\.Id/,
      ],
      [
        request([{ Id: 'q' }], T0, T0 + MINUTE),
        'InvalidParameterValueException',
        /member\.1\.MetricStat and .*Expression/,
      ],
      [
        request([stat('q', 'Invocations', 'Bogus')], T0, T0 + MINUTE),
        'InvalidParameterValueException',
        /Bogus .*member\.1\.MetricStat\.Stat/,
      ],
      [request([ok], T0, T0 + MINUTE, { NextToken: 'x' }), 'InvalidNextToken', /NextToken/],
    ];
    for (const [body, type, message] of cases) {
      const err = refusal(() => getMetricData(recorder, body));
      expect({ type: err.type, status: err.status }).toEqual({ type, status: 400 });
      expect(err.message).toMatch(message);
    }

    const out = answer(
      recorder,
      request(
        [stat('iqm', 'Duration', 'IQM'), { Id: 'math', Expression: 'SUM(METRICS())' }, ok],
        T0,
        T0 + MINUTE,
      ),
    );
    expect(out.MetricDataResults.map((r) => [r.Id, r.StatusCode, r.Messages?.[0]?.Code])).toEqual([
      ['iqm', 'InternalError', 'UnsupportedStatistic'],
      ['math', 'InternalError', 'UnsupportedExpression'],
      ['q', 'Complete', undefined],
    ]);
  });
});
