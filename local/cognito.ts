import { z } from 'zod';
import { GROUPS } from '../shared/auth/roles.ts';
import { AwsJsonError, awsJsonServer } from './aws-json.ts';
import { JSON_DENIALS, LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import type { LocalUser, LocalUserStore } from './identity/users.ts';
import { closeNow, listen } from './listen.ts';

/**
 * Local Cognito user pool: `ListUsers` and `ListUsersInGroup` over the people the local issuer
 * gave tokens to (`identity/users.ts`), in the protocol `@aws-sdk/client-cognito-identity-provider`
 * speaks (AWS JSON 1.1, target `AWSCognitoIdentityProviderService`), allowed by the caller's
 * grants (`cognito-idp:<Action>` on the pool's ARN). The same SDK calls as in AWS, so the user
 * directory adapter runs unchanged. Users are listed by username; a page's token is the last
 * username answered (Cognito's are opaque too). A user's groups are those of their latest token.
 */

export const COGNITO_TARGET = 'AWSCognitoIdentityProviderService';
const MAX_REQUEST_BYTES = 64 * 1024;
/** Cognito's ListUsers and ListUsersInGroup answer at most 60 users a call. */
const MAX_LIMIT = 60;

/** The local pool's id, shaped as Cognito's (`<region>_<id>`). */
export function localUserPoolId(region: string): string {
  return `${region}_local`;
}

export function localUserPoolArn(region: string): string {
  return `arn:aws:cognito-idp:${region}:${LOCAL_ACCOUNT_ID}:userpool/${localUserPoolId(region)}`;
}

const ListSchema = z.object({
  UserPoolId: z.string().min(1),
  Limit: z.int().min(0).max(MAX_LIMIT).optional(),
  PaginationToken: z.string().optional(),
  GroupName: z.string().optional(),
  NextToken: z.string().optional(),
});

function invalid(message: string): AwsJsonError {
  return new AwsJsonError('InvalidParameterException', message);
}

/** A page of `users` after the token's username, and the next token when more follow. */
function page(users: LocalUser[], token: string | undefined, limit: number | undefined) {
  let after: string | undefined;
  if (token !== undefined) {
    after = Buffer.from(token, 'base64url').toString('utf8');
    if (token === '' || Buffer.from(after, 'utf8').toString('base64url') !== token) {
      throw invalid('Invalid pagination token.');
    }
  }
  const rest = after === undefined ? users : users.filter((u) => u.username > after);
  // Limit 0 or absent: Cognito's default page of 60.
  const size = limit || MAX_LIMIT;
  const answered = rest.slice(0, size);
  const last = answered.at(-1);
  return {
    users: answered.map(userType),
    next: rest.length > size && last ? Buffer.from(last.username, 'utf8').toString('base64url') : undefined,
  };
}

/** Cognito's UserType, timestamps as epoch seconds (AWS JSON). */
function userType(user: LocalUser) {
  return {
    Username: user.username,
    Attributes: [{ Name: 'sub', Value: user.username }],
    UserCreateDate: Date.parse(user.firstIssuedAt) / 1000,
    UserLastModifiedDate: Date.parse(user.lastIssuedAt) / 1000,
    Enabled: true,
    UserStatus: 'CONFIRMED',
  };
}

export async function startCognitoEndpoint(opts: {
  iam: LocalIam;
  region: string;
  users: LocalUserStore;
  host?: string;
  port?: number;
}): Promise<{ url: string; userPoolId: string; userPoolArn: string; close(): Promise<void> }> {
  const userPoolId = localUserPoolId(opts.region);
  const userPoolArn = localUserPoolArn(opts.region);
  const server = awsJsonServer({
    maxRequestBytes: MAX_REQUEST_BYTES,
    dispatch: async (target, body, req, raw) => {
      const [service, operation] = target.split('.', 2);
      if (service !== COGNITO_TARGET || (operation !== 'ListUsers' && operation !== 'ListUsersInGroup')) {
        throw new AwsJsonError(
          'UnknownOperationException',
          `The local Cognito answers ${COGNITO_TARGET}.ListUsers and .ListUsersInGroup only, not ${target}`,
        );
      }
      const request = { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body: raw };
      const denial = await opts.iam.authorize(request, `cognito-idp:${operation}`, userPoolArn);
      if (denial) throw new AwsJsonError(JSON_DENIALS[denial.reason], denial.message, 403);
      const parsed = ListSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw invalid(`1 validation error detected: ${issue?.path.join('.')}: ${issue?.message}`);
      }
      const input = parsed.data;
      if (input.UserPoolId !== userPoolId) {
        throw new AwsJsonError('ResourceNotFoundException', `User pool ${input.UserPoolId} does not exist.`);
      }
      const all = await opts.users.list();
      if (operation === 'ListUsers') {
        const { users, next } = page(all, input.PaginationToken, input.Limit);
        return { Users: users, ...(next ? { PaginationToken: next } : {}) };
      }
      const group = input.GroupName ?? '';
      if (!(GROUPS as readonly string[]).includes(group)) {
        throw new AwsJsonError('ResourceNotFoundException', 'Group not found.');
      }
      const members = all.filter((u) => u.groups.includes(group));
      const { users, next } = page(members, input.NextToken, input.Limit);
      return { Users: users, ...(next ? { NextToken: next } : {}) };
    },
  });
  return {
    url: await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0),
    userPoolId,
    userPoolArn,
    close: () => closeNow(server),
  };
}
