import { z } from 'zod';
import { validatePattern } from '../events/pattern.ts';
import { nestsDeeperThan } from '../validation.ts';
import { urlProblem } from './ssrf.ts';

/** The shapes of subscriptions and of the delivery log, as the API takes and answers them. */

const MAX_PATTERN_BYTES = 4096;

/** An EventBridge event pattern, checked as EventBridge would (the issue names where it is wrong). */
export const PatternSchema = z.record(z.string(), z.unknown()).superRefine((pattern, ctx) => {
  if (JSON.stringify(pattern).length > MAX_PATTERN_BYTES || nestsDeeperThan(pattern, 16)) {
    ctx.addIssue({
      code: 'custom',
      message: `must be at most ${MAX_PATTERN_BYTES} bytes and 16 levels deep`,
    });
    return;
  }
  try {
    validatePattern(pattern);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const WebhookUrl = z
  .string()
  .max(2048)
  .superRefine((url, ctx) => {
    const problem = urlProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const ChannelSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('webhook'), url: WebhookUrl }),
  z.strictObject({ type: z.literal('email'), to: z.array(z.email()).min(1).max(10) }),
]);
export type Channel = z.infer<typeof ChannelSchema>;

/** A webhook's signing secret when the caller sets it (else one is made and shown once). */
const SecretField = z.string().min(32, 'must be at least 32 characters').max(256);

export const SubscriptionInputSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  pattern: PatternSchema,
  channel: ChannelSchema,
  enabled: z.boolean().default(true),
  secret: SecretField.optional(),
});
export type SubscriptionInput = z.output<typeof SubscriptionInputSchema>;

export const SubscriptionPathSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/, 'must be a subscription id (lower-case letters, digits, -)')
    .optional(),
});

export const SubscriptionSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  pattern: z.record(z.string(), z.unknown()),
  channel: ChannelSchema,
  enabled: z.boolean(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type Subscription = z.infer<typeof SubscriptionSchema>;

/** A create or replace: the subscription, and the signing secret the platform made (this once). */
export const SavedSubscriptionSchema = z.strictObject({
  subscription: SubscriptionSchema,
  secret: z.string().optional(),
});
export const SubscriptionListSchema = z.strictObject({ subscriptions: z.array(SubscriptionSchema) });
export const SubscriptionAnswerSchema = z.strictObject({ subscription: SubscriptionSchema });

export const DELIVERY_STATUSES = ['pending', 'retrying', 'delivered', 'failed', 'skipped'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const DeliveryQuerySchema = z.strictObject({
  subscriptionId: z.string().min(1).max(64).optional(),
  status: z.enum(DELIVERY_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type DeliveryQuery = z.output<typeof DeliveryQuerySchema>;

/** One notification: one event to one subscription, however many attempts it took. */
export const DeliverySchema = z.strictObject({
  id: z.string(),
  subscriptionId: z.string(),
  channel: z.enum(['webhook', 'email']),
  eventId: z.string(),
  eventType: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.int().nonnegative(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  /** The last attempt's duration. */
  latencyMs: z.number().nonnegative().optional(),
  /** A webhook's last answer. */
  responseStatus: z.int().optional(),
  lastError: z.string().optional(),
  nextAttemptAt: z.iso.datetime().optional(),
});
export type Delivery = z.infer<typeof DeliverySchema>;
export const DeliveryListSchema = z.strictObject({ deliveries: z.array(DeliverySchema) });

/** An event as a notification carries it (EventBridge's envelope fields). */
export const NotifiedEventSchema = z.looseObject({
  id: z.string().min(1),
  time: z.string().min(1),
  source: z.string().min(1),
  'detail-type': z.string().min(1),
  detail: z.record(z.string(), z.unknown()),
});
export type NotifiedEvent = z.infer<typeof NotifiedEventSchema>;

/** A message of the delivery queue: one notification. */
export const DeliveryMessageSchema = z.strictObject({
  deliveryId: z.string().min(1),
  subscriptionId: z.string().min(1),
  event: NotifiedEventSchema,
});
export type DeliveryMessage = z.infer<typeof DeliveryMessageSchema>;
