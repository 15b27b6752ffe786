import { z } from 'zod';
import { createEventBus, createStateStore } from '#shared/adapters/index.ts';
import { NotFoundError } from '#shared/errors.ts';
import { EventPublisher } from '#shared/events/publisher.ts';
import { callerOf, HttpResult, httpHandler, readJsonBody } from '#shared/http.ts';
import { ConfigBodySchema, VersionsQuerySchema } from '#shared/managers/api-schemas.ts';
import { ConfigStore, cachedConfig, publishConfigChanged } from '#shared/managers/config-store.ts';
import { ManagerIdSchema } from '#shared/managers/specs.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import { parseWith } from '#shared/validation.ts';

const PathSchema = z.strictObject({ id: z.string().min(1).max(64) });

/**
 * A manager's configuration: GET it (defaults at version 0), PUT a new one (validated by that
 * manager's schema, stored as a new version, ConfigChanged published), GET its versions.
 */
export const handler = httpHandler({ path: PathSchema }, async ({ path, event, config }) => {
  const parsed = ManagerIdSchema.safeParse(path.id);
  if (!parsed.success) {
    throw new NotFoundError(`no manager "${path.id}"`, [
      { field: 'id', reason: `must be one of: ${ManagerIdSchema.options.join(', ')}` },
    ]);
  }
  const id = parsed.data;
  const store = new ConfigStore(() => createStateStore(config));
  switch (event.routeKey) {
    case 'PUT /api/v1/managers/{id}/config': {
      const request = parseWith(ConfigBodySchema, readJsonBody(event, config.maxBodyBytes), '');
      const { historyLimit } = await cachedConfig('config', () => store);
      const version = await store.replace(id, request.config, callerOf(event), {
        historyLimit,
        ...(request.expectedVersion !== undefined ? { expectedVersion: request.expectedVersion } : {}),
      });
      await publishConfigChanged(new EventPublisher(createEventBus(config), EVENT_SOURCE), version);
      return new HttpResult(200, version);
    }
    case 'GET /api/v1/managers/{id}/config/versions': {
      const { limit } = parseWith(VersionsQuerySchema, event.queryStringParameters ?? {}, 'query');
      return { managerId: id, versions: await store.versions(id, limit) };
    }
    default:
      return store.current(id);
  }
});
