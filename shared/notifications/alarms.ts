import { z } from 'zod';
import { type DeliveredEnvelope, DeliveredEventSchema } from '../events/log.ts';

/**
 * The alarm topic's notifications, as SNS delivers them to the notification events queue: an SNS
 * envelope whose `Message` is CloudWatch's alarm JSON. Each becomes the event EventBridge itself
 * publishes for an alarm state change (source `aws.cloudwatch`, detail-type `CloudWatch Alarm
 * State Change`), so a subscription's pattern for alarms is the one it would write for
 * EventBridge.
 */

export const ALARM_SOURCE = 'aws.cloudwatch';
export const ALARM_DETAIL_TYPE = 'CloudWatch Alarm State Change';

const AlarmState = z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA']);

/** CloudWatch's alarm notification (metric and composite alarms share these fields). */
const AlarmMessageSchema = z.looseObject({
  AlarmName: z.string().min(1),
  AlarmDescription: z.string().nullish(),
  AlarmArn: z.string().optional(),
  NewStateValue: AlarmState,
  NewStateReason: z.string(),
  OldStateValue: AlarmState.optional(),
  StateChangeTime: z.string().min(1),
  Region: z.string().optional(),
});

const SnsNotificationSchema = z.looseObject({
  Type: z.literal('Notification'),
  MessageId: z.string().min(1),
  TopicArn: z.string().min(1),
  Timestamp: z.iso.datetime({ offset: true }),
  Message: z.string(),
});

export const AlarmNotificationSchema = SnsNotificationSchema.transform((sns, ctx) => {
  let message: unknown;
  try {
    message = JSON.parse(sns.Message);
  } catch {
    ctx.addIssue({ code: 'custom', path: ['Message'], message: 'is not JSON (not a CloudWatch alarm)' });
    return z.NEVER;
  }
  const alarm = AlarmMessageSchema.safeParse(message);
  if (!alarm.success) {
    for (const issue of alarm.error.issues) ctx.addIssue({ ...issue, path: ['Message', ...issue.path] });
    return z.NEVER;
  }
  const a = alarm.data;
  return {
    id: sns.MessageId,
    time: sns.Timestamp,
    source: ALARM_SOURCE,
    'detail-type': ALARM_DETAIL_TYPE,
    detail: {
      alarmName: a.AlarmName,
      ...(a.AlarmDescription ? { description: a.AlarmDescription } : {}),
      ...(a.AlarmArn ? { alarmArn: a.AlarmArn } : {}),
      state: { value: a.NewStateValue, reason: a.NewStateReason, timestamp: a.StateChangeTime },
      ...(a.OldStateValue ? { previousState: { value: a.OldStateValue } } : {}),
      ...(a.Region ? { region: a.Region } : {}),
      topicArn: sns.TopicArn,
    },
  };
});

/**
 * What the notification events queue carries: platform events (a rule's target) and alarms (SNS
 * notifications, told apart by their `Type`), each refused with its own schema's issues.
 */
export const NotificationEventSchema = z.unknown().transform((body, ctx): DeliveredEnvelope => {
  const isSns = typeof body === 'object' && body !== null && 'Type' in body && body.Type === 'Notification';
  const parsed = (isSns ? AlarmNotificationSchema : DeliveredEventSchema).safeParse(body);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue });
  return z.NEVER;
});
