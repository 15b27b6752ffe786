import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/errors.ts';
import { compilePattern } from '#shared/events/pattern.ts';
import { ALARM_DETAIL_TYPE, ALARM_SOURCE, NotificationEventSchema } from '#shared/notifications/alarms.ts';
import { DEFAULT_PATTERN } from '#shared/notifications/subscriptions.ts';
import { parseWith } from '#shared/validation.ts';

/** What SNS puts in the queue for a CloudWatch alarm (raw delivery off). */
function snsAlarm(message: Record<string, unknown> | string) {
  return {
    Type: 'Notification',
    MessageId: '6f1c1e3a-2f55-5c3e-9d0e-2f1b1c1d1e1f',
    TopicArn: 'arn:aws:sns:eu-west-1:123456789012:VectorPlatform-dev-Stateful-AlarmTopic',
    Subject: 'ALARM: "SearchErrors" in EU (Ireland)',
    Message: typeof message === 'string' ? message : JSON.stringify(message),
    Timestamp: '2026-12-07T03:00:00.123Z',
    SignatureVersion: '1',
  };
}

const alarm = {
  AlarmName: 'SearchErrors',
  AlarmDescription: 'The search function failed',
  AWSAccountId: '123456789012',
  NewStateValue: 'ALARM',
  NewStateReason: 'Threshold Crossed: 1 datapoint [3.0] was greater than or equal to the threshold (1.0).',
  StateChangeTime: '2026-12-07T03:00:00.000+0000',
  Region: 'EU (Ireland)',
  AlarmArn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:SearchErrors',
  OldStateValue: 'OK',
  Trigger: { MetricName: 'Errors', Namespace: 'AWS/Lambda' },
};

describe('alarm notifications', () => {
  it('become the event EventBridge publishes for an alarm state change', () => {
    expect(parseWith(NotificationEventSchema, snsAlarm(alarm), '')).toEqual({
      id: '6f1c1e3a-2f55-5c3e-9d0e-2f1b1c1d1e1f',
      time: '2026-12-07T03:00:00.123Z',
      source: ALARM_SOURCE,
      'detail-type': ALARM_DETAIL_TYPE,
      detail: {
        alarmName: 'SearchErrors',
        description: 'The search function failed',
        alarmArn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:SearchErrors',
        state: { value: 'ALARM', reason: alarm.NewStateReason, timestamp: '2026-12-07T03:00:00.000+0000' },
        previousState: { value: 'OK' },
        region: 'EU (Ireland)',
        topicArn: 'arn:aws:sns:eu-west-1:123456789012:VectorPlatform-dev-Stateful-AlarmTopic',
      },
    });
  });

  it('match the default subscription, as platform failures do; other platform events do not', () => {
    const matches = compilePattern(DEFAULT_PATTERN);
    expect(matches(parseWith(NotificationEventSchema, snsAlarm(alarm), ''))).toBe(true);
    const platform = (type: string) => ({
      id: '1',
      time: '2026-12-07T03:00:00Z',
      source: DEFAULT_PATTERN.source[0]!,
      'detail-type': type,
      detail: {},
    });
    expect(matches(platform('MigrationFailed'))).toBe(true);
    expect(matches(platform('MigrationCompleted'))).toBe(false);
  });

  it('leave platform events as they are', () => {
    const event = {
      id: 'e',
      time: '2026-12-07T03:00:00Z',
      source: 's',
      'detail-type': 'X',
      detail: { a: 1 },
    };
    expect(parseWith(NotificationEventSchema, event, '')).toEqual(event);
  });

  it('refuse an SNS message that is not a CloudWatch alarm, naming the field', () => {
    expect(() => parseWith(NotificationEventSchema, snsAlarm('not json'), '')).toThrow(ValidationError);
    expect(() =>
      parseWith(NotificationEventSchema, snsAlarm({ ...alarm, NewStateValue: 'RED' }), ''),
    ).toThrow(/NewStateValue/);
  });

  it('property: any body is an event or a ValidationError, never a crash', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({ Message: fc.oneof(fc.string(), fc.json()) }).map((m) => ({ ...snsAlarm(''), ...m })),
          fc
            .record({ NewStateValue: fc.constantFrom('OK', 'ALARM', 'X'), AlarmName: fc.string() })
            .map((m) => snsAlarm({ ...alarm, ...m })),
        ),
        (body) => {
          try {
            const event = parseWith(NotificationEventSchema, body, '');
            expect(typeof event['detail-type']).toBe('string');
          } catch (err) {
            expect(err).toBeInstanceOf(ValidationError);
          }
        },
      ),
    );
  });
});
