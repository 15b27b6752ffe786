import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CognitoIdentityProviderClient,
  ListUsersCommand,
  ListUsersInGroupCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCognitoEndpoint } from '#local/cognito.ts';
import { LocalIam } from '#local/iam.ts';
import { LocalUserStore } from '#local/identity/users.ts';
import { CognitoUserDirectory } from '#shared/adapters/cognito-users.ts';
import { UpstreamError, ValidationError } from '#shared/errors.ts';
import { UsersQuerySchema } from '#shared/security/users.ts';
import { parseWith } from '#shared/validation.ts';

/**
 * The user directory: the Cognito adapter's mapping against a fake client, the query's parser,
 * the local issuer's user store, and the local Cognito endpoint through the same adapter and SDK.
 */

type Sent = ListUsersCommand | ListUsersInGroupCommand;

/** A fake client: ListUsers answers `pages` in turn, ListUsersInGroup `groups` (paged by 1 for `user`). */
function fakeClient(
  pages: Array<{ Users: unknown[]; PaginationToken?: string }>,
  groups: Record<string, string[]>,
  fail?: unknown,
) {
  const sent: Sent[] = [];
  const client = {
    send: async (command: Sent) => {
      sent.push(command);
      if (fail) throw fail;
      if (command instanceof ListUsersCommand) return pages.shift() ?? { Users: [] };
      const members = groups[command.input.GroupName ?? ''] ?? [];
      if (command.input.GroupName !== 'user') return { Users: members.map((Username) => ({ Username })) };
      // Paged one member a call: the adapter follows NextToken.
      const at = Number(command.input.NextToken ?? 0);
      return {
        Users: members.slice(at, at + 1).map((Username) => ({ Username })),
        ...(at + 1 < members.length ? { NextToken: String(at + 1) } : {}),
      };
    },
  };
  return { client: client as unknown as CognitoIdentityProviderClient, sent };
}

