import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSubscriptionEvent,
  encodeSubscriptionEvent,
  type SubscriptionData,
} from '#shared/access-log/subscription.ts';
import { ValidationError } from '#shared/errors.ts';

/** CloudWatch Logs subscription deliveries: base64 of gzipped JSON, refused clearly when not. */

const data: SubscriptionData = {
  messageType: 'DATA_MESSAGE',
  owner: '123456789012',
  logGroup: '/aws/apigateway/access',
  logStream: 'stream',
  subscriptionFilters: ['ApiAccessLogSubscription'],
  logEvents: [{ id: '1', timestamp: 1_700_000_000_000, message: '{"status":500}' }],
};
const wrap = (bytes: Buffer) => ({ awslogs: { data: bytes.toString('base64') } });

/** The error thrown by `fn`, which must be a ValidationError. */
function refusal(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('not refused');
}

describe('decodeSubscriptionEvent', () => {
  it('reads back what CloudWatch Logs sends, control messages included', () => {
    expect(decodeSubscriptionEvent(encodeSubscriptionEvent(data))).toEqual(data);
    const control = { ...data, messageType: 'CONTROL_MESSAGE' as const, logEvents: [] };
    expect(decodeSubscriptionEvent(encodeSubscriptionEvent(control)).messageType).toBe('CONTROL_MESSAGE');
  });

  it('names the field and the reason of a bad delivery', () => {
    expect(refusal(() => decodeSubscriptionEvent({})).message).toMatch(/^event\.awslogs: /);
    expect(refusal(() => decodeSubscriptionEvent({ awslogs: { data: '!!!' } })).message).toBe(
      'event.awslogs.data: is not base64',
    );
    expect(refusal(() => decodeSubscriptionEvent(wrap(Buffer.from('plain text')))).message).toMatch(
      /^event\.awslogs\.data: is not gzip data/,
    );
    expect(refusal(() => decodeSubscriptionEvent(wrap(gzipSync('{nope')))).message).toMatch(
      /^event\.awslogs\.data: is not JSON once decompressed/,
    );
    expect(
      refusal(() => decodeSubscriptionEvent(wrap(gzipSync(JSON.stringify({ ...data, logEvents: 'x' })))))
        .message,
    ).toMatch(/^event\.awslogs\.data\.logEvents: /);
  });

  it('refuses a payload that inflates past the bound, before holding it', () => {
    const bomb = gzipSync(Buffer.alloc(9 * 1024 * 1024, 0x20));
    expect(refusal(() => decodeSubscriptionEvent(wrap(bomb))).message).toMatch(/is not gzip data/);
  });

  it('answers any input with subscription data or a ValidationError, never another error (property)', () => {
    const gzipped = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => gzipSync(b)),
      fc.jsonValue().map((v) => gzipSync(JSON.stringify(v) ?? '')),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    );
    const events = fc.oneof(
      fc.anything(),
      gzipped.map(wrap),
      fc.string().map((s) => ({ awslogs: { data: s } })),
    );
    fc.assert(
      fc.property(events, (event) => {
        try {
          decodeSubscriptionEvent(event);
        } catch (err) {
          expect(err).toBeInstanceOf(ValidationError);
        }
      }),
    );
  });
});
