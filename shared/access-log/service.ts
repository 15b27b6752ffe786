import { CorrelationIdSchema, withCorrelationId } from '../correlation.ts';
import { EventPublisher } from '../events/publisher.ts';
import type { EventBus, PlatformEvent } from '../ports.ts';
import { type AccessLogReport, reportAccessLog } from './report.ts';
import { decodeSubscriptionEvent } from './subscription.ts';

/**
 * The access-log pipeline's one operation: a subscription delivery in, its events out through the
 * typed publisher, all of a delivery sent in one call to the bus (PutEvents batches of 10 within
 * 256 KB, `EventBridgeBus`). A failure to publish is thrown: Lambda retries the asynchronous
 * invocation, so a consumer may see an event twice, never miss one.
 */

export interface AccessLogResult {
  control: boolean;
  lines: number;
  failed: number;
  denied: number;
  unreadable: AccessLogReport['unreadable'];
}

/**
 * Keeps what the publisher sends, to hand it on in one call: the publisher checks and sends one
 * event at a time, each under its own correlation id.
 */
class CollectingBus implements EventBus {
  readonly events: PlatformEvent[] = [];
  async publish(events: PlatformEvent[]): Promise<void> {
    this.events.push(...events);
  }
  async ping(): Promise<void> {}
}

export async function processAccessLog(
  event: unknown,
  deps: { bus: () => EventBus; source: string; functionOf: (routeKey: string) => string | undefined },
): Promise<AccessLogResult> {
  const data = decodeSubscriptionEvent(event);
  if (data.messageType === 'CONTROL_MESSAGE') {
    return { control: true, lines: 0, failed: 0, denied: 0, unreadable: [] };
  }
  const report = reportAccessLog(data.logEvents, deps.functionOf);
  const collected = new CollectingBus();
  const publisher = new EventPublisher(collected, deps.source);
  for (const detail of report.failed) {
    // The failed request's id is its correlation id (unless its caller sent x-correlation-id).
    const id = CorrelationIdSchema.safeParse(detail.requestId);
    const publish = () => publisher.publish('ApiRequestFailed', detail);
    await (id.success ? withCorrelationId(id.data, publish) : publish());
  }
  for (const detail of report.denied) await publisher.publish('ApiAccessDenied', detail);
  if (collected.events.length > 0) await deps.bus().publish(collected.events);
  return {
    control: false,
    lines: data.logEvents.length,
    failed: report.failed.length,
    denied: report.denied.length,
    unreadable: report.unreadable,
  };
}
