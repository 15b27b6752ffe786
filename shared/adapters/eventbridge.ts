import {
  DescribeEventBusCommand,
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { UpstreamError, ValidationError } from '../errors.ts';
import type { EventBus, PlatformEvent } from '../ports.ts';
import { awsCall } from './aws-errors.ts';
import { groupForBatch } from './batching.ts';

/** PutEvents limits: 10 entries and 256 KB per call. */
const MAX_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1000;

const RETRYABLE_ENTRY_CODES = new Set(['InternalFailure', 'ThrottlingException']);

/** An entry's size as EventBridge counts it (the UTF-8 bytes of its string fields). */
function entrySize(entry: PutEventsRequestEntry): number {
  return [entry.Source, entry.DetailType, entry.Detail, entry.EventBusName].reduce(
    (sum, field) => sum + (field ? Buffer.byteLength(field) : 0),
    0,
  );
}

/** The EventBus port on an EventBridge custom bus. */
export class EventBridgeBus implements EventBus {
  readonly #events: EventBridgeClient;
  readonly #busName: string;

  constructor(options: { client: EventBridgeClient; busName: string }) {
    this.#events = options.client;
    this.#busName = options.busName;
  }

  async publish(events: PlatformEvent[]): Promise<void> {
    const entries: PutEventsRequestEntry[] = events.map((event, index) => {
      const detail = JSON.stringify(event.detail);
      if (
        detail === undefined ||
        typeof event.detail !== 'object' ||
        event.detail === null ||
        Array.isArray(event.detail)
      ) {
        throw ValidationError.field(`events.${index}.detail`, 'must be a JSON object');
      }
      return {
        EventBusName: this.#busName,
        Source: event.source,
        DetailType: event.detailType,
        Detail: detail,
      };
    });
    for (const group of groupForBatch(entries, MAX_ENTRIES, MAX_BATCH_BYTES, entrySize)) {
      const out = await awsCall('EventBridge PutEvents', () =>
        this.#events.send(new PutEventsCommand({ Entries: group })),
      );
      if ((out.FailedEntryCount ?? 0) > 0) {
        const failed = (out.Entries ?? []).flatMap((entry, i) =>
          entry.ErrorCode ? [{ index: i, code: entry.ErrorCode }] : [],
        );
        const detail = failed.map((f) => `entry ${f.index}: ${f.code}`).join(', ');
        throw new UpstreamError(
          `EventBridge rejected ${out.FailedEntryCount} of ${group.length} events (${detail})`,
          {
            retryable: failed.length > 0 && failed.every((f) => RETRYABLE_ENTRY_CODES.has(f.code)),
          },
        );
      }
    }
  }

  async ping(): Promise<void> {
    await awsCall('EventBridge DescribeEventBus', () =>
      this.#events.send(new DescribeEventBusCommand({ Name: this.#busName })),
    );
  }
}
