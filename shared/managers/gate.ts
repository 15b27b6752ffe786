import { FileStateStore } from '../adapters/file-state.ts';
import { EXPIRES_AT_ATTRIBUTE, isExpired } from '../adapters/state-rules.ts';
import { parseEnv } from '../config.ts';
import { ServiceUnavailableError } from '../errors.ts';
import { logger, traced } from '../powertools.ts';
import { MANAGER_ENV } from './environment.ts';
import {
  LIFECYCLE_KEY,
  type LifecycleRecord,
  managerPartition,
  PAUSED_STATES,
  STOPPED_RETRY_AFTER_SECONDS,
} from './lifecycle.ts';
import { type ManagerId, ManagerIdSchema } from './specs.ts';

/**
 * What stopping a manager does to its functions: while it is stopping, stopped or starting its
 * routes answer 503 with `Retry-After` and its schedules skip a run. (Its queue consumers are
 * stopped at the source: the coordinator disables their event source mappings.) The lifecycle
 * record is read at most every few seconds per execution environment, never per request.
 */

/** How long a read lifecycle state is trusted: a stop takes effect everywhere within it. */
export const GATE_CACHE_MS = 5_000;

let cached: { at: number; state: LifecycleRecord['state'] } | undefined;

async function currentState(): Promise<{ id: string; state: LifecycleRecord['state'] } | undefined> {
  const raw = process.env[MANAGER_ENV.id];
  if (!raw) return undefined;
  const id = ManagerIdSchema.parse(raw);
  if (cached && Date.now() - cached.at < GATE_CACHE_MS) return { id, state: cached.state };
  const state = (await readState(id)) ?? 'running';
  cached = { at: Date.now(), state };
  return { id, state };
}

/**
 * The manager's lifecycle state as stored, read with the SDK imported on first use: every HTTP
 * function loads this module, and one that belongs to no stoppable manager (liveness, the docs)
 * must not load an AWS SDK client at cold start (nor need one in its bundle).
 */
async function readState(id: ManagerId): Promise<LifecycleRecord['state'] | undefined> {
  const env = parseEnv(process.env);
  if (env.STATE_DIR) {
    const store = new FileStateStore({
      dir: env.STATE_DIR,
      ...(env.STATE_DIR_ACTIONS ? { allowedActions: env.STATE_DIR_ACTIONS } : {}),
    });
    return (await store.get<LifecycleRecord>(managerPartition(id), LIFECYCLE_KEY))?.value.state;
  }
  if (!env.STATE_TABLE) throw new Error('Invalid configuration: STATE_TABLE is not set');
  const { DynamoDBClient, GetItemCommand } = await import('@aws-sdk/client-dynamodb');
  dynamo ??= traced(new DynamoDBClient({}));
  const { Item } = await dynamo.send(
    new GetItemCommand({
      TableName: env.STATE_TABLE,
      Key: { pk: { S: managerPartition(id) }, sk: { S: LIFECYCLE_KEY } },
      ProjectionExpression: '#v.#s, #e',
      ExpressionAttributeNames: { '#v': 'value', '#s': 'state', '#e': EXPIRES_AT_ATTRIBUTE },
      ConsistentRead: true,
    }),
  );
  const expiresAt = Item?.[EXPIRES_AT_ATTRIBUTE]?.N;
  if (!Item || isExpired(expiresAt === undefined ? undefined : Number(expiresAt))) return undefined;
  return Item.value?.M?.state?.S as LifecycleRecord['state'] | undefined;
}

let dynamo: import('@aws-sdk/client-dynamodb').DynamoDBClient | undefined;

/** Throws 503 (with Retry-After) when the function's manager is not running. */
export async function assertManagerRunning(): Promise<void> {
  const current = await currentState();
  if (!current || !PAUSED_STATES.has(current.state)) return;
  throw new ServiceUnavailableError(
    `the ${current.id} manager is ${current.state}; try again once an administrator has started it`,
    {
      retryAfterSeconds: STOPPED_RETRY_AFTER_SECONDS,
      issues: [{ field: 'manager', reason: `${current.id} is ${current.state}` }],
    },
  );
}

/** Whether a scheduled run should be skipped because the function's manager is not running. */
export async function managerPaused(): Promise<boolean> {
  const current = await currentState();
  if (!current || !PAUSED_STATES.has(current.state)) return false;
  logger.info('manager not running: run skipped', { manager: current.id, state: current.state });
  return true;
}

/** Forgets the cached state (tests). */
export function resetManagerGate(): void {
  cached = undefined;
}
