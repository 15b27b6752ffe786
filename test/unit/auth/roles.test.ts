import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allows,
  authorize,
  claimValues,
  GROUP_ROLES,
  GROUPS,
  grantedRole,
  ROLES,
  type Role,
  SCOPE_ROLES,
  scopeOf,
} from '#shared/auth/roles.ts';
import { ForbiddenError, UnauthorizedError } from '#shared/errors.ts';

describe('roles', () => {
  it('reads a multi-valued claim in every form a gateway passes it (property)', () => {
    const word = fc.stringMatching(/^[a-z][a-z0-9_-]{0,12}$/);
    fc.assert(
      fc.property(fc.array(word, { maxLength: 5 }), (values) => {
        expect(claimValues(`[${values.join(' ')}]`)).toEqual(values); // API Gateway's form
        expect(claimValues(JSON.stringify(values))).toEqual(values);
        expect(claimValues(values)).toEqual(values);
        expect(claimValues(values.join(' '))).toEqual(values); // the `scope` claim
      }),
    );
    expect(claimValues(undefined)).toEqual([]);
  });

  it('groups and scopes grant their declared role; the highest wins; unknown ones grant nothing', () => {
    for (const group of GROUPS)
      expect(grantedRole({ 'cognito:groups': `[${group}]` })).toBe(GROUP_ROLES[group]);
    for (const [name, role] of Object.entries(SCOPE_ROLES)) {
      expect(grantedRole({ scope: scopeOf(name as keyof typeof SCOPE_ROLES) })).toBe(role);
    }
    expect(grantedRole({ 'cognito:groups': '[readonly admin]' })).toBe('admin');
    expect(grantedRole({ 'cognito:groups': '[readonly]', scope: 'vector-platform/write' })).toBe('writer');
    expect(grantedRole({ 'cognito:groups': '[root __proto__ constructor]' })).toBe('public');
    expect(grantedRole({ scope: 'other-server/admin admin aws.cognito.signin.user.admin' })).toBe('public');
  });

  it('each role allows exactly the routes of its rank and below', () => {
    const rank = (r: Role) => ROLES.indexOf(r);
    for (const granted of ROLES) {
      for (const required of ROLES) expect(allows(granted, required)).toBe(rank(granted) >= rank(required));
    }
  });

  it('authorize: public needs nothing; no claims → 401; not an access token → 401; too low a role → 403', () => {
    expect(() => authorize('public', undefined)).not.toThrow();
    expect(() => authorize('reader', undefined)).toThrow(UnauthorizedError);
    expect(() => authorize('reader', { 'cognito:groups': '[admin]', token_use: 'id' })).toThrow(
      /an access token is required/,
    );
    expect(() => authorize('admin', { 'cognito:groups': '[user]', token_use: 'access' })).toThrow(
      ForbiddenError,
    );
    expect(() => authorize('writer', { 'cognito:groups': '[user]', token_use: 'access' })).not.toThrow();
    expect(() => authorize('reader', { scope: 'vector-platform/read' })).not.toThrow();
    const refusal = (() => {
      try {
        authorize('admin', { 'cognito:groups': '[readonly]' });
      } catch (err) {
        return err;
      }
    })();
    expect(refusal).toBeInstanceOf(ForbiddenError);
    expect((refusal as ForbiddenError).issues[0]).toEqual({
      field: 'authorization',
      reason: 'needs role admin (groups: admin; scopes: vector-platform/admin)',
    });
  });
});
