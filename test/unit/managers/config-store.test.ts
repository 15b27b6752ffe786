import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { ConflictError, UpstreamError, ValidationError } from '#shared/errors.ts';
import {
  CONFIG_CACHE_MS,
  ConfigStore,
  cachedConfig,
  defaults,
  publishConfigChanged,
  resetConfigCache,
  validateConfig,
} from '#shared/managers/config-store.ts';
import { MANAGER_CONFIG, MANAGER_IDS } from '#shared/managers/specs.ts';
import { InstrumentedStore, RecordingBus, tempDir } from './support.ts';

/** Configurations: validated by each manager's schema, versioned with who and what, cached briefly. */

let dir: { path: string; cleanup(): Promise<void> };
let store: InstrumentedStore;
let configs: ConfigStore;

beforeEach(async () => {
  dir = await tempDir('vp-config-store-');
  store = new InstrumentedStore(new FileStateStore({ dir: dir.path }));
  configs = new ConfigStore(() => store);
  resetConfigCache();
});
afterEach(async () => {
  vi.restoreAllMocks();
  resetConfigCache();
  await dir.cleanup();
});

async function conflict(promise: Promise<unknown>): Promise<ConflictError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ConflictError);
    return err as ConflictError;
  }
  throw new Error('expected a ConflictError');
}

async function validationError(promise: Promise<unknown>): Promise<ValidationError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('the current configuration', () => {
  it("of a manager never configured is version 0: its schema's defaults, by nobody", async () => {
    expect(await configs.current('migration')).toEqual({
      managerId: 'migration',
      version: 0,
      config: { degradedAfterFailedJobs: 1, windowMinutes: 60 },
      by: null,
      at: null,
      changed: [],
    });
    expect(await configs.versions('migration', 10)).toEqual([]);
  });

  it('every manager has defaults for every field (an empty configuration is valid)', () => {
    for (const id of MANAGER_IDS) {
      const fields = Object.keys((MANAGER_CONFIG[id] as { shape: object }).shape).sort();
      expect(Object.keys(defaults(id)).sort(), id).toEqual(fields);
      expect(validateConfig(id, {}), id).toEqual({ valid: true, issues: [], config: defaults(id) });
    }
  });
});

describe('replace', () => {
  it('stores a new version with its defaults, who made it, when, and the fields that changed', async () => {
    const first = await configs.replace('migration', { windowMinutes: 30 }, 'admin-1', { historyLimit: 10 });

    expect(first).toEqual({
      managerId: 'migration',
      version: 1,
      config: { windowMinutes: 30, degradedAfterFailedJobs: 1 },
      by: 'admin-1',
      at: expect.any(String),
      changed: ['windowMinutes'],
    });
    expect(Date.now() - Date.parse(first.at!)).toBeLessThan(60_000);
    expect(await configs.current('migration')).toEqual(first);

    // Back to the default window, a new failure threshold: both changed, sorted.
    const second = await configs.replace('migration', { degradedAfterFailedJobs: 3 }, 'admin-2', {
      historyLimit: 10,
    });
    expect(second).toMatchObject({
      version: 2,
      by: 'admin-2',
      changed: ['degradedAfterFailedJobs', 'windowMinutes'],
    });

    // The same again: a version, with nothing changed.
    const third = await configs.replace('migration', { degradedAfterFailedJobs: 3 }, 'admin-2', {
      historyLimit: 10,
    });
    expect(third).toMatchObject({ version: 3, changed: [] });
    expect((await configs.versions('migration', 10)).map((v) => v.version)).toEqual([3, 2, 1]);
  });

  it('refuses an invalid configuration naming config.<field>, and stores nothing', async () => {
    const error = await validationError(
      configs.replace('api-gateway', { p95TargetMs: 0, errorRateDegraded: 2 }, 'admin-1', {
        historyLimit: 10,
      }),
    );
    expect(error.statusCode).toBe(400);
    expect(error.issues.map((i) => i.field).sort()).toEqual([
      'config.errorRateDegraded',
      'config.p95TargetMs',
    ]);
    expect(error.issues.every((i) => i.reason.length > 0)).toBe(true);

    // A field the schema does not have, or no object at all.
    expect(
      (await validationError(configs.replace('roadmap', { drift: 1 }, 'a', { historyLimit: 10 }))).message,
    ).toMatch(/^config: Unrecognized key: "drift"/);
    expect(
      (await validationError(configs.replace('roadmap', [], 'a', { historyLimit: 10 }))).issues[0]?.field,
    ).toBe('config');
    expect((await configs.current('api-gateway')).version).toBe(0);
    expect((await configs.current('roadmap')).version).toBe(0);
  });

  it('with expectedVersion: replaces only that version, else 409 naming expectedVersion', async () => {
    await configs.replace('roadmap', { driftThresholdPoints: 10 }, 'admin-1', {
      expectedVersion: 0,
      historyLimit: 10,
    });

    const error = await conflict(
      configs.replace('roadmap', { driftThresholdPoints: 20 }, 'admin-2', {
        expectedVersion: 0,
        historyLimit: 10,
      }),
    );

    expect(error.statusCode).toBe(409);
    expect(error.issues).toEqual([{ field: 'expectedVersion', reason: 'the current version is 1' }]);
    expect((await configs.current('roadmap')).config).toEqual({ driftThresholdPoints: 10 });

    const next = await configs.replace('roadmap', { driftThresholdPoints: 20 }, 'admin-2', {
      expectedVersion: 1,
      historyLimit: 10,
    });
    expect(next.version).toBe(2);
  });

  it('a version stored meanwhile by someone else makes the replacement a 409, not a lost update', async () => {
    await configs.replace('roadmap', { driftThresholdPoints: 10 }, 'admin-1', { historyLimit: 10 });
    store.beforeNextPut('CURRENT', async () => {
      await new ConfigStore(() => store.inner).replace(
        'roadmap',
        { driftThresholdPoints: 30 },
        'admin-other',
        {
          historyLimit: 10,
        },
      );
    });

    const error = await conflict(
      configs.replace('roadmap', { driftThresholdPoints: 20 }, 'admin-1', { historyLimit: 10 }),
    );

    expect(error).toBeInstanceOf(ConflictError);
    expect(error.issues).toEqual([
      { field: 'config', reason: 'another version was stored at the same time' },
    ]);
    expect(await configs.current('roadmap')).toMatchObject({
      version: 2,
      by: 'admin-other',
      config: { driftThresholdPoints: 30 },
    });
  });

  it('keeps only the latest historyLimit versions', async () => {
    for (let i = 1; i <= 6; i++) {
      await configs.replace('config', { historyLimit: i }, 'admin-1', { historyLimit: 3 });
    }
    expect((await configs.versions('config', 100)).map((v) => v.version)).toEqual([6, 5, 4]);
    expect((await store.list('CONFIG#config', { prefix: 'VERSION#' })).length).toBe(3);
    expect((await configs.versions('config', 2)).map((v) => v.version)).toEqual([6, 5]);
    expect((await configs.current('config')).version).toBe(6);
    // Versions past 9 sort as numbers (padded keys), so the newest are the ones kept.
    for (let i = 7; i <= 12; i++) {
      await configs.replace('config', { historyLimit: i }, 'admin-1', { historyLimit: 3 });
    }
    expect((await configs.versions('config', 100)).map((v) => v.version)).toEqual([12, 11, 10]);
  });

  it('keeps each manager apart', async () => {
    await configs.replace('monitoring', { windowMinutes: 5 }, 'a', { historyLimit: 10 });
    expect((await configs.current('migration')).version).toBe(0);
    expect((await configs.current('monitoring')).config).toEqual({
      windowMinutes: 5,
      errorRateDegraded: 0.01,
    });
  });
});

