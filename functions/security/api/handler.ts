import { httpHandler } from '#shared/http.ts';
import { securityService } from '#shared/security/clients.ts';
import { AuditQuerySchema } from '#shared/security/model.ts';

/** GET /api/v1/security/audit?kind=&actor=&since=&until=&limit=&cursor= (admin): newest first. */
export const handler = httpHandler({ query: AuditQuerySchema }, async ({ query, config }) =>
  securityService(config).audit(query),
);
