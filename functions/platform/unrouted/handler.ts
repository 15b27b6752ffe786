import { manifest } from '#infra/manifest.ts';
import { httpHandler } from '#shared/http.ts';
import { compileRoutes, unroutedError } from '#shared/routes.ts';

/**
 * The API's `$default` route: a request no route takes gets a 404, or a 405 with `Allow` when the
 * path is routed for other methods, in the API's error shape. The route table is the manifest's,
 * the one the gateway was built from (a few KB of data in the bundle).
 */
const table = compileRoutes(manifest.routes);

export const handler = httpHandler({ config: false }, async ({ event }) => {
  throw unroutedError(table, event.requestContext.http.method, event.rawPath);
});