describe('publishConfigChanged', () => {
  it('publishes the version, who made it and the changed fields', async () => {
    const bus = new RecordingBus();
    const version = await configs.replace('monitoring', { windowMinutes: 5 }, 'admin-1', {
      historyLimit: 10,
    });
    await publishConfigChanged(bus.publisher(), version);
    expect(bus.ofType('ConfigChanged')).toEqual([
      {
        managerId: 'monitoring',
        version: 1,
        by: 'admin-1',
        fields: ['windowMinutes'],
        at: version.at,
        schemaVersion: 1,
      },
    ]);
  });
});

describe('cachedConfig', () => {
  it('reads the store once within the cache window, and again after it', async () => {
    await configs.replace('monitoring', { windowMinutes: 5 }, 'admin-1', { historyLimit: 10 });
    store.gets = 0;
    let now = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => now);

    expect(await cachedConfig('monitoring', () => configs)).toEqual({
      windowMinutes: 5,
      errorRateDegraded: 0.01,
    });
    expect(store.gets).toBe(1);

    // Changed in the store: not seen within the window.
    await new ConfigStore(() => store.inner).replace('monitoring', { windowMinutes: 7 }, 'a', {
      historyLimit: 10,
    });
    now += CONFIG_CACHE_MS - 1;
    expect((await cachedConfig('monitoring', () => configs)).windowMinutes).toBe(5);
    expect(store.gets).toBe(1);

    // Past the window: read again.
    now += 2;
    expect((await cachedConfig('monitoring', () => configs)).windowMinutes).toBe(7);
    expect(store.gets).toBe(2);
  });

  it('caches each manager apart, and forgets everything on reset', async () => {
    await cachedConfig('monitoring', () => configs);
    await cachedConfig('migration', () => configs);
    await cachedConfig('monitoring', () => configs);
    expect(store.gets).toBe(2);
    resetConfigCache();
    await cachedConfig('monitoring', () => configs);
    expect(store.gets).toBe(3);
  });

  it('shares one read between concurrent callers', async () => {
    const results = await Promise.all([1, 2, 3].map(() => cachedConfig('roadmap', () => configs)));
    expect(results).toEqual([
      { driftThresholdPoints: 5 },
      { driftThresholdPoints: 5 },
      { driftThresholdPoints: 5 },
    ]);
    expect(store.gets).toBe(1);
  });

  it('does not cache a failed read: the next call reads the store again', async () => {
    store.failGets = 1;

    await expect(cachedConfig('migration', () => configs)).rejects.toBeInstanceOf(UpstreamError);
    expect(store.gets).toBe(1);

    expect(await cachedConfig('migration', () => configs)).toEqual({
      degradedAfterFailedJobs: 1,
      windowMinutes: 60,
    });
    expect(store.gets).toBe(2);
    // And that success is cached.
    await cachedConfig('migration', () => configs);
    expect(store.gets).toBe(2);
  });
});
