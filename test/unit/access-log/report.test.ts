import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_DENIED_ROUTES,
  MAX_SAMPLE_REQUEST_IDS,
  MAX_USER_AGENTS,
  reportAccessLog,
} from '#shared/access-log/report.ts';
import type { LogEvent } from '#shared/access-log/subscription.ts';
import { EVENTS } from '#shared/events/catalogue.ts';

/** What a batch of access-log lines reports: 5xx one by one, 401/403 folded per client and status. */

const T0 = Date.UTC(2026, 11, 7, 3, 0, 0);
let n = 0;
function line(fields: Record<string, unknown>, timestamp = T0): LogEvent {
  n += 1;
  return {
    id: String(n),
    timestamp,
    message: JSON.stringify({
      requestId: `req-${n}`,
      ip: '198.51.100.7',
      sub: '-',
      userAgent: 'curl/8',
      routeKey: 'GET /api/v1/plans',
      requestTimeEpoch: timestamp,
      integrationError: '-',
      error: '-',
      ...fields,
    }),
  };
}
const functionOf = (routeKey: string) => (routeKey === 'GET /api/v1/plans' ? 'listPlans' : undefined);

describe('reportAccessLog', () => {
  it('reports each 5xx with its route, function, integration error and latency', () => {
    const report = reportAccessLog(
      [
        line({
          status: 502,
          integrationError: 'The Lambda function returned an error',
          responseLatency: '41',
        }),
        line({ status: 503, routeKey: '$default', error: 'Service Unavailable' }, T0 + 1000),
      ],
      functionOf,
    );
    expect(report.failed).toEqual([
      {
        requestId: expect.stringMatching(/^req-/),
        routeKey: 'GET /api/v1/plans',
        status: 502,
        function: 'listPlans',
        integrationError: 'The Lambda function returned an error',
        latencyMs: 41,
        at: '2026-12-07T03:00:00.000Z',
      },
      {
        requestId: expect.stringMatching(/^req-/),
        routeKey: '$default',
        status: 503,
        error: 'Service Unavailable',
        at: '2026-12-07T03:00:01.000Z',
      },
    ]);
    expect(report.denied).toEqual([]);
  });

  it('folds 401s and 403s per client (ip and sub) and status: count, first and last time, routes', () => {
    const report = reportAccessLog(
      [
        line({ status: 401 }, T0 + 2000),
        line({ status: 401, routeKey: 'POST /api/v1/plans' }, T0),
        line({ status: 401 }, T0 + 1000),
        line({ status: 403, sub: 'user-1' }),
        line({ status: 403, sub: 'user-2' }),
        line({ status: 401, ip: '203.0.113.9' }),
      ],
      functionOf,
    );
    expect(report.denied.map((d) => [d.ip, d.sub, d.status, d.count])).toEqual([
      ['198.51.100.7', undefined, 401, 3],
      ['198.51.100.7', 'user-1', 403, 1],
      ['198.51.100.7', 'user-2', 403, 1],
      ['203.0.113.9', undefined, 401, 1],
    ]);
    expect(report.denied[0]).toMatchObject({
      firstAt: '2026-12-07T03:00:00.000Z',
      lastAt: '2026-12-07T03:00:02.000Z',
      routes: ['GET /api/v1/plans', 'POST /api/v1/plans'],
      userAgents: ['curl/8'],
    });
    expect(report.denied[0]!.sampleRequestIds).toHaveLength(3);
  });

  it('bounds routes, sample ids, user agents and long strings', () => {
    const lines = Array.from({ length: 40 }, (_, i) =>
      line({ status: 401, routeKey: `GET /r${i}`, userAgent: `agent-${i}-${'x'.repeat(1000)}` }),
    );
    const [denied] = reportAccessLog(lines, functionOf).denied;
    expect(denied!.count).toBe(40);
    expect(denied!.routes).toHaveLength(MAX_DENIED_ROUTES);
    expect(denied!.sampleRequestIds).toHaveLength(MAX_SAMPLE_REQUEST_IDS);
    expect(denied!.userAgents).toHaveLength(MAX_USER_AGENTS);
    expect(denied!.userAgents.every((ua) => ua.length <= 256)).toBe(true);
  });

  it('skips unreadable lines with the reason, and ignores other statuses', () => {
    const report = reportAccessLog(
      [
        { id: 'a', timestamp: T0, message: 'not json' },
        { id: 'b', timestamp: T0, message: '{"status":500}' },
        { id: 'c', timestamp: -1, message: '{"requestId":"r","status":500}' },
        line({ status: 200 }),
      ],
      functionOf,
    );
    expect(report.unreadable).toEqual([
      { id: 'a', reason: 'message: not JSON' },
      { id: 'b', reason: expect.stringMatching(/^message\.requestId: /) },
      { id: 'c', reason: 'no valid time' },
    ]);
    expect(report.ignored).toBe(1);
    expect(report.failed).toEqual([]);
  });

  it('accounts for every line, and every event it makes fits its catalogue schema (property)', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.constant('-'),
      fc.integer(),
      fc.double(),
      fc.constant(null),
    );
    const message = fc.oneof(
      fc.string(),
      fc
        .record(
          {
            requestId: value,
            status: fc.oneof(fc.constantFrom(200, 401, 403, 500, 502, 599, '503', '401'), value),
            ip: value,
            sub: value,
            userAgent: value,
            routeKey: value,
            requestTimeEpoch: fc.oneof(fc.integer({ min: 0, max: 4e12 }), value),
            responseLatency: value,
            integrationError: value,
            error: value,
          },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
    );
    const events = fc.array(
      fc.record({ id: fc.string(), timestamp: fc.oneof(fc.integer(), fc.double()), message }),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(events, (logEvents) => {
        const report = reportAccessLog(logEvents, functionOf);
        const denied = report.denied.reduce((sum, d) => sum + d.count, 0);
        expect(report.failed.length + denied + report.unreadable.length + report.ignored).toBe(
          logEvents.length,
        );
        for (const detail of report.failed)
          EVENTS.ApiRequestFailed.detail.parse({ ...detail, schemaVersion: 1 });
        for (const detail of report.denied) {
          EVENTS.ApiAccessDenied.detail.parse({ ...detail, schemaVersion: 1 });
          expect(JSON.stringify(detail).length).toBeLessThan(8_000);
        }
      }),
    );
  });
});
