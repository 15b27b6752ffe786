import { createEventBus } from '../../adapters/index.ts';
import { EventPublisher } from '../../events/publisher.ts';
import { EVENT_SOURCE } from '../../migrations/settings.ts';
import { deliveryLog, notificationService, subscriptionStore } from '../../notifications/clients.ts';
import { DELIVERY_STATUSES } from '../../notifications/model.ts';
import type { NotifyInput } from '../../notifications/notice.ts';
import { check, type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';

/** The most recent notifications the figures look at. */
const DELIVERIES_SCANNED = 1_000;

/**
 * Notifications: subscriptions, deliveries in the window by status, failures; `test` sends a
 * sample, `notify` publishes an OperatorNotice (delivered as any event, by the matcher).
 */
export const notifications: ManagerImplementation<'notifications'> = {
  async checks(ctx) {
    const since = Date.now() - ctx.config.windowMinutes * 60_000;
    return Promise.all([
      stateStoreCheck(ctx.app),
      check('recent-failures', async () => {
        const failed = (
          await deliveryLog(ctx.app).list({ status: 'failed', limit: DELIVERIES_SCANNED })
        ).filter((d) => Date.parse(d.updatedAt) >= since).length;
        const detail = `${failed} notifications given up in the last ${ctx.config.windowMinutes} min`;
        return failed >= ctx.config.degradedAfterFailures ? { status: 'degraded', detail } : { detail };
      }),
    ]);
  },

  async gauges(ctx) {
    const since = Date.now() - ctx.config.windowMinutes * 60_000;
    const [subscriptions, deliveries] = await Promise.all([
      subscriptionStore(ctx.app).list(),
      deliveryLog(ctx.app).list({ limit: DELIVERIES_SCANNED }),
    ]);
    const recent = deliveries.filter((d) => Date.parse(d.updatedAt) >= since);
    const latencies = recent.flatMap((d) =>
      d.status === 'delivered' && d.latencyMs !== undefined ? [d.latencyMs] : [],
    );
    return [
      {
        name: 'notifications_subscriptions',
        help: 'Subscriptions, enabled or not',
        value: subscriptions.length,
      },
      ...DELIVERY_STATUSES.map((status) => ({
        name: 'notifications_deliveries',
        help: 'Notifications updated in the window, by status',
        value: recent.filter((d) => d.status === status).length,
        labels: { status },
      })),
      {
        name: 'notifications_slowest_delivery_seconds',
        help: 'The slowest successful attempt in the window',
        value: latencies.length > 0 ? Math.max(...latencies) / 1000 : 0,
      },
    ];
  },

  actions: {
    async test(input: { subscriptionId: string }, ctx) {
      return notificationService(ctx.app).test(input.subscriptionId);
    },
    async notify(input: NotifyInput, ctx, by) {
      // The bus answers no event id through its port: the delivery log names the event it delivered.
      await new EventPublisher(createEventBus(ctx.app), EVENT_SOURCE).publish('OperatorNotice', {
        ...input,
        by,
      });
      return { published: true };
    },
  },
};
