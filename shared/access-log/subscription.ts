import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { parseWith } from '../validation.ts';

/**
 * The event CloudWatch Logs sends a subscription's Lambda destination: `{ awslogs: { data } }`,
 * `data` the base64 of the gzipped JSON below. A `CONTROL_MESSAGE` (sent when the subscription is
 * created, to check the destination) carries no log events of the group.
 */

/** What Lambda receives from a subscription filter. */
export const SubscriptionEventSchema = z.object({
  awslogs: z.object({ data: z.string().min(1) }),
});

export type SubscriptionEvent = z.input<typeof SubscriptionEventSchema>;

const LogEventSchema = z.object({
  id: z.string(),
  timestamp: z.number(),
  message: z.string(),
});

export const SubscriptionDataSchema = z.object({
  messageType: z.enum(['DATA_MESSAGE', 'CONTROL_MESSAGE']),
  owner: z.string(),
  logGroup: z.string(),
  logStream: z.string(),
  subscriptionFilters: z.array(z.string()),
  logEvents: z.array(LogEventSchema),
});

export type SubscriptionData = z.output<typeof SubscriptionDataSchema>;
export type LogEvent = z.output<typeof LogEventSchema>;

/**
 * A compressed payload's largest size once decompressed: CloudWatch Logs sends at most 1 MiB of
 * log events per delivery (and Lambda takes 256 KiB asynchronously); anything far larger is refused
 * before it is inflated, as a gzip bomb would be.
 */
const MAX_INFLATED_BYTES = 8 * 1024 * 1024;

/**
 * The subscription data of an event, checked. Throws a ValidationError naming the field and the
 * reason for anything else (not base64, not gzip, not JSON, not the subscription's shape); never
 * another error.
 */
export function decodeSubscriptionEvent(event: unknown): SubscriptionData {
  const { awslogs } = parseWith(SubscriptionEventSchema, event, 'event');
  const compressed = Buffer.from(awslogs.data, 'base64');
  // Node's base64 decoding skips what is not base64; a round trip tells data that was not.
  if (compressed.length === 0 || compressed.toString('base64') !== awslogs.data.replace(/\s+/g, '')) {
    throw ValidationError.field('event.awslogs.data', 'is not base64');
  }
  let text: string;
  try {
    text = gunzipSync(compressed, { maxOutputLength: MAX_INFLATED_BYTES }).toString('utf8');
  } catch (err) {
    throw ValidationError.field('event.awslogs.data', `is not gzip data (${(err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw ValidationError.field(
      'event.awslogs.data',
      `is not JSON once decompressed (${(err as Error).message})`,
    );
  }
  return parseWith(SubscriptionDataSchema, json, 'event.awslogs.data');
}

/** The event CloudWatch Logs would send for `data` (the local runtime's deliveries, tests). */
export function encodeSubscriptionEvent(data: SubscriptionData): { awslogs: { data: string } } {
  return { awslogs: { data: gzipSync(JSON.stringify(data)).toString('base64') } };
}
