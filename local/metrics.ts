/**
 * The local runtime's metric recorder: what AWS measures of the platform without being asked
 * (Lambda's per-function metrics, API Gateway's per-stage and per-route metrics), recorded as the
 * runtime invokes functions and answers requests, read back through the local CloudWatch
 * (`cloudwatch.ts`). Kept in memory only: metrics do not survive a restart (AWS keeps them 15
 * months; nothing local depends on old figures).
 *
 * Memory is bounded: one-minute buckets (the resolution of the AWS/Lambda and AWS/ApiGateway
 * metrics) for the last three hours, each keeping its sum, count, minimum and maximum exactly and at
 * most `SAMPLES_PER_BUCKET` values for percentiles (a uniform reservoir sample beyond that).
 */

export const MINUTE_MS = 60_000;
/** How far back the recorder answers. */
export const RETENTION_MINUTES = 180;
export const SAMPLES_PER_BUCKET = 1_000;

export type Unit = 'Count' | 'Milliseconds';

/** A CloudWatch metric's identity: namespace, name and its exact set of dimensions. */
export interface MetricId {
  namespace: string;
  name: string;
  dimensions: Readonly<Record<string, string>>;
}

export type Statistic =
  | { kind: 'Sum' | 'SampleCount' | 'Average' | 'Minimum' | 'Maximum' }
  | { kind: 'percentile'; p: number };

const SIMPLE = new Set(['Sum', 'SampleCount', 'Average', 'Minimum', 'Maximum']);
const PERCENTILE = /^p(\d{1,2}(?:\.\d+)?|100(?:\.0+)?)$/;

/** The statistics computed locally: the five simple ones and percentiles `pNN` / `pNN.N`. */
export function parseStatistic(stat: string): Statistic | undefined {
  if (SIMPLE.has(stat)) return { kind: stat as 'Sum' };
  const p = PERCENTILE.exec(stat)?.[1];
  return p === undefined ? undefined : { kind: 'percentile', p: Number(p) };
}

interface Bucket {
  sum: number;
  count: number;
  min: number;
  max: number;
  samples: number[];
}

interface Series {
  unit: Unit;
  /** By bucket start (epoch ms), in insertion order, which is time order. */
  buckets: Map<number, Bucket>;
}

export interface DatapointQuery {
  metric: MetricId;
  /** Only data recorded with this unit (CloudWatch's `Unit` filter). */
  unit?: string;
  /** Epoch ms, a whole minute: periods start here. */
  startMs: number;
  /** Epoch ms, exclusive. */
  endMs: number;
  periodMs: number;
  statistic: Statistic;
}

export class MetricRecorder {
  readonly #series = new Map<string, Series>();
  readonly #now: () => number;
  readonly #random: () => number;
  #prunedAt = 0;

