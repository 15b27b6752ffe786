import { NotFoundError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http.ts';
import { securityService } from '#shared/security/clients.ts';
import { AuditQuerySchema } from '#shared/security/model.ts';
import { UsersQuerySchema } from '#shared/security/users.ts';
import { parseWith } from '#shared/validation.ts';

/** The security manager's routes under `/api/v1/security` (admin). Each route is one case. */
export const handler = httpHandler({}, async ({ event, config }) => {
  const security = securityService(config);
  const query = event.queryStringParameters ?? {};
  switch (event.routeKey) {
    // ?kind=&actor=&since=&until=&limit=&cursor=: newest first.
    case 'GET /api/v1/security/audit':
      return security.audit(parseWith(AuditQuerySchema, query, 'query'));
    // ?limit=&cursor=: the identity provider's users with their roles.
    case 'GET /api/v1/security/users':
      return security.users(parseWith(UsersQuerySchema, query, 'query'));
    default:
      // The manifest routes nothing else here (ROUTE_ROLES refuses undeclared routes before this).
      throw new NotFoundError(`no route ${event.routeKey}`);
  }
});
