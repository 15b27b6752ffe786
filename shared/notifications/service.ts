import { randomUUID } from 'node:crypto';
import { NotFoundError, UpstreamError } from '../errors.ts';
import { compilePattern } from '../events/pattern.ts';
import type { EventPublisher } from '../events/publisher.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import type { Queue } from '../ports.ts';
import { logger } from '../powertools.ts';
import { type DeliveryLog, deliveryIdOf } from './deliveries.ts';
import { composeEmail } from './email.ts';
import type { Delivery, DeliveryMessage, NotifiedEvent, Subscription } from './model.ts';
import type { EmailSender, Redelivery } from './ports.ts';
import { signingSecrets } from './secret-value.ts';
import { backoffSeconds, DELIVERY_QUEUE } from './settings.ts';
import type { TargetPolicy } from './ssrf.ts';
import type { SubscriptionStore } from './subscriptions.ts';
import { DeliveryError, postWebhook } from './webhook.ts';

/**
 * Notifications: events matched against the subscriptions' patterns (one queue message per
 * notification), then each delivered on its channel with at-least-once semantics: an attempt that
 * fails for a reason that may pass is retried with a growing backoff, up to the queue's
 * maxReceiveCount, then the message goes to the dead-letter queue; each notification's record in
 * the delivery log says where it stands. Each edge comes in lazily: a function builds only what it
 * is granted.
 */

export interface NotificationDependencies {
  subscriptions: SubscriptionStore;
  log: DeliveryLog;
  queue: () => Queue;
  redelivery: () => Redelivery;
  email: () => EmailSender;
  publisher: () => EventPublisher;
  emailFrom: string | undefined;
  policy: TargetPolicy;
  now?: () => Date;
}

/** The type of the sample the `test` action sends (not in the catalogue: never on the bus). */
export const TEST_EVENT_TYPE = 'NotificationTest';

export class NotificationService {
  readonly #deps: NotificationDependencies;
  constructor(deps: NotificationDependencies) {
    this.#deps = deps;
  }

