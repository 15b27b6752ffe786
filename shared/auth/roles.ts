import { ForbiddenError, UnauthorizedError } from '../errors.ts';

/**
 * Who may call what, in one place. A route declares the role it needs (`infra/manifest.ts`); a
 * caller's token grants roles through its Cognito groups (people) or its OAuth scopes (machine
 * clients using client credentials). The gateway (API Gateway's JWT authorizer in AWS, the local
 * gateway on a laptop) has already checked the token's signature, issuer, audience and times; the
 * HTTP wrapper then checks the role here, from the claims the gateway passed on.
 */

/** What a route needs, least to most. */
export const ROLES = ['public', 'reader', 'writer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** The user pool's groups and the role each grants. */
export const GROUP_ROLES = { readonly: 'reader', user: 'writer', admin: 'admin' } as const satisfies Record<
  string,
  Role
>;
export type Group = keyof typeof GROUP_ROLES;
export const GROUPS = Object.keys(GROUP_ROLES) as Group[];

/** The resource server's identifier: scopes are `<identifier>/<name>` in tokens. */
export const RESOURCE_SERVER = 'vector-platform';

/** The resource server's scopes (machine clients) and the role each grants. */
export const SCOPE_ROLES = { read: 'reader', write: 'writer', admin: 'admin' } as const satisfies Record<
  string,
  Role
>;
export type ScopeName = keyof typeof SCOPE_ROLES;

export const scopeOf = (name: ScopeName): string => `${RESOURCE_SERVER}/${name}`;

/** Access tokens last this long (Cognito's access token validity; the local issuer's default). */
export const ACCESS_TOKEN_SECONDS = 3600;

/**
 * The function environment variable holding, for each route the function serves, the role it
 * needs (`{"GET /api/v1/status":"reader"}`), written from the manifest in both runtimes.
 */
export const ROUTE_ROLES_ENV = 'ROUTE_ROLES';

/** The route key API Gateway gives requests no route takes. */
export const DEFAULT_ROUTE_KEY = '$default';

const RANK: Record<Role, number> = { public: 0, reader: 1, writer: 2, admin: 3 };

/** The claims as API Gateway passes them: every value a string, arrays as `[a b]`. */
export type GatewayClaims = Record<string, string | number | boolean | string[] | undefined>;

/**
 * A claim holding several values, in any form a gateway passes it: API Gateway writes arrays as
 * `[a b]`; a JSON array string, a real array or a space-separated string are read too.
 */
export function claimValues(value: GatewayClaims[string]): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.map(String);
  const text = String(value).trim();
  if (text.startsWith('[') && text.endsWith(']')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // API Gateway's `[a b]` form.
    }
    return text
      .slice(1, -1)
      .split(/[\s,]+/)
      .filter(Boolean);
  }
  return text.split(/\s+/).filter(Boolean);
}

/** The highest role the claims grant (groups and scopes together), `public` when none. */
export function grantedRole(claims: GatewayClaims): Role {
  let best: Role = 'public';
  const consider = (role: Role | undefined) => {
    if (role && RANK[role] > RANK[best]) best = role;
  };
  for (const group of claimValues(claims['cognito:groups'])) {
    consider(Object.hasOwn(GROUP_ROLES, group) ? GROUP_ROLES[group as Group] : undefined);
  }
  for (const scope of claimValues(claims.scope)) {
    const prefix = `${RESOURCE_SERVER}/`;
    if (!scope.startsWith(prefix)) continue;
    const name = scope.slice(prefix.length);
    consider(Object.hasOwn(SCOPE_ROLES, name) ? SCOPE_ROLES[name as ScopeName] : undefined);
  }
  return best;
}

/** Whether a caller granted `granted` may call a route that needs `required`. */
export function allows(granted: Role, required: Role): boolean {
  return RANK[granted] >= RANK[required];
}

/**
 * Checks a request against its route's role: nothing for a public route; 401 when a protected
 * route gets no verified claims or a token that is not an access token (an ID token also names
 * the client as its audience); 403 when the claims do not grant the role.
 */
export function authorize(required: Role, claims: GatewayClaims | undefined): void {
  if (required === 'public') return;
  if (!claims)
    throw new UnauthorizedError('a bearer token is required', [
      { field: 'authorization', reason: 'no verified token reached the function' },
    ]);
  if (claims.token_use !== undefined && claims.token_use !== 'access') {
    throw new UnauthorizedError('an access token is required', [
      { field: 'authorization', reason: `token_use is "${String(claims.token_use)}", not "access"` },
    ]);
  }
  const granted = grantedRole(claims);
  if (!allows(granted, required)) {
    throw new ForbiddenError(`this route needs the ${required} role; the token grants ${granted}`, [
      { field: 'authorization', reason: `needs role ${required} (${rolesGranting(required)})` },
    ]);
  }
}

/** `group admin or scope vector-platform/admin`, for error messages and docs. */
export function rolesGranting(required: Role): string {
  const groups = GROUPS.filter((g) => allows(GROUP_ROLES[g], required));
  const scopes = (Object.keys(SCOPE_ROLES) as ScopeName[])
    .filter((s) => allows(SCOPE_ROLES[s], required))
    .map(scopeOf);
  return `groups: ${groups.join(', ')}; scopes: ${scopes.join(', ')}`;
}
