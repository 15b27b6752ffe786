import { httpHandler } from '#shared/http.ts';

/** GET /api/v1/health: liveness. Touches no dependency and loads no configuration. */
export const handler = httpHandler({ config: false }, async () => ({ status: 'ok' }));
