import { createStateStore } from '#shared/adapters/index.ts';
import { EventLog, EventQuerySchema } from '#shared/events/log.ts';
import { httpHandler } from '#shared/http.ts';

/** GET /api/v1/events?type=&source=&since=&limit=: the event log, newest first. */
export const handler = httpHandler({ query: EventQuerySchema }, async ({ query, config }) =>
  new EventLog(() => createStateStore(config)).list(query),
);
