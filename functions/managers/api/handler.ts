import { z } from 'zod';
import { managerDeclarations } from '#infra/managers.ts';
import { NotFoundError } from '#shared/errors.ts';
import { callerOf, httpHandler, readJsonBody, requireRole } from '#shared/http.ts';
import { HistoryQuerySchema } from '#shared/managers/api-schemas.ts';
import { coordinatorOf } from '#shared/managers/clients.ts';
import { parseWith } from '#shared/validation.ts';

const PathSchema = z.strictObject({
  id: z.string().min(1).max(64).optional(),
  action: z.string().min(1).max(64).optional(),
});

const declarations = managerDeclarations();

/**
 * The coordinator API: `/api/v1/managers`, `/managers/status`, and per manager its description,
 * status, history, health, metrics, start, stop and actions. Each route is one case below.
 */
export const handler = httpHandler({ path: PathSchema }, async ({ path, event, config }) => {
  const coordinator = await coordinatorOf(config, declarations);
  const id = path.id ?? '';
  const by = callerOf(event);
  switch (event.routeKey) {
    case 'GET /api/v1/managers':
      return { managers: await coordinator.list() };
    case 'GET /api/v1/managers/status':
      return coordinator.statusAll();
    case 'GET /api/v1/managers/{id}':
      return coordinator.describe(id);
    case 'GET /api/v1/managers/{id}/status':
      return coordinator.status(id);
    case 'GET /api/v1/managers/{id}/history': {
      const { limit } = parseWith(HistoryQuerySchema, event.queryStringParameters ?? {}, 'query');
      return { managerId: coordinator.declaration(id).id, transitions: await coordinator.history(id, limit) };
    }
    case 'GET /api/v1/managers/{id}/health':
      return coordinator.health(id);
    case 'GET /api/v1/managers/{id}/metrics':
      return coordinator.metrics(id);
    case 'POST /api/v1/managers/{id}/start':
      return coordinator.start(id, by);
    case 'POST /api/v1/managers/{id}/stop':
      return coordinator.stop(id, by);
    case 'POST /api/v1/managers/{id}/actions/{action}': {
      const action = path.action ?? '';
      requireRole(event, coordinator.actionRole(id, action));
      const input = event.body ? readJsonBody(event, config.maxBodyBytes) : {};
      return { managerId: id, action, result: await coordinator.action(id, action, input, by) };
    }
    default:
      // The manifest routes nothing else here (ROUTE_ROLES refuses undeclared routes before this).
      throw new NotFoundError(`no route ${event.routeKey}`);
  }
});
