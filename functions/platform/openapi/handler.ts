import { httpHandler } from '#shared/http.ts';
import document from '../../../docs/openapi.json' with { type: 'json' };

/**
 * GET /api/v1/openapi.json: the committed document (`npm run openapi`), imported as JSON so that
 * the bundle carries it. Public, granted nothing, loads no configuration.
 */
export const handler = httpHandler({ config: false }, async () => document);
