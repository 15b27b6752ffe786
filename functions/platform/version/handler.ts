import { httpHandler } from '#shared/http.ts';
import { versionInfo } from '#shared/platform/version.ts';

/** GET /api/v1/version: service, version, stage and embedding model, from the environment only. */
export const handler = httpHandler({ config: false }, async () => versionInfo());
