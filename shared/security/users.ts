import { z } from 'zod';
import { ROLES, type Role } from '../auth/roles.ts';

/**
 * The people of the identity provider as the security manager lists them: Cognito's user pool in
 * AWS, the local issuer's users locally (both through the same adapter, `shared/adapters/cognito-users.ts`).
 */

/** Cognito's ListUsers answers at most 60 users a call. */
export const MAX_USERS_LIMIT = 60;

export const UsersQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_USERS_LIMIT).default(MAX_USERS_LIMIT),
  /** Cognito's pagination token, passed through as it was answered. */
  cursor: z.string().min(1).max(4096).optional(),
});
export type UsersQuery = z.output<typeof UsersQuerySchema>;

export const DirectoryUserSchema = z.strictObject({
  username: z.string(),
  /** Cognito's UserStatus: CONFIRMED, UNCONFIRMED, FORCE_CHANGE_PASSWORD, EXTERNAL_PROVIDER… */
  status: z.string(),
  enabled: z.boolean(),
  createdAt: z.iso.datetime().optional(),
  /** The roles the user's platform groups grant (`shared/auth/roles.ts` GROUP_ROLES), least first. */
  roles: z.array(z.enum(ROLES)),
});
export type DirectoryUser = z.infer<typeof DirectoryUserSchema>;

export const UserPageSchema = z.strictObject({
  users: z.array(DirectoryUserSchema),
  /** Present when more users follow: pass it as `cursor` for the next page. */
  cursor: z.string().optional(),
});
export type UserPage = z.infer<typeof UserPageSchema>;

/** The port: one page of the directory's users with their roles. */
export interface UserDirectory {
  list(query: UsersQuery): Promise<UserPage>;
}

/** Roles in ROLES order, each once. */
export function sortedRoles(roles: Iterable<Role>): Role[] {
  const set = new Set(roles);
  return ROLES.filter((r) => set.has(r));
}
