import { createEventBus } from '#shared/adapters/index.ts';
import { EventPublisher } from '#shared/events/publisher.ts';
import { httpHandler } from '#shared/http.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import { vectorServiceWithoutEmbedder } from '#shared/vectors/clients.ts';
import { CollectionPathSchema } from '#shared/vectors/schemas.ts';

/** DELETE /api/v1/vectors/collections/{name}: CollectionDeleted (the security audit records it). */
export const handler = httpHandler({ path: CollectionPathSchema }, async ({ path, config }) => {
  const deleted = await vectorServiceWithoutEmbedder(config).deleteCollection(path.name);
  await new EventPublisher(createEventBus(config), EVENT_SOURCE).publish('CollectionDeleted', {
    collection: deleted.name,
  });
  return deleted;
});
