import { NotFoundError } from '#shared/errors.ts';
import { HttpResult, httpHandler, readJsonBody } from '#shared/http.ts';
import { deliveryLog, subscriptionStore } from '#shared/notifications/clients.ts';
import {
  DeliveryQuerySchema,
  SubscriptionInputSchema,
  SubscriptionPathSchema,
} from '#shared/notifications/model.ts';
import { parseWith } from '#shared/validation.ts';

/**
 * Subscriptions (create, list, read, replace, delete) and the delivery log, under
 * `/api/v1/notifications`. Each route is one case below.
 */
export const handler = httpHandler({ path: SubscriptionPathSchema }, async ({ path, event, config }) => {
  const subscriptions = subscriptionStore(config);
  const id = path.id ?? '';
  const input = () => parseWith(SubscriptionInputSchema, readJsonBody(event, config.maxBodyBytes), '');
  switch (event.routeKey) {
    case 'GET /api/v1/notifications/subscriptions':
      return { subscriptions: await subscriptions.list() };
    case 'POST /api/v1/notifications/subscriptions':
      return new HttpResult(201, await subscriptions.create(input()));
    case 'GET /api/v1/notifications/subscriptions/{id}':
      return { subscription: await subscriptions.get(id) };
    case 'PUT /api/v1/notifications/subscriptions/{id}':
      return subscriptions.replace(id, input());
    case 'DELETE /api/v1/notifications/subscriptions/{id}':
      await subscriptions.delete(id);
      return new HttpResult(204, undefined);
    case 'GET /api/v1/notifications/deliveries': {
      const query = parseWith(DeliveryQuerySchema, event.queryStringParameters ?? {}, 'query');
      return { deliveries: await deliveryLog(config).list(query) };
    }
    default:
      // The manifest routes nothing else here (ROUTE_ROLES refuses undeclared routes before this).
      throw new NotFoundError(`no route ${event.routeKey}`);
  }
});
