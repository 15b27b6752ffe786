import {
  type CognitoIdentityProviderClient,
  ListUsersCommand,
  ListUsersInGroupCommand,
  type UserType,
} from '@aws-sdk/client-cognito-identity-provider';
import { GROUP_ROLES, GROUPS, type Role } from '../auth/roles.ts';
import { ValidationError } from '../errors.ts';
import {
  type DirectoryUser,
  MAX_USERS_LIMIT,
  sortedRoles,
  type UserDirectory,
  type UserPage,
  type UsersQuery,
} from '../security/users.ts';
import { awsCall, awsErrorName } from './aws-errors.ts';

/**
 * The user pool's users through Cognito's ListUsers, their roles through ListUsersInGroup once per
 * platform group (GROUPS): a few calls per page whatever its size, where AdminListGroupsForUser
 * would take one call per user. The local runtime answers the same two calls (`local/cognito.ts`).
 */
export class CognitoUserDirectory implements UserDirectory {
  readonly #client: CognitoIdentityProviderClient;
  readonly #userPoolId: string;

  constructor(opts: { client: CognitoIdentityProviderClient; userPoolId: string }) {
    this.#client = opts.client;
    this.#userPoolId = opts.userPoolId;
  }

  async list(query: UsersQuery): Promise<UserPage> {
    const page = await awsCall('Cognito ListUsers', async () => {
      try {
        return await this.#client.send(
          new ListUsersCommand({
            UserPoolId: this.#userPoolId,
            Limit: query.limit,
            ...(query.cursor ? { PaginationToken: query.cursor } : {}),
          }),
        );
      } catch (err) {
        // Cognito refuses a token it did not answer with InvalidParameterException: the caller's cursor.
        if (query.cursor && awsErrorName(err) === 'InvalidParameterException') {
          throw new ValidationError('the cursor is not one this API answered', [
            { field: 'query.cursor', reason: 'not a cursor this API answered' },
          ]);
        }
        throw err;
      }
    });
    const users = page.Users ?? [];
    const roles = users.length > 0 ? await this.#rolesByUsername() : new Map<string, Role[]>();
    return {
      users: users.map((u) => userOf(u, roles.get(u.Username ?? '') ?? [])),
      ...(page.PaginationToken ? { cursor: page.PaginationToken } : {}),
    };
  }

  /** Every member of every platform group, with the roles their groups grant. */
  async #rolesByUsername(): Promise<Map<string, Role[]>> {
    const roles = new Map<string, Role[]>();
    for (const group of GROUPS) {
      let next: string | undefined;
      do {
        const out = await awsCall('Cognito ListUsersInGroup', () =>
          this.#client.send(
            new ListUsersInGroupCommand({
              UserPoolId: this.#userPoolId,
              GroupName: group,
              Limit: MAX_USERS_LIMIT,
              ...(next ? { NextToken: next } : {}),
            }),
          ),
        );
        for (const member of out.Users ?? []) {
          if (!member.Username) continue;
          roles.set(member.Username, [...(roles.get(member.Username) ?? []), GROUP_ROLES[group]]);
        }
        next = out.NextToken;
      } while (next);
    }
    return roles;
  }
}

function userOf(user: UserType, roles: readonly Role[]): DirectoryUser {
  return {
    username: user.Username ?? '',
    status: user.UserStatus ?? 'UNKNOWN',
    enabled: user.Enabled ?? true,
    ...(user.UserCreateDate ? { createdAt: user.UserCreateDate.toISOString() } : {}),
    roles: sortedRoles(roles),
  };
}
