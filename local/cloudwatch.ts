import { z } from 'zod';
import { AWS_JSON_1_0, AwsJsonError, awsJsonServer } from './aws-json.ts';
import { JSON_DENIALS, type LocalIam } from './iam.ts';
import { closeNow, listen } from './listen.ts';
import { type MetricRecorder, MINUTE_MS, parseStatistic } from './metrics.ts';

/**
 * Local CloudWatch: `GetMetricData` over the runtime's metric recorder (`metrics.ts`), in the
 * protocol `@aws-sdk/client-cloudwatch` speaks (AWS JSON 1.0, target
 * `GraniteServiceVersion20100801`, query-compatible error codes), allowed by the caller's grants
 * (`cloudwatch:GetMetricData` on `*`: the action has no resource-level permissions).
 *
 * As CloudWatch: StartTime is rounded down to the minute, periods start there, a period is
 * answered only if it has data, results are newest first unless `ScanBy: TimestampAscending`,
 * the default label is the metric name. A malformed request is refused (400, naming the field);
 * a query that is well formed but not computed locally (metric math, statistics other than Sum,
 * SampleCount, Average, Minimum, Maximum and percentiles) gets its own result with no data and a
 * message, so the other queries of the call are still answered. Local metrics have a one-minute
 * resolution: periods under a minute answer per minute, as standard-resolution metrics do.
 * `MaxDatapoints` is not applied: three hours of data never reach its default of 100,800.
 */

export const CLOUDWATCH_TARGET = 'GraniteServiceVersion20100801';
const MAX_QUERIES = 500;
const MAX_REQUEST_BYTES = 1024 * 1024;
const HIGH_RESOLUTION_PERIODS = new Set([1, 5, 10, 30]);
/** Extended statistics CloudWatch computes and the recorder does not (trimmed means, counts…). */
const OTHER_STATISTICS = /^(?:(?:tm|wm|tc|ts)\d{1,2}(?:\.\d+)?|(?:TM|WM|TC|TS|PR)\(.+\)|IQM)$/;

/** Epoch seconds (what the SDK sends) or an ISO 8601 string (other clients). */
const Timestamp = z.union([z.number(), z.string()]).transform((t, ctx) => {
  const ms = typeof t === 'number' ? t * 1000 : Date.parse(t);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'is not a timestamp' });
    return z.NEVER;
  }
  return ms;
});

const QuerySchema = z.object({
  Id: z
    .string()
    .regex(/^[a-z][a-zA-Z0-9_]{0,254}$/, 'must start with a lower-case letter, then letters, digits, _'),
  MetricStat: z
    .object({
      Metric: z.object({
        Namespace: z.string().min(1),
        MetricName: z.string().min(1),
        Dimensions: z
          .array(z.object({ Name: z.string().min(1), Value: z.string() }))
          .max(30)
          .optional(),
      }),
      Period: z.int().positive(),
      Stat: z.string().min(1),
      Unit: z.string().optional(),
    })
    .optional(),
  Expression: z.string().optional(),
  Label: z.string().optional(),
  ReturnData: z.boolean().optional(),
  Period: z.int().positive().optional(),
  AccountId: z.string().optional(),
});

const RequestSchema = z.object({
  MetricDataQueries: z.array(QuerySchema).min(1).max(MAX_QUERIES),
  StartTime: Timestamp,
  EndTime: Timestamp,
  NextToken: z.string().optional(),
  ScanBy: z.enum(['TimestampDescending', 'TimestampAscending']).optional(),
  MaxDatapoints: z.int().positive().optional(),
  LabelOptions: z.object({ Timezone: z.string().optional() }).optional(),
});

type Request = z.output<typeof RequestSchema>;

function invalid(message: string): AwsJsonError {
  return new AwsJsonError('InvalidParameterValueException', message, 400, 'InvalidParameterValue;Sender');
}

/** The request's field as CloudWatch names it: `MetricDataQueries.member.1.MetricStat.Period`. */
function fieldName(path: ReadonlyArray<PropertyKey>): string {
  return path.map((key) => (typeof key === 'number' ? `member.${key + 1}` : String(key))).join('.');
}

function parseRequest(body: unknown): Request {
  const result = RequestSchema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = fieldName(issue.path);
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    throw new AwsJsonError(
      'MissingRequiredParameterException',
      `The parameter ${field} is required.`,
      400,
      'MissingParameter;Sender',
    );
  }
  throw invalid(`The value for parameter ${field} is not valid: ${issue.message}.`);
}

interface Result {
  Id: string;
  Label: string;
  Timestamps: number[];
  Values: number[];
  StatusCode: 'Complete' | 'InternalError';
  Messages?: Array<{ Code: string; Value: string }>;
}

