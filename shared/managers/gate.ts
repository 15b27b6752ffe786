import { createStateStore } from '../adapters/index.ts';
import { parseEnv } from '../config.ts';
import { ServiceUnavailableError } from '../errors.ts';
import { logger } from '../powertools.ts';
import { MANAGER_ENV } from './environment.ts';
import { LIFECYCLE_KEY, type LifecycleRecord, managerPartition, PAUSED_STATES } from './lifecycle.ts';
import { ManagerIdSchema } from './specs.ts';

/**
 * What stopping a manager does to its functions: while it is stopping, stopped or starting its
 * routes answer 503 with `Retry-After` and its schedules skip a run. (Its queue consumers are
 * stopped at the source: the coordinator disables their event source mappings.) The lifecycle
 * record is read at most every few seconds per execution environment, never per request.
 */

/** How long a read lifecycle state is trusted: a stop takes effect everywhere within it. */
export const GATE_CACHE_MS = 5_000;
/** What a client of a stopped manager is told to wait, seconds. */
export const STOPPED_RETRY_AFTER_SECONDS = 30;

let cached: { at: number; state: LifecycleRecord['state'] } | undefined;

async function currentState(): Promise<{ id: string; state: LifecycleRecord['state'] } | undefined> {
  const raw = process.env[MANAGER_ENV.id];
  if (!raw) return undefined;
  const id = ManagerIdSchema.parse(raw);
  if (cached && Date.now() - cached.at < GATE_CACHE_MS) return { id, state: cached.state };
  const env = parseEnv(process.env);
  const store = createStateStore({
    state: {
      ...(env.STATE_TABLE ? { table: env.STATE_TABLE } : {}),
      ...(env.STATE_DIR ? { dir: env.STATE_DIR } : {}),
      ...(env.STATE_DIR_ACTIONS ? { dirActions: env.STATE_DIR_ACTIONS } : {}),
    },
  });
  const item = await store.get<LifecycleRecord>(managerPartition(id), LIFECYCLE_KEY);
  const state = item?.value.state ?? 'running';
  cached = { at: Date.now(), state };
  return { id, state };
}

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
