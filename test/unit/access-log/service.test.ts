import { describe, expect, it } from 'vitest';
import { processAccessLog } from '#shared/access-log/service.ts';
import { encodeSubscriptionEvent, type LogEvent } from '#shared/access-log/subscription.ts';
import { withCorrelationId } from '#shared/correlation.ts';
import { ValidationError } from '#shared/errors.ts';
import type { EventBus, PlatformEvent } from '#shared/ports.ts';

/** A delivery in, its events out through the typed publisher, in one call to the bus. */

class RecordingBus implements EventBus {
  readonly calls: PlatformEvent[][] = [];
  async publish(events: PlatformEvent[]): Promise<void> {
    this.calls.push(events);
  }
  async ping(): Promise<void> {}
}

const T0 = Date.UTC(2026, 11, 7, 3, 0, 0);
const delivery = (logEvents: LogEvent[], messageType: 'DATA_MESSAGE' | 'CONTROL_MESSAGE' = 'DATA_MESSAGE') =>
  encodeSubscriptionEvent({
    messageType,
    owner: '123456789012',
    logGroup: 'access',
    logStream: 's',
    subscriptionFilters: ['f'],
    logEvents,
  });
const logEvent = (i: number, status: number, ip = '198.51.100.7'): LogEvent => ({
  id: String(i),
  timestamp: T0,
  message: JSON.stringify({ requestId: `REQ${i}=`, status, ip, routeKey: 'GET /api/v1/plans', sub: '-' }),
});

describe('processAccessLog', () => {
  const run = (event: unknown, bus: RecordingBus) =>
    withCorrelationId('invocation-1', () =>
      processAccessLog(event, { bus: () => bus, source: 'platform', functionOf: () => 'listPlans' }),
    );

  it('publishes every event of a delivery in one call, each 5xx under its request id', async () => {
    const bus = new RecordingBus();
    const lines = [
      ...Array.from({ length: 12 }, (_, i) => logEvent(i, 500)),
      logEvent(20, 401),
      logEvent(21, 401),
      logEvent(22, 403),
    ];
    const result = await run(delivery(lines), bus);
    expect(result).toMatchObject({ control: false, lines: 15, failed: 12, denied: 2, unreadable: [] });
    expect(bus.calls).toHaveLength(1);
    const events = bus.calls[0]!;
    expect(events.map((e) => e.detailType)).toEqual([
      ...Array(12).fill('ApiRequestFailed'),
      'ApiAccessDenied',
      'ApiAccessDenied',
    ]);
    expect(events[0]!.detail).toMatchObject({
      requestId: 'REQ0=',
      correlationId: 'REQ0=',
      function: 'listPlans',
    });
    expect(events[12]!.detail).toMatchObject({ status: 401, count: 2, correlationId: 'invocation-1' });
  });

  it('answers a control message without publishing', async () => {
    const bus = new RecordingBus();
    expect(await run(delivery([], 'CONTROL_MESSAGE'), bus)).toMatchObject({ control: true });
    expect(bus.calls).toEqual([]);
  });

  it('refuses what is not a subscription delivery, publishing nothing', async () => {
    const bus = new RecordingBus();
    await expect(run({ Records: [] }, bus)).rejects.toBeInstanceOf(ValidationError);
    expect(bus.calls).toEqual([]);
  });
});