  #now(): Date {
    return this.#deps.now?.() ?? new Date();
  }

  /** Fans an event out: one pending record and one queue message per matching subscription. */
  async match(event: NotifiedEvent): Promise<{ deliveries: string[] }> {
    const subscriptions = (await this.#deps.subscriptions.list()).filter(
      (s) => s.enabled && compilePattern(s.pattern)(event) && !aboutItself(event, s),
    );
    const messages: DeliveryMessage[] = [];
    for (const subscription of subscriptions) {
      const id = deliveryIdOf(event.id, subscription.id);
      const known = await this.#deps.log.get(id);
      // The event came again (at least once): a notification already under way is not started twice.
      if (known && known.status !== 'pending') continue;
      if (!known)
        await this.#deps.log.put(this.#pending(id, subscription.id, subscription.channel.type, event));
      messages.push({ deliveryId: id, subscriptionId: subscription.id, event });
    }
    if (messages.length > 0) await this.#deps.queue().send(messages.map((body) => ({ body })));
    return { deliveries: messages.map((m) => m.deliveryId) };
  }

  /** Sends a sample event to one subscription, through the queue as any notification. */
  async test(subscriptionId: string): Promise<{ deliveryId: string; event: NotifiedEvent }> {
    const subscription = await this.#deps.subscriptions.get(subscriptionId).catch((err: unknown) => {
      if (err instanceof NotFoundError) {
        throw new NotFoundError(err.message, [
          { field: 'input.subscriptionId', reason: 'no subscription has this id' },
        ]);
      }
      throw err;
    });
    const event: NotifiedEvent = {
      id: `test-${randomUUID()}`,
      time: this.#now().toISOString(),
      source: EVENT_SOURCE,
      'detail-type': TEST_EVENT_TYPE,
      detail: { message: 'A sample notification: the subscription works.', subscriptionId },
    };
    const deliveryId = deliveryIdOf(event.id, subscription.id);
    await this.#deps.log.put(this.#pending(deliveryId, subscription.id, subscription.channel.type, event));
    await this.#deps.queue().send([{ body: { deliveryId, subscriptionId, event } }]);
    return { deliveryId, event };
  }

  /**
   * One attempt (the message's `attempt`-th receive). Resolves when the notification is settled
   * (delivered, given up for good, or no longer wanted); throws to have the message received
   * again, after the backoff.
   */
  async deliver(message: DeliveryMessage, attempt: number, receiptHandle: string): Promise<Delivery> {
    const { log } = this.#deps;
    const subscription = await this.#deps.subscriptions.get(message.subscriptionId).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    const known = await log.get(message.deliveryId);
    if (known?.status === 'delivered' || known?.status === 'failed') return known;
    const record: Delivery =
      known ??
      this.#pending(message.deliveryId, message.subscriptionId, subscription?.channel.type, message.event);
    const at = this.#now().toISOString();
    if (!subscription?.enabled) {
      const skipped: Delivery = {
        ...record,
        status: 'skipped',
        updatedAt: at,
        lastError: subscription ? 'the subscription is disabled' : 'the subscription was deleted',
      };
      await log.put(skipped);
      return skipped;
    }

    const started = performance.now();
    try {
      const outcome = await this.#send(subscription, message);
      const delivered: Delivery = {
        ...record,
        status: 'delivered',
        attempts: attempt,
        updatedAt: this.#now().toISOString(),
        latencyMs: Math.round(performance.now() - started),
        ...(outcome.responseStatus !== undefined ? { responseStatus: outcome.responseStatus } : {}),
      };
      delete delivered.nextAttemptAt;
      delete delivered.lastError;
      await log.put(delivered);
      return delivered;
    } catch (err) {
      const latencyMs = Math.round(performance.now() - started);
      const permanent = isPermanent(err);
      const last = permanent || attempt >= DELIVERY_QUEUE.maxReceiveCount;
      const wait = backoffSeconds(attempt);
      const failed: Delivery = {
        ...record,
        status: last ? 'failed' : 'retrying',
        attempts: attempt,
        updatedAt: this.#now().toISOString(),
        latencyMs,
        lastError: (err as Error).message,
        ...(err instanceof DeliveryError && err.responseStatus !== undefined
          ? { responseStatus: err.responseStatus }
          : {}),
        ...(last ? {} : { nextAttemptAt: new Date(this.#now().getTime() + wait * 1000).toISOString() }),
      };
      if (last) delete failed.nextAttemptAt;
      await log.put(failed);
      if (last) {
        await this.#deps.publisher().publish('NotificationFailed', {
          deliveryId: record.id,
          subscriptionId: subscription.id,
          channel: subscription.channel.type,
          eventId: message.event.id,
          eventType: message.event['detail-type'],
          attempts: attempt,
          error: failed.lastError || 'failed',
          at: failed.updatedAt,
        });
        // Nothing to try again: the message is done with. After its last attempt it is left to
        // the dead-letter queue (the redrive policy moves it at its next receive).
        if (permanent) return failed;
      } else {
        await this.#deps
          .redelivery()
          .later(receiptHandle, wait)
          .catch((e: unknown) =>
            // The queue's own visibility timeout then spaces the attempts instead.
            logger.warn('could not delay the next attempt', { error: e as Error }),
          );
      }
      throw err;
    }
  }

  async #send(subscription: Subscription, message: DeliveryMessage): Promise<{ responseStatus?: number }> {
    const { event } = message;
    if (subscription.channel.type === 'webhook') {
      const body = JSON.stringify({
        deliveryId: message.deliveryId,
        subscriptionId: subscription.id,
        event: {
          id: event.id,
          time: event.time,
          source: event.source,
          type: event['detail-type'],
          detail: event.detail,
        },
      });
      const { status } = await postWebhook(subscription.channel.url, body, {
        // Signed at each attempt: a retry after a rotation carries the new and the previous secret's.
        secrets: signingSecrets(
          await this.#deps.subscriptions.secretOf(subscription.id),
          this.#deps.now?.() ?? new Date(),
        ),
        deliveryId: message.deliveryId,
        policy: this.#deps.policy,
        ...(this.#deps.now ? { now: this.#deps.now } : {}),
      });
      return { responseStatus: status };
    }
    const from = this.#deps.emailFrom;
    if (!from) throw new Error('Invalid configuration: NOTIFICATIONS_EMAIL_FROM is not set');
    const raw = await composeEmail({
      from,
      to: subscription.channel.to,
      subject: `[${EVENT_SOURCE}] ${event['detail-type']}`,
      text: emailText(subscription, event),
      headers: { 'X-VP-Delivery': message.deliveryId },
    });
    await this.#deps.email().send({ from, to: subscription.channel.to, raw });
    return {};
  }

  #pending(
    id: string,
    subscriptionId: string,
    channel: Subscription['channel']['type'] | undefined,
    event: NotifiedEvent,
  ): Delivery {
    const now = this.#now().toISOString();
    return {
      id,
      subscriptionId,
      // Unknown only for a subscription deleted before its first attempt.
      channel: channel ?? 'webhook',
      eventId: event.id,
      eventType: event['detail-type'],
      status: 'pending',
      attempts: 0,
      createdAt: now,
      updatedAt: now,
    };
  }
}

/** A NotificationFailed about a subscription's own notification is not sent to it (no loop). */
function aboutItself(event: NotifiedEvent, subscription: Subscription): boolean {
  return event['detail-type'] === 'NotificationFailed' && event.detail.subscriptionId === subscription.id;
}

/** Refused targets and 4xx answers, and SES refusals that are not throttling or its own faults. */
function isPermanent(err: unknown): boolean {
  if (err instanceof DeliveryError) return err.permanent;
  if (err instanceof UpstreamError) return !err.retryable;
  return false;
}

function emailText(subscription: Subscription, event: NotifiedEvent): string {
  return [
    `${event['detail-type']} from ${event.source} at ${event.time} (event ${event.id}).`,
    '',
    JSON.stringify(event.detail, null, 2),
    '',
    `You receive this through the subscription "${subscription.name}" (${subscription.id}).`,
  ].join('\n');
}
