import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accessLogLine } from '#local/gateway.ts';
import {
  ACCESS_LOG_FIELDS,
  AccessLogLineSchema,
  accessLogFilterPattern,
  accessLogFormat,
  isReported,
} from '#shared/access-log/format.ts';

/** The access-log format, the reported statuses, and the line the local gateway writes. */

describe('the access-log declaration', () => {
  it('derives the CloudWatch filter pattern from the reported statuses', () => {
    expect(accessLogFilterPattern()).toBe('{ ($.status >= 500) || ($.status = 401) || ($.status = 403) }');
  });

  it('reports exactly 5xx, 401 and 403 (the local predicate agrees with the pattern)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), (status) => {
        expect(isReported(status)).toBe(status >= 500 || status === 401 || status === 403);
      }),
    );
  });

  it('is a JSON object of every field once API Gateway fills the variables in', () => {
    const filled = accessLogFormat()
      .replace('$context.status', '503')
      .replace('$context.requestTimeEpoch', '1700000000000');
    const line = JSON.parse(filled);
    expect(Object.keys(line)).toEqual(Object.keys(ACCESS_LOG_FIELDS));
    expect(line.status).toBe(503);
    expect(line.sub).toBe('$context.authorizer.claims.sub');
  });
});

describe("the local gateway's access-log line", () => {
  const facts = {
    requestId: 'abcDEF123=',
    sourceIp: '127.0.0.1',
    userAgent: 'curl/8',
    timeEpoch: Date.UTC(2026, 11, 7, 3, 0, 0),
    routeKey: 'GET /api/v1/plans',
    status: 401,
    protocol: 'HTTP/1.1',
    responseLength: 26,
    latencyMs: 3.4,
    authorizerError: 'missing_token',
    gatewayMessage: 'Unauthorized',
  };

  it('has the format’s fields, "-" for the empty ones, as API Gateway writes them', () => {
    const line = accessLogLine(facts);
    expect(Object.keys(line).sort()).toEqual(Object.keys(ACCESS_LOG_FIELDS).sort());
    expect(line).toMatchObject({
      status: 401,
      requestTimeEpoch: facts.timeEpoch,
      requestTime: '07/Dec/2026:03:00:00 +0000',
      sub: '-',
      integrationError: '-',
      integrationLatency: '-',
      responseLatency: '3',
      error: 'Unauthorized',
    });
  });

  it('reads back with the consumer’s schema, "-" as absent', () => {
    const parsed = AccessLogLineSchema.parse(
      JSON.parse(JSON.stringify(accessLogLine({ ...facts, sub: 'u-1' }))),
    );
    expect(parsed).toMatchObject({ requestId: 'abcDEF123=', status: 401, sub: 'u-1', ip: '127.0.0.1' });
    expect(parsed.integrationError).toBeUndefined();
  });
});
