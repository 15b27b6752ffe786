import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { FileStateStore } from '#shared/adapters/file-state.ts';
import { ServiceUnavailableError } from '#shared/errors.ts';
import type { LifecycleState } from '#shared/managers/contract.ts';
import {
  assertManagerRunning,
  GATE_CACHE_MS,
  managerPaused,
  resetManagerGate,
} from '#shared/managers/gate.ts';
import { LifecycleStore } from '#shared/managers/lifecycle.ts';
import { setEnv, tempDir, UNSET_PLATFORM_ENV } from './support.ts';

/** The gate of a manager's functions: 503 with Retry-After while it is not running, read from its lifecycle. */

let dir: { path: string; cleanup(): Promise<void> };
let lifecycle: LifecycleStore;
let restoreEnv: () => void;

beforeAll(async () => {
  dir = await tempDir('vp-gate-');
  lifecycle = new LifecycleStore(() => new FileStateStore({ dir: dir.path }));
});
afterAll(() => dir.cleanup());
beforeEach(() => {
  restoreEnv = setEnv({ ...UNSET_PLATFORM_ENV, MANAGER_ID: 'migration', STATE_DIR: dir.path });
  resetManagerGate();
});
afterEach(async () => {
  restoreEnv();
  resetManagerGate();
  vi.restoreAllMocks();
  // Back to running for the next test.
  const current = await lifecycle.read('migration');
  if (current.record && current.record.state !== 'running')
    await lifecycle.transition('migration', current, 'running', 'tests');
});

async function moveTo(state: LifecycleState): Promise<void> {
  const current = await lifecycle.read('migration');
  await lifecycle.transition('migration', current, state, 'admin-1');
}

async function refusal(): Promise<ServiceUnavailableError> {
  try {
    await assertManagerRunning();
  } catch (err) {
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    return err as ServiceUnavailableError;
  }
  throw new Error('expected a 503');
}

describe('a running manager', () => {
  it('passes, whether it has run since it was deployed or was started again', async () => {
    await expect(assertManagerRunning()).resolves.toBeUndefined();
    expect(await managerPaused()).toBe(false);
    await moveTo('running');
    resetManagerGate();
    await expect(assertManagerRunning()).resolves.toBeUndefined();
  });

  it('a failed manager still serves (its work goes on, the error shows)', async () => {
    await moveTo('failed');
    await expect(assertManagerRunning()).resolves.toBeUndefined();
    expect(await managerPaused()).toBe(false);
  });
});

describe('a manager that is not running', () => {
  it.each(['stopped', 'stopping', 'starting'] as const)(
    'answers 503 with Retry-After 30 and the issue naming it while %s',
    async (state) => {
      await moveTo(state);

      const error = await refusal();

      expect(error.statusCode).toBe(503);
      expect(error.code).toBe('SERVICE_UNAVAILABLE');
      expect(error.retryAfterSeconds).toBe(30);
      expect(error.issues).toEqual([{ field: 'manager', reason: `migration is ${state}` }]);
      expect(error.message).toBe(
        `the migration manager is ${state}; try again once an administrator has started it`,
      );
      expect(await managerPaused()).toBe(true);
    },
  );
});

describe('the cache', () => {
  it('reads the lifecycle at most once per GATE_CACHE_MS', async () => {
    const get = vi.spyOn(FileStateStore.prototype, 'get');
    let now = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => now);

    await assertManagerRunning();
    await assertManagerRunning();
    expect(await managerPaused()).toBe(false);
    expect(get).toHaveBeenCalledTimes(1);

    // Stopped meanwhile: not seen within the window, seen after it.
    await moveTo('stopped');
    get.mockClear();
    now += GATE_CACHE_MS - 1;
    await expect(assertManagerRunning()).resolves.toBeUndefined();
    expect(get).not.toHaveBeenCalled();
    now += 2;
    await refusal();
    expect(get).toHaveBeenCalledTimes(1);
  });

  it('resetManagerGate forgets the cached state', async () => {
    await assertManagerRunning();
    await moveTo('stopped');
    await expect(assertManagerRunning()).resolves.toBeUndefined();
    resetManagerGate();
    await refusal();
  });
});

describe('a function of no stoppable manager', () => {
  it('never reads the store (no MANAGER_ID), whatever the lifecycle says', async () => {
    await moveTo('stopped');
    delete process.env.MANAGER_ID;
    const get = vi.spyOn(FileStateStore.prototype, 'get');

    await expect(assertManagerRunning()).resolves.toBeUndefined();
    expect(await managerPaused()).toBe(false);

    expect(get).not.toHaveBeenCalled();
  });

  it('needs no state store at all', async () => {
    restoreEnv();
    restoreEnv = setEnv({ ...UNSET_PLATFORM_ENV, STATE_DIR: undefined });
    await expect(assertManagerRunning()).resolves.toBeUndefined();
    // With a manager but no store, the gate cannot tell: it fails rather than serve a stopped manager.
    process.env.MANAGER_ID = 'migration';
    await expect(assertManagerRunning()).rejects.toThrow('STATE_TABLE is not set');
  });

  it('a MANAGER_ID that names no manager is a configuration error', async () => {
    process.env.MANAGER_ID = 'nobody';
    await expect(assertManagerRunning()).rejects.toThrow();
  });
});
