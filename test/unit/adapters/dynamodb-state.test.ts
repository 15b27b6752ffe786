import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  type QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { DynamoStateStore } from '#shared/adapters/dynamodb-state.ts';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { createStateStore } from '#shared/adapters/index.ts';
import type { Config } from '#shared/config.ts';
import { ConflictError, UpstreamError, ValidationError } from '#shared/errors.ts';

/** The DynamoDB StateStore's requests, checked against an injected fake document client. */

type Command = GetCommand | UpdateCommand | QueryCommand | DeleteCommand;

function fakeClient(answer: (command: Command) => unknown) {
  const send = vi.fn(async (command: Command) => answer(command));
  return { client: { send } as unknown as DynamoDBDocumentClient, send };
}

function awsError(name: string, status: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} message with https://dynamodb.internal`), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    ...extra,
  });
}

const TABLE = 'platform-state';

describe('DynamoStateStore', () => {
  it('gets with a consistent read on pk + sk', async () => {
    const { client, send } = fakeClient(() => ({
      Item: { pk: 'jobs', sk: 'j1', value: { n: 1 }, version: 3, updatedAt: '2026-01-01T00:00:00.000Z' },
    }));
    const store = new DynamoStateStore({ client, table: TABLE });
    expect(await store.get('jobs', 'j1')).toEqual({
      value: { n: 1 },
      version: 3,
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    const command = send.mock.calls[0]![0];
    expect(command).toBeInstanceOf(GetCommand);
    expect(command.input).toEqual({ TableName: TABLE, Key: { pk: 'jobs', sk: 'j1' }, ConsistentRead: true });
  });

  it('answers undefined for an absent item', async () => {
    const store = new DynamoStateStore({ client: fakeClient(() => ({})).client, table: TABLE });
    expect(await store.get('jobs', 'nope')).toBeUndefined();
  });

  it('puts with an update that sets value and time and lets DynamoDB increment the version', async () => {
    const { client, send } = fakeClient(() => ({
      Attributes: { pk: 'p', sk: 's', value: 'v', version: 1, updatedAt: 'T' },
    }));
    const store = new DynamoStateStore({ client, table: TABLE });
    expect(await store.put('p', 's', 'v')).toEqual({ value: 'v', version: 1, updatedAt: 'T' });
    const command = send.mock.calls[0]![0];
    expect(command).toBeInstanceOf(UpdateCommand);
    expect(command.input).toEqual({
      TableName: TABLE,
      Key: { pk: 'p', sk: 's' },
      UpdateExpression: 'SET #value = :value, #updatedAt = :now ADD #version :one',
      ExpressionAttributeNames: { '#value': 'value', '#updatedAt': 'updatedAt', '#version': 'version' },
      ExpressionAttributeValues: { ':value': 'v', ':now': expect.any(String), ':one': 1 },
      ReturnValues: 'ALL_NEW',
    });
  });

  it('turns expectedVersion into a condition: absent for 0, equal version otherwise', async () => {
    const { client, send } = fakeClient(() => ({ Attributes: { value: 1, version: 1, updatedAt: 'T' } }));
    const store = new DynamoStateStore({ client, table: TABLE });
    await store.put('p', 's', 1, { expectedVersion: 0 });
    await store.put('p', 's', 1, { expectedVersion: 4 });
    const [absent, equal] = send.mock.calls.map(([c]) => c.input as UpdateCommand['input']);
    expect(absent).toMatchObject({
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(absent!.ExpressionAttributeValues).not.toHaveProperty(':expected');
    expect(equal).toMatchObject({ ConditionExpression: '#version = :expected' });
    expect(equal!.ExpressionAttributeValues).toMatchObject({ ':expected': 4 });
  });

  it('maps a failed condition to ConflictError naming the versions', async () => {
    const { client } = fakeClient(() => {
      throw awsError('ConditionalCheckFailedException', 400, { Item: { version: { N: '7' } } });
    });
    const store = new DynamoStateStore({ client, table: TABLE });
    const err = await store.put('jobs', 'j1', 1, { expectedVersion: 6 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe('state jobs/j1: expected version 6, found 7');
  });

  it('lists with a key condition (begins_with for a prefix), following pages up to the limit', async () => {
    const pages = [
      {
        Items: [{ sk: 'chunk#1', value: 1, version: 1, updatedAt: 'T' }],
        LastEvaluatedKey: { pk: 'j', sk: 'chunk#1' },
      },
      {
        Items: [{ sk: 'chunk#2', value: 2, version: 1, updatedAt: 'T' }],
        LastEvaluatedKey: { pk: 'j', sk: 'chunk#2' },
      },
    ];
    const { client, send } = fakeClient(() => pages.shift());
    const store = new DynamoStateStore({ client, table: TABLE });
    const items = await store.list('j', { prefix: 'chunk#', limit: 2 });
    expect(items).toEqual([
      { sk: 'chunk#1', value: 1, version: 1, updatedAt: 'T' },
      { sk: 'chunk#2', value: 2, version: 1, updatedAt: 'T' },
    ]);
    const [first, second] = send.mock.calls.map(([c]) => c.input as QueryCommand['input']);
    expect(first).toEqual({
      TableName: TABLE,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': 'j', ':prefix': 'chunk#' },
      ScanIndexForward: true,
      ConsistentRead: true,
      Limit: 2,
    });
    // The second page asks only for what is still missing, from where the first ended.
    expect(second).toMatchObject({ Limit: 1, ExclusiveStartKey: { pk: 'j', sk: 'chunk#1' } });
    // The limit is reached: no third page is requested although the last one had a next key.
    expect(send).toHaveBeenCalledTimes(2);
  });

  it('lists newest first on request, skips expired items (TTL deletes them later) and pages past them', async () => {
    const past = Math.floor(Date.now() / 1000) - 10;
    const future = Math.floor(Date.now() / 1000) + 3600;
    const pages = [
      {
        Items: [
          { sk: 'e#3', value: 3, version: 1, updatedAt: 'T', expiresAt: future },
          { sk: 'e#2', value: 2, version: 1, updatedAt: 'T', expiresAt: past },
        ],
        LastEvaluatedKey: { pk: 'j', sk: 'e#2' },
      },
      { Items: [{ sk: 'e#1', value: 1, version: 1, updatedAt: 'T' }] },
    ];
    const { client, send } = fakeClient(() => pages.shift());
    const items = await new DynamoStateStore({ client, table: TABLE }).list('j', { reverse: true, limit: 2 });
    expect(items.map((i) => i.sk)).toEqual(['e#3', 'e#1']);
    expect(send.mock.calls[0]![0].input).toMatchObject({ ScanIndexForward: false, Limit: 2 });
    expect(send.mock.calls[1]![0].input).toMatchObject({
      Limit: 1,
      ExclusiveStartKey: { pk: 'j', sk: 'e#2' },
    });
  });

  it('writes expiresAt (the TTL attribute) when given, and reads an expired item as absent', async () => {
    const { client, send } = fakeClient((command) =>
      command instanceof UpdateCommand
        ? { Attributes: { value: 1, version: 1, updatedAt: 'T', expiresAt: 2_000_000_000 } }
        : { Item: { pk: 'p', sk: 's', value: 1, version: 1, updatedAt: 'T', expiresAt: 1_000_000_000 } },
    );
    const store = new DynamoStateStore({ client, table: TABLE });
    await store.put('p', 's', 1, { expiresAt: 2_000_000_000 });
    const update = send.mock.calls[0]![0].input as UpdateCommand['input'];
    expect(update.UpdateExpression).toBe(
      'SET #value = :value, #updatedAt = :now, #expiresAt = :expiresAt ADD #version :one',
    );
    expect(update.ExpressionAttributeNames).toMatchObject({ '#expiresAt': 'expiresAt' });
    expect(update.ExpressionAttributeValues).toMatchObject({ ':expiresAt': 2_000_000_000 });
    expect(await store.get('p', 's')).toBeUndefined();
    await expect(store.put('p', 's', 1, { expiresAt: 1.5 })).rejects.toThrow(ValidationError);
  });

  it('lists a whole partition without a prefix or limit', async () => {
    const { client, send } = fakeClient(() => ({ Items: [] }));
    await new DynamoStateStore({ client, table: TABLE }).list('j');
    expect(send.mock.calls[0]![0].input).toEqual({
      TableName: TABLE,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': 'j' },
      ScanIndexForward: true,
      ConsistentRead: true,
    });
  });

  it('deletes by key, and pings with a read of a reserved key', async () => {
    const { client, send } = fakeClient(() => ({}));
    const store = new DynamoStateStore({ client, table: TABLE });
    await store.delete('p', 's');
    await store.ping();
    expect(send.mock.calls[0]![0]).toBeInstanceOf(DeleteCommand);
    expect(send.mock.calls[0]![0].input).toEqual({ TableName: TABLE, Key: { pk: 'p', sk: 's' } });
    expect(send.mock.calls[1]![0]).toBeInstanceOf(GetCommand);
    expect(send.mock.calls[1]![0].input).toEqual({
      TableName: TABLE,
      Key: { pk: '__ping__', sk: '__ping__' },
    });
  });

  it('maps other failures to UpstreamError (retryable when throttled) without the SDK message', async () => {
    const throttled = fakeClient(() => {
      throw awsError('ProvisionedThroughputExceededException', 400);
    });
    const err = await new DynamoStateStore({ client: throttled.client, table: TABLE })
      .get('p', 's')
      .catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({
      retryable: true,
      message: 'DynamoDB GetItem failed: ProvisionedThroughputExceededException (HTTP 400)',
    });
    const denied = fakeClient(() => {
      throw awsError('AccessDeniedException', 400);
    });
    const err2 = await new DynamoStateStore({ client: denied.client, table: TABLE }).ping().catch((e) => e);
    expect(err2).toMatchObject({ retryable: false });
  });

  it('validates keys before any request', async () => {
    const { client, send } = fakeClient(() => ({}));
    const store = new DynamoStateStore({ client, table: TABLE });
    await expect(store.put('p', '', 1)).rejects.toThrow(ValidationError);
    await expect(store.list('', {})).rejects.toMatchObject({ issues: [{ field: 'pk' }] });
    expect(send).not.toHaveBeenCalled();
  });
});

describe('createStateStore', () => {
  it('chooses DynamoDB for STATE_TABLE, files when the local runtime also sets STATE_DIR, and refuses neither', () => {
    vi.stubEnv('AWS_REGION', 'us-east-1');
    expect(createStateStore({ state: { table: TABLE } } as Config)).toBeInstanceOf(DynamoStateStore);
    // Locally STATE_TABLE names the table the files stand for; STATE_DIR, an endpoint setting, wins.
    expect(createStateStore({ state: { table: TABLE, dir: '/tmp/x' } } as Config)).toBeInstanceOf(
      FileStateStore,
    );
    expect(createStateStore({ state: { dir: '/tmp/x' } } as Config)).toBeInstanceOf(FileStateStore);
    expect(() => createStateStore({ state: {} } as Config)).toThrow(/STATE_TABLE or STATE_DIR/);
    vi.unstubAllEnvs();
  });
});