  constructor(opts: { now?: () => number; random?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
  }

  /** One value of a metric, now. */
  put(metric: MetricId, value: number, unit: Unit): void {
    const now = this.#now();
    this.#prune(now);
    const key = seriesKey(metric);
    let series = this.#series.get(key);
    if (!series) {
      series = { unit, buckets: new Map() };
      this.#series.set(key, series);
    }
    const start = now - (now % MINUTE_MS);
    const bucket = series.buckets.get(start);
    if (!bucket) {
      series.buckets.set(start, { sum: value, count: 1, min: value, max: value, samples: [value] });
      return;
    }
    bucket.sum += value;
    bucket.count += 1;
    bucket.min = Math.min(bucket.min, value);
    bucket.max = Math.max(bucket.max, value);
    if (bucket.samples.length < SAMPLES_PER_BUCKET) bucket.samples.push(value);
    else {
      // Reservoir sampling: each of the `count` values so far is kept with the same probability.
      const slot = Math.floor(this.#random() * bucket.count);
      if (slot < SAMPLES_PER_BUCKET) bucket.samples[slot] = value;
    }
  }

  /**
   * The statistic per period that has data, oldest first: `[period start (epoch ms), value]`.
   * A minute's data belongs to the period its minute starts in, as CloudWatch's one-minute
   * datapoints do.
   */
  datapoints(q: DatapointQuery): Array<[number, number]> {
    this.#prune(this.#now());
    const series = this.#series.get(seriesKey(q.metric));
    if (!series || (q.unit !== undefined && q.unit !== series.unit)) return [];
    const periods = new Map<number, Bucket[]>();
    for (const [start, bucket] of series.buckets) {
      if (start < q.startMs || start >= q.endMs) continue;
      const period = q.startMs + Math.floor((start - q.startMs) / q.periodMs) * q.periodMs;
      const list = periods.get(period);
      if (list) list.push(bucket);
      else periods.set(period, [bucket]);
    }
    return [...periods.entries()]
      .sort(([a], [b]) => a - b)
      .map(([period, buckets]) => [period, statisticOf(buckets, q.statistic)]);
  }

  /** Drops buckets past the retention, at most once a minute. */
  #prune(now: number): void {
    if (now - this.#prunedAt < MINUTE_MS) return;
    this.#prunedAt = now;
    const oldest = now - RETENTION_MINUTES * MINUTE_MS;
    for (const [key, series] of this.#series) {
      for (const start of series.buckets.keys()) {
        if (start >= oldest) break;
        series.buckets.delete(start);
      }
      if (series.buckets.size === 0) this.#series.delete(key);
    }
  }
}

function seriesKey(metric: MetricId): string {
  const dims = Object.entries(metric.dimensions)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`);
  return JSON.stringify([metric.namespace, metric.name, ...dims]);
}

function statisticOf(buckets: Bucket[], statistic: Statistic): number {
  let sum = 0;
  let count = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const b of buckets) {
    sum += b.sum;
    count += b.count;
    min = Math.min(min, b.min);
    max = Math.max(max, b.max);
  }
  switch (statistic.kind) {
    case 'Sum':
      return sum;
    case 'SampleCount':
      return count;
    case 'Average':
      return sum / count;
    case 'Minimum':
      return min;
    case 'Maximum':
      return max;
    case 'percentile':
      if (statistic.p >= 100) return max;
      if (statistic.p <= 0) return min;
      return percentile(buckets, statistic.p);
  }
}

/**
 * Nearest rank over the buckets' samples, each weighing for the values its reservoir stands for
 * (all of them below the cap, so exact there). CloudWatch's own percentiles are estimates too;
 * no library is needed for a sort and a walk, and none fits weighted samples as simply.
 */
function percentile(buckets: Bucket[], p: number): number {
  const weighted: Array<[number, number]> = [];
  let total = 0;
  for (const b of buckets) {
    const weight = b.count / b.samples.length;
    for (const value of b.samples) weighted.push([value, weight]);
    total += b.count;
  }
  weighted.sort(([a], [b]) => a - b);
  const rank = (p / 100) * total;
  let seen = 0;
  for (const [value, weight] of weighted) {
    seen += weight;
    if (seen >= rank - 1e-9) return value;
  }
  return weighted[weighted.length - 1]![0];
}

// ---------------------------------------------------------------------------------------------
// What AWS records, as the runtime sees it happen

export const LAMBDA_NAMESPACE = 'AWS/Lambda';
export const API_GATEWAY_NAMESPACE = 'AWS/ApiGateway';

/**
 * One invocation as Lambda counts it, whatever invoked it: `Invocations`, `Errors` (it threw,
 * timed out or its environment died), `Throttles` (none locally: nothing limits concurrency) and
 * `Duration`, per `FunctionName` (the deployed name).
 */
export function recordInvocation(
  recorder: MetricRecorder,
  functionName: string,
  durationMs: number,
  failed: boolean,
): void {
  const dimensions = { FunctionName: functionName };
  recorder.put({ namespace: LAMBDA_NAMESPACE, name: 'Invocations', dimensions }, 1, 'Count');
  recorder.put({ namespace: LAMBDA_NAMESPACE, name: 'Errors', dimensions }, failed ? 1 : 0, 'Count');
  recorder.put({ namespace: LAMBDA_NAMESPACE, name: 'Throttles', dimensions }, 0, 'Count');
  recorder.put({ namespace: LAMBDA_NAMESPACE, name: 'Duration', dimensions }, durationMs, 'Milliseconds');
}

export interface ApiRequest {
  /** The route that took it (`Method` and `Resource`, its path as declared); none: stage figures only. */
  route?: { method: string; resource: string };
  status: number;
  latencyMs: number;
}

/**
 * One answered request as an HTTP API counts it: `Count`, `4xx`, `5xx` (0 or 1 each, so that
 * their Average is a rate) and `Latency`, for the stage (`ApiId`, `Stage`) and, with detailed
 * metrics, for its route (`Method`, `Resource` too).
 */
export function recordApiRequest(
  recorder: MetricRecorder,
  api: { id: string; stage: string },
  request: ApiRequest,
): void {
  const stage = { ApiId: api.id, Stage: api.stage };
  const scopes = request.route
    ? [stage, { ...stage, Method: request.route.method, Resource: request.route.resource }]
    : [stage];
  const clientError = request.status >= 400 && request.status < 500 ? 1 : 0;
  const serverError = request.status >= 500 ? 1 : 0;
  for (const dimensions of scopes) {
    const metric = (name: string) => ({ namespace: API_GATEWAY_NAMESPACE, name, dimensions });
    recorder.put(metric('Count'), 1, 'Count');
    recorder.put(metric('4xx'), clientError, 'Count');
    recorder.put(metric('5xx'), serverError, 'Count');
    recorder.put(metric('Latency'), request.latencyMs, 'Milliseconds');
  }
}
