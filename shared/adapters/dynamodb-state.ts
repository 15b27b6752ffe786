import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../errors.ts';
import type { ListOptions, StateItem, StateStore } from '../ports.ts';
import { awsErrorName, mapAwsError } from './aws-errors.ts';
import {
  checkExpiresAt,
  checkKey,
  checkListOptions,
  checkPartitionKey,
  conflictMessage,
  EXPIRES_AT_ATTRIBUTE,
  isExpired,
} from './state-rules.ts';

/**
 * The StateStore port on a DynamoDB table keyed `pk` (partition) + `sk` (sort), with attributes
 * `value`, `version` and `updatedAt`. Versions are incremented by DynamoDB itself (`ADD`), so
 * concurrent writers never compute the same next version.
 */

/** The key the readiness check reads: any table answers it (absent), and only GetItem is needed. */
const PING_KEY = { pk: '__ping__', sk: '__ping__' };

interface StoredItem {
  pk: string;
  sk: string;
  value: unknown;
  version: number;
  updatedAt: string;
}

function toStateItem<T>(item: Record<string, unknown>): StateItem<T> {
  const stored = item as unknown as StoredItem;
  return { value: stored.value as T, version: Number(stored.version), updatedAt: stored.updatedAt };
}

/** The version of the item that failed a condition (`ReturnValuesOnConditionCheckFailure: ALL_OLD`). */
function versionFound(err: unknown): number {
  const version = (err as { Item?: { version?: unknown } }).Item?.version;
  if (typeof version === 'number') return version;
  // The document client does not unmarshall the item carried by an error.
  const n = (version as { N?: unknown } | undefined)?.N;
  return typeof n === 'string' ? Number(n) : 0;
}

export class DynamoStateStore implements StateStore {
  readonly #db: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: { client: DynamoDBDocumentClient; table: string }) {
    this.#db = options.client;
    this.#table = options.table;
  }

  async get<T>(pk: string, sk: string): Promise<StateItem<T> | undefined> {
    checkKey(pk, sk);
    try {
      const out = await this.#db.send(
        new GetCommand({ TableName: this.#table, Key: { pk, sk }, ConsistentRead: true }),
      );
      return out.Item && !isExpired(out.Item[EXPIRES_AT_ATTRIBUTE]) ? toStateItem<T>(out.Item) : undefined;
    } catch (err) {
      throw mapAwsError(err, 'DynamoDB GetItem');
    }
  }

  async put<T>(
    pk: string,
    sk: string,
    value: T,
    options: { expectedVersion?: number; expiresAt?: number } = {},
  ): Promise<StateItem<T>> {
    checkKey(pk, sk);
    checkExpiresAt(options.expiresAt);
    const expected = options.expectedVersion;
    const condition =
      expected === undefined
        ? undefined
        : expected === 0
          ? 'attribute_not_exists(pk)'
          : '#version = :expected';
    try {
      const out = await this.#db.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk, sk },
          // `expiresAt` is the table's TTL attribute.
          UpdateExpression: `SET #value = :value, #updatedAt = :now${options.expiresAt ? ', #expiresAt = :expiresAt' : ''} ADD #version :one`,
          ...(condition
            ? { ConditionExpression: condition, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }
            : {}),
          ExpressionAttributeNames: {
            '#value': 'value',
            '#updatedAt': 'updatedAt',
            '#version': 'version',
            ...(options.expiresAt ? { '#expiresAt': EXPIRES_AT_ATTRIBUTE } : {}),
          },
          ExpressionAttributeValues: {
            ':value': value,
            ...(options.expiresAt ? { ':expiresAt': options.expiresAt } : {}),
            ':now': new Date().toISOString(),
            ':one': 1,
            ...(expected !== undefined && expected > 0 ? { ':expected': expected } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toStateItem<T>(out.Attributes ?? {});
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') {
        throw new ConflictError(conflictMessage(pk, sk, expected ?? 0, versionFound(err)));
      }
      throw mapAwsError(err, 'DynamoDB UpdateItem');
    }
  }

  async list<T>(pk: string, options: ListOptions = {}): Promise<Array<{ sk: string } & StateItem<T>>> {
    checkPartitionKey(pk);
    checkListOptions(options);
    const now = Date.now();
    const items: Array<{ sk: string } & StateItem<T>> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const remaining = options.limit === undefined ? undefined : options.limit - items.length;
      try {
        const out = await this.#db.send(
          new QueryCommand({
            TableName: this.#table,
            KeyConditionExpression: options.prefix ? '#pk = :pk AND begins_with(#sk, :prefix)' : '#pk = :pk',
            ExpressionAttributeNames: options.prefix ? { '#pk': 'pk', '#sk': 'sk' } : { '#pk': 'pk' },
            ExpressionAttributeValues: {
              ':pk': pk,
              ...(options.prefix ? { ':prefix': options.prefix } : {}),
            },
            ScanIndexForward: !options.reverse,
            ConsistentRead: true,
            ...(remaining !== undefined ? { Limit: remaining } : {}),
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        );
        for (const item of out.Items ?? []) {
          if (isExpired(item[EXPIRES_AT_ATTRIBUTE], now)) continue; // TTL deletes it later
          if (options.limit !== undefined && items.length >= options.limit) break;
          items.push({ sk: String(item.sk), ...toStateItem<T>(item) });
        }
        startKey = out.LastEvaluatedKey;
      } catch (err) {
        throw mapAwsError(err, 'DynamoDB Query');
      }
    } while (startKey && (options.limit === undefined || items.length < options.limit));
    return items;
  }

  async delete(pk: string, sk: string): Promise<void> {
    checkKey(pk, sk);
    try {
      await this.#db.send(new DeleteCommand({ TableName: this.#table, Key: { pk, sk } }));
    } catch (err) {
      throw mapAwsError(err, 'DynamoDB DeleteItem');
    }
  }

  async ping(): Promise<void> {
    try {
      await this.#db.send(new GetCommand({ TableName: this.#table, Key: PING_KEY }));
    } catch (err) {
      throw mapAwsError(err, 'DynamoDB GetItem');
    }
  }
}