export function getMetricData(recorder: MetricRecorder, body: unknown): unknown {
  const request = parseRequest(body);
  if (request.NextToken !== undefined) {
    // Every answer is whole, so no token was ever given out.
    throw new AwsJsonError(
      'InvalidNextToken',
      'The service cannot find the specified NextToken.',
      400,
      'InvalidNextToken;Sender',
    );
  }
  if (request.StartTime >= request.EndTime) {
    throw invalid('The parameter StartTime must be less than the parameter EndTime.');
  }
  const startMs = request.StartTime - (request.StartTime % MINUTE_MS);
  const ids = new Set<string>();
  for (const [i, q] of request.MetricDataQueries.entries()) {
    const field = `MetricDataQueries.member.${i + 1}`;
    if (ids.has(q.Id)) throw invalid(`The value ${q.Id} for parameter ${field}.Id is not unique.`);
    ids.add(q.Id);
    if ((q.MetricStat === undefined) === (q.Expression === undefined)) {
      throw invalid(`Exactly one of ${field}.MetricStat and ${field}.Expression must be given.`);
    }
    const period = q.MetricStat?.Period;
    if (period !== undefined && !HIGH_RESOLUTION_PERIODS.has(period) && period % 60 !== 0) {
      throw invalid(
        `The value ${period} for parameter ${field}.MetricStat.Period is not valid: 1, 5, 10, 30 or a multiple of 60.`,
      );
    }
  }
  const descending = request.ScanBy !== 'TimestampAscending';
  const results: Result[] = [];
  for (const [i, q] of request.MetricDataQueries.entries()) {
    if (q.ReturnData === false) continue;
    const field = `MetricDataQueries.member.${i + 1}`;
    const label = q.Label ?? q.MetricStat?.Metric.MetricName ?? q.Id;
    const unanswered = (Code: string, Value: string): Result => ({
      Id: q.Id,
      Label: label,
      Timestamps: [],
      Values: [],
      StatusCode: 'InternalError',
      Messages: [{ Code, Value }],
    });
    const stat = q.MetricStat;
    if (!stat) {
      results.push(
        unanswered(
          'UnsupportedExpression',
          `Metric math is not evaluated by the local CloudWatch: ${q.Expression}`,
        ),
      );
      continue;
    }
    const statistic = parseStatistic(stat.Stat);
    if (!statistic) {
      if (!OTHER_STATISTICS.test(stat.Stat))
        throw invalid(
          `The value ${stat.Stat} for parameter ${field}.MetricStat.Stat is not a valid statistic.`,
        );
      results.push(
        unanswered(
          'UnsupportedStatistic',
          `${stat.Stat} is not computed by the local CloudWatch (Sum, SampleCount, Average, Minimum, Maximum, pNN)`,
        ),
      );
      continue;
    }
    const points = recorder.datapoints({
      metric: {
        namespace: stat.Metric.Namespace,
        name: stat.Metric.MetricName,
        dimensions: Object.fromEntries((stat.Metric.Dimensions ?? []).map((d) => [d.Name, d.Value])),
      },
      ...(stat.Unit === undefined ? {} : { unit: stat.Unit }),
      startMs,
      endMs: request.EndTime,
      periodMs: Math.max(stat.Period * 1000, MINUTE_MS),
      statistic,
    });
    if (descending) points.reverse();
    results.push({
      Id: q.Id,
      Label: label,
      Timestamps: points.map(([t]) => t / 1000),
      Values: points.map(([, v]) => v),
      StatusCode: 'Complete',
    });
  }
  return { MetricDataResults: results, Messages: [] };
}

/** Serves `recorder` as CloudWatch's GetMetricData on loopback (port 0: a free port). */
export async function startCloudWatchEndpoint(opts: {
  recorder: MetricRecorder;
  iam: LocalIam;
  host?: string;
  port?: number;
}): Promise<{ url: string; close(): Promise<void> }> {
  const server = awsJsonServer({
    contentType: AWS_JSON_1_0,
    maxRequestBytes: MAX_REQUEST_BYTES,
    dispatch: async (target, body, req, raw) => {
      const [service, operation] = target.split('.', 2);
      if (service !== CLOUDWATCH_TARGET || operation !== 'GetMetricData') {
        throw new AwsJsonError(
          'UnknownOperationException',
          `The local CloudWatch answers ${CLOUDWATCH_TARGET}.GetMetricData only, not ${target}`,
        );
      }
      const request = { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body: raw };
      const denial = await opts.iam.authorize(request, 'cloudwatch:GetMetricData', '*');
      if (denial) {
        const code = denial.reason === 'access' ? 'AccessDenied' : 'InvalidSignature';
        throw new AwsJsonError(JSON_DENIALS[denial.reason], denial.message, 403, `${code};Sender`);
      }
      return getMetricData(opts.recorder, body);
    },
  });
  return {
    url: await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0),
    close: () => closeNow(server),
  };
}