describe('CognitoUserDirectory', () => {
  const created = new Date('2026-03-01T10:00:00.000Z');

  it('maps users with the roles their groups grant, with one ListUsersInGroup per group (and its pages)', async () => {
    const { client, sent } = fakeClient(
      [
        {
          Users: [
            { Username: 'ada', UserStatus: 'CONFIRMED', Enabled: true, UserCreateDate: created },
            { Username: 'bob', UserStatus: 'FORCE_CHANGE_PASSWORD', Enabled: false },
            { Username: 'eve', UserStatus: 'CONFIRMED', Enabled: true },
          ],
          PaginationToken: 'next-page',
        },
      ],
      { admin: ['ada'], user: ['bob', 'ada', 'zed'], readonly: ['ada'] },
    );
    const page = await new CognitoUserDirectory({ client, userPoolId: 'eu-west-1_pool' }).list({
      limit: 3,
      cursor: 'this-page',
    });
    expect(page).toEqual({
      users: [
        {
          username: 'ada',
          status: 'CONFIRMED',
          enabled: true,
          createdAt: '2026-03-01T10:00:00.000Z',
          roles: ['reader', 'writer', 'admin'],
        },
        { username: 'bob', status: 'FORCE_CHANGE_PASSWORD', enabled: false, roles: ['writer'] },
        { username: 'eve', status: 'CONFIRMED', enabled: true, roles: [] },
      ],
      cursor: 'next-page',
    });
    const [first, ...rest] = sent;
    expect(first?.input).toEqual({ UserPoolId: 'eu-west-1_pool', Limit: 3, PaginationToken: 'this-page' });
    // readonly and admin in one call each; user's three members one a page.
    expect(rest.map((c) => [c.constructor.name, (c.input as { GroupName: string }).GroupName])).toEqual([
      ['ListUsersInGroupCommand', 'readonly'],
      ['ListUsersInGroupCommand', 'user'],
      ['ListUsersInGroupCommand', 'user'],
      ['ListUsersInGroupCommand', 'user'],
      ['ListUsersInGroupCommand', 'admin'],
    ]);
  });

  it('asks for no group when the page is empty, and answers no cursor on the last page', async () => {
    const { client, sent } = fakeClient([{ Users: [] }], {});
    expect(await new CognitoUserDirectory({ client, userPoolId: 'p' }).list({ limit: 60 })).toEqual({
      users: [],
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.input).toEqual({ UserPoolId: 'p', Limit: 60 });
  });

  it('refuses a cursor Cognito refuses as the caller’s (400 naming query.cursor); other failures are 502', async () => {
    const invalid = Object.assign(new Error('Invalid pagination token'), {
      name: 'InvalidParameterException',
      $metadata: { httpStatusCode: 400 },
    });
    const directory = (fail: unknown) =>
      new CognitoUserDirectory({ client: fakeClient([], {}, fail).client, userPoolId: 'p' });
    const refused = await directory(invalid)
      .list({ limit: 10, cursor: 'forged' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues).toEqual([
      { field: 'query.cursor', reason: 'not a cursor this API answered' },
    ]);
    const denied = Object.assign(new Error('not authorized'), {
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(directory(denied).list({ limit: 10 })).rejects.toBeInstanceOf(UpstreamError);
    await expect(directory(invalid).list({ limit: 10 })).rejects.toBeInstanceOf(UpstreamError);
  });
});

describe('UsersQuerySchema', () => {
  it('takes a limit of 1 to 60 (default 60) and any non-empty cursor', () => {
    expect(parseWith(UsersQuerySchema, {}, 'query')).toEqual({ limit: 60 });
    expect(parseWith(UsersQuerySchema, { limit: '5', cursor: 'abc' }, 'query')).toEqual({
      limit: 5,
      cursor: 'abc',
    });
  });

  it('refuses any other limit, an empty cursor and unknown fields, naming the field', () => {
    const fieldOf = (query: Record<string, string>) => {
      try {
        parseWith(UsersQuerySchema, query, 'query');
        return undefined;
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return (err as ValidationError).issues[0]?.field;
      }
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc
            .integer()
            .filter((n) => n < 1 || n > 60)
            .map(String),
          fc
            .double({ noNaN: true })
            .filter((n) => !Number.isInteger(n))
            .map(String),
          fc.string().filter((s) => s.trim() === '' || Number.isNaN(Number(s))),
        ),
        (limit) => fieldOf({ limit }) === 'query.limit',
      ),
    );
    expect(fieldOf({ cursor: '' })).toBe('query.cursor');
    expect(fieldOf({ role: 'admin' })).toBeDefined();
  });
});

describe('the local user store and Cognito endpoint', () => {
  let dir: string;
  let store: LocalUserStore;
  const iam = new LocalIam();
  const region = 'us-east-1';
  let endpoint: Awaited<ReturnType<typeof startCognitoEndpoint>>;
  const clientOf = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
    new CognitoIdentityProviderClient({ region, endpoint: endpoint.url, credentials });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'users-'));
    store = new LocalUserStore(join(dir, 'users'));
    endpoint = await startCognitoEndpoint({ iam, region, users: store });
  });
  afterAll(async () => {
    await endpoint.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records each person once, keeping when they were first given a token and their latest groups', async () => {
    expect(await store.list()).toEqual([]);
    await store.record('local/admin', ['admin'], new Date('2026-01-01T00:00:00Z'));
    await store.record('ada', ['user'], new Date('2026-01-02T00:00:00Z'));
    await store.record('ada', ['readonly', 'readonly'], new Date('2026-01-03T00:00:00Z'));
    expect(await store.list()).toEqual([
      {
        username: 'ada',
        groups: ['readonly'],
        firstIssuedAt: '2026-01-02T00:00:00.000Z',
        lastIssuedAt: '2026-01-03T00:00:00.000Z',
      },
      {
        username: 'local/admin',
        groups: ['admin'],
        firstIssuedAt: '2026-01-01T00:00:00.000Z',
        lastIssuedAt: '2026-01-01T00:00:00.000Z',
      },
    ]);
    // One file each, no temporary file left behind.
    expect((await readdir(join(dir, 'users'))).every((f) => /^[\w-]+\.json$/.test(f))).toBe(true);
  });

  it('answers the adapter through the SDK, page by page, with the roles of the latest tokens', async () => {
    const fn = iam.register('securityAudit', [
      {
        actions: ['cognito-idp:ListUsers', 'cognito-idp:ListUsersInGroup'],
        resources: [endpoint.userPoolArn],
      },
    ]);
    const directory = new CognitoUserDirectory({ client: clientOf(fn), userPoolId: endpoint.userPoolId });
    const first = await directory.list({ limit: 1 });
    expect(first.users).toEqual([
      {
        username: 'ada',
        status: 'CONFIRMED',
        enabled: true,
        createdAt: '2026-01-02T00:00:00.000Z',
        roles: ['reader'],
      },
    ]);
    expect(first.cursor).toBeDefined();
    const second = await directory.list({ limit: 1, cursor: first.cursor! });
    expect(second).toEqual({
      users: [
        {
          username: 'local/admin',
          status: 'CONFIRMED',
          enabled: true,
          createdAt: '2026-01-01T00:00:00.000Z',
          roles: ['admin'],
        },
      ],
    });
    const forged = await directory.list({ limit: 1, cursor: 'not base64 !' }).catch((e: unknown) => e);
    expect(forged).toBeInstanceOf(ValidationError);
  });

  it('refuses a caller without the grant, or with it on another pool', async () => {
    const none = iam.register('other', []);
    const listOnly = iam.register('listOnly', [
      { actions: ['cognito-idp:ListUsers'], resources: [endpoint.userPoolArn] },
    ]);
    const elsewhere = iam.register('elsewhere', [
      {
        actions: ['cognito-idp:ListUsers', 'cognito-idp:ListUsersInGroup'],
        resources: ['arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_other'],
      },
    ]);
    const list = (c: { accessKeyId: string; secretAccessKey: string }) =>
      clientOf(c).send(new ListUsersCommand({ UserPoolId: endpoint.userPoolId }));
    await expect(list(none)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(list(elsewhere)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(list(listOnly)).resolves.toMatchObject({ Users: expect.any(Array) });
    await expect(
      clientOf(listOnly).send(
        new ListUsersInGroupCommand({ UserPoolId: endpoint.userPoolId, GroupName: 'admin' }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    const fn = iam.register('granted', [
      {
        actions: ['cognito-idp:ListUsers', 'cognito-idp:ListUsersInGroup'],
        resources: [endpoint.userPoolArn],
      },
    ]);
    await expect(
      clientOf(fn).send(new ListUsersCommand({ UserPoolId: 'us-east-1_other' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(
      clientOf(fn).send(new ListUsersInGroupCommand({ UserPoolId: endpoint.userPoolId, GroupName: 'root' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(
      clientOf(fn).send(new ListUsersCommand({ UserPoolId: endpoint.userPoolId, Limit: 61 })),
    ).rejects.toMatchObject({ name: 'InvalidParameterException' });
  });
});
