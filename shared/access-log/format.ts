import { z } from 'zod';

/**
 * The HTTP API's access log, declared once: the fields API Gateway writes (HTTP API variables
 * only: REST-only ones fail deployment), the answers the platform reports from it, and from those
 * both the CloudWatch Logs subscription filter pattern (AWS) and the predicate the local runtime
 * applies to the lines its gateway writes.
 */

/** Each line's fields and the `$context` variable API Gateway fills it with ("-" when empty). */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
  userAgent: '$context.identity.userAgent',
  /** The verified JWT's subject; "-" when no token was verified. */
  sub: '$context.authorizer.claims.sub',
  requestTime: '$context.requestTime',
  requestTimeEpoch: '$context.requestTimeEpoch',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  error: '$context.error.message',
} as const;

export type AccessLogField = keyof typeof ACCESS_LOG_FIELDS;

/**
 * Fields written as JSON numbers, not strings: the filter pattern compares `status` as a number.
 * Both are always set, so the line stays valid JSON.
 */
const NUMERIC_FIELDS: ReadonlySet<AccessLogField> = new Set(['status', 'requestTimeEpoch']);

/** The stage's access-log format: one JSON object per request. */
export function accessLogFormat(): string {
  const fields = Object.entries(ACCESS_LOG_FIELDS).map(([name, variable]) =>
    NUMERIC_FIELDS.has(name as AccessLogField)
      ? `${JSON.stringify(name)}:${variable}`
      : `${JSON.stringify(name)}:${JSON.stringify(variable)}`,
  );
  return `{${fields.join(',')}}`;
}

/** The answers reported from the access log: every server error, and the two refusals. */
export const REPORTED_STATUSES = { serverErrorFrom: 500, denied: [401, 403] } as const;

export type DeniedStatus = (typeof REPORTED_STATUSES.denied)[number];

export function isDenied(status: number): status is DeniedStatus {
  return (REPORTED_STATUSES.denied as readonly number[]).includes(status);
}

/** Whether a line with this status is delivered to the access-log consumer (the local predicate). */
export function isReported(status: number): boolean {
  return status >= REPORTED_STATUSES.serverErrorFrom || isDenied(status);
}

/** The same selection as a CloudWatch Logs filter pattern on the JSON lines (the AWS subscription). */
export function accessLogFilterPattern(): string {
  const terms = [
    `($.status >= ${REPORTED_STATUSES.serverErrorFrom})`,
    ...REPORTED_STATUSES.denied.map((status) => `($.status = ${status})`),
  ];
  return `{ ${terms.join(' || ')} }`;
}

/** A value API Gateway wrote, or undefined for its "-" (empty) and for an empty string. */
const logged = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value === '-' || value === '' ? undefined : value));

/** A number API Gateway wrote, as a number or a numeric string; "-" and absent are undefined. */
const loggedNumber = z
  .union([z.number(), z.string()])
  .optional()
  .transform((value) => {
    if (value === undefined || value === '-' || value === '') return undefined;
    const n = typeof value === 'number' ? value : Number(value);
    return Number.isFinite(n) ? n : undefined;
  });

/**
 * One access-log line as the consumer reads it: the request id and status are required, every
 * other field optional (absent or "-"), fields it does not know ignored.
 */
export const AccessLogLineSchema = z.looseObject({
  requestId: z.string().min(1),
  status: z
    .union([
      z.int(),
      z
        .string()
        .regex(/^\d{3}$/)
        .transform(Number),
    ])
    .pipe(z.int().min(100).max(599)),
  ip: logged,
  userAgent: logged,
  sub: logged,
  requestTimeEpoch: loggedNumber,
  routeKey: logged,
  responseLatency: loggedNumber,
  integrationError: logged,
  authorizerError: logged,
  error: logged,
});

export type AccessLogLine = z.output<typeof AccessLogLineSchema>;

/** A line as the local gateway writes it: every field, "-" for an empty one, as API Gateway does. */
export type WrittenAccessLogLine = {
  [K in AccessLogField]: K extends 'status' | 'requestTimeEpoch' ? number : string;
};
