import type { z } from 'zod';
import { ConflictError } from '../errors.ts';
import type { EventPublisher } from '../events/publisher.ts';
import type { StateStore } from '../ports.ts';
import { parseWith } from '../validation.ts';
import type { ValidationResult } from './contract.ts';
import { MANAGER_CONFIG, type ManagerConfig, type ManagerId } from './specs.ts';

/**
 * Each manager's configuration, validated by that manager's schema and stored with its versions
 * (who, when, what changed) in the state store: `CONFIG#<id>` / `CURRENT` and `VERSION#<n>`.
 * A manager never configured has version 0: its schema's defaults.
 */

const partition = (id: ManagerId) => `CONFIG#${id}`;
const CURRENT = 'CURRENT';
const VERSION_PREFIX = 'VERSION#';
const versionKey = (version: number) => `${VERSION_PREFIX}${String(version).padStart(9, '0')}`;

export interface ConfigVersion {
  managerId: ManagerId;
  version: number;
  config: Record<string, unknown>;
  /** Null for version 0 (the defaults). */
  by: string | null;
  at: string | null;
  /** Top-level fields whose value differs from the previous version. */
  changed: string[];
}

/** Validates a configuration against a manager's schema: the issues name each field. */
export function validateConfig(id: ManagerId, config: unknown): ValidationResult {
  const result = (MANAGER_CONFIG[id] as z.ZodObject).safeParse(config);
  if (result.success) return { valid: true, issues: [], config: result.data as Record<string, unknown> };
  return {
    valid: false,
    issues: result.error.issues.map((issue) => ({
      field: ['config', ...issue.path.map(String)].join('.'),
      reason: issue.message,
    })),
  };
}

export class ConfigStore {
  readonly #state: () => StateStore;

  constructor(state: () => StateStore) {
    this.#state = state;
  }

  async current(id: ManagerId): Promise<ConfigVersion> {
    const item = await this.#state().get<ConfigVersion>(partition(id), CURRENT);
    if (item) return item.value;
    return { managerId: id, version: 0, config: defaults(id), by: null, at: null, changed: [] };
  }

  /**
   * Replaces the configuration (validated: ValidationError naming the field) as a new version.
   * With `expectedVersion`, refuses (409) if another version was stored meanwhile. Keeps the
   * latest `historyLimit` versions.
   */
  async replace(
    id: ManagerId,
    config: unknown,
    by: string,
    options: { expectedVersion?: number; historyLimit: number },
  ): Promise<ConfigVersion> {
    const parsed = parseWith(MANAGER_CONFIG[id] as z.ZodObject, config, 'config') as Record<string, unknown>;
    const stored = await this.#state().get<ConfigVersion>(partition(id), CURRENT);
    const previous = stored?.value ?? (await this.current(id));
    if (options.expectedVersion !== undefined && options.expectedVersion !== previous.version) {
      throw new ConflictError(
        `the configuration of ${id} is at version ${previous.version}, not ${options.expectedVersion}`,
        [{ field: 'expectedVersion', reason: `the current version is ${previous.version}` }],
      );
    }
    const next: ConfigVersion = {
      managerId: id,
      version: previous.version + 1,
      config: parsed,
      by,
      at: new Date().toISOString(),
      changed: Object.keys({ ...previous.config, ...parsed })
        .filter((k) => JSON.stringify(previous.config[k]) !== JSON.stringify(parsed[k]))
        .sort(),
    };
    try {
      await this.#state().put(partition(id), CURRENT, next, { expectedVersion: stored?.version ?? 0 });
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ConflictError(`the configuration of ${id} was replaced meanwhile; read it and try again`, [
          { field: 'config', reason: 'another version was stored at the same time' },
        ]);
      }
      throw err;
    }
    await this.#state().put(partition(id), versionKey(next.version), next);
    await this.#prune(id, options.historyLimit);
    return next;
  }

  /** The stored versions, newest first. */
  async versions(id: ManagerId, limit: number): Promise<ConfigVersion[]> {
    const items = await this.#state().list<ConfigVersion>(partition(id), {
      prefix: VERSION_PREFIX,
      reverse: true,
      limit,
    });
    return items.map((i) => i.value);
  }

  async #prune(id: ManagerId, keep: number): Promise<void> {
    const items = await this.#state().list<ConfigVersion>(partition(id), {
      prefix: VERSION_PREFIX,
      reverse: true,
    });
    for (const item of items.slice(keep)) await this.#state().delete(partition(id), item.sk);
  }
}

export function defaults(id: ManagerId): Record<string, unknown> {
  return (MANAGER_CONFIG[id] as z.ZodObject).parse({}) as Record<string, unknown>;
}

/** Publishes what a replacement changed. */
export async function publishConfigChanged(publisher: EventPublisher, version: ConfigVersion): Promise<void> {
  await publisher.publish('ConfigChanged', {
    managerId: version.managerId,
    version: version.version,
    by: version.by ?? 'unknown',
    fields: version.changed,
    at: version.at ?? new Date().toISOString(),
  });
}

/** How long a manager trusts the configuration it read: a change reaches it within this. */
export const CONFIG_CACHE_MS = 30_000;

const cache = new Map<ManagerId, { at: number; config: Promise<unknown> }>();

/**
 * A manager's configuration as its functions read it: through a short-lived cache, never per
 * request. A failed read is not cached.
 */
export function cachedConfig<I extends ManagerId>(
  id: I,
  store: () => ConfigStore,
): Promise<ManagerConfig<I>> {
  const hit = cache.get(id);
  if (hit && Date.now() - hit.at < CONFIG_CACHE_MS) return hit.config as Promise<ManagerConfig<I>>;
  const config = store()
    .current(id)
    .then((v) => (MANAGER_CONFIG[id] as z.ZodObject).parse(v.config) as ManagerConfig<I>);
  cache.set(id, { at: Date.now(), config });
  config.catch(() => cache.delete(id));
  return config;
}

/** Forgets cached configurations (tests). */
export function resetConfigCache(): void {
  cache.clear();
}
