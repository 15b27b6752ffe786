import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type DataLock, lockDataDirectory } from '../data-lock.ts';
import { Collection, type CollectionOptions } from './collection.ts';
import {
  alreadyExists,
  collectionNotFound,
  notFound,
  QdrantApiError,
  validationError,
  wrongInput,
} from './errors.ts';
import type { Distance, SearchKernel } from './kernels.ts';
import { type Payload, setOwn } from './payload.ts';
import type {
  AliasAction,
  CreateCollectionBody,
  HnswDiff,
  OptimizersDiff,
  UpdateCollectionBody,
  WalDiff,
} from './schemas.ts';
import { syncDirectory, writeFileAtomic } from './storage.ts';

/**
 * The embedded engine: the catalog of collections and aliases over a data directory, each
 * collection in its own directory (see storage.ts for the files inside):
 *
 *   <dataDir>/aliases.json               { "aliases": { alias: collection } }, replaced atomically
 *   <dataDir>/collections/<uuid>/        collection.json (name, config), snapshot.bin, wal.log
 *
 * One process at a time uses a directory (`data-lock.ts`: a lock the OS releases with its process).
 *
 * A collection directory appears by renaming a complete temporary one and disappears by renaming
 * it aside before removal, so a crash never leaves half a collection. Catalog changes (create,
 * delete, update, aliases) are serialized; point writes are serialized per collection.
 */

export interface QdrantEngineOptions {
  dataDir: string;
  /** Search kernel: `auto` (native SIMD when it pays off), `js` or `native` (tests). */
  kernel?: SearchKernel;
  /** Threads of the native search kernel per query; 0 = one per core. Default 1. */
  searchThreads?: number;
  /** Write-ahead log size that triggers a snapshot. Default 64 MiB. */
  compactionBytes?: number;
}

interface StoredConfig {
  format: 1;
  name: string;
  vectors: { size: number; distance: Distance; on_disk?: boolean };
  params: {
    shard_number: number;
    replication_factor: number;
    write_consistency_factor: number;
    on_disk_payload: boolean;
  };
  hnsw_config: Record<string, unknown>;
  optimizer_config: Record<string, unknown>;
  wal_config: Record<string, unknown>;
  quantization_config: Payload | null;
  metadata?: Payload;
}

interface Entry {
  name: string;
  directory: string;
  config: StoredConfig;
  collection: Collection;
}

const DEFAULT_HNSW = {
  m: 16,
  ef_construct: 100,
  full_scan_threshold: 10000,
  max_indexing_threads: 0,
  on_disk: false,
};
const DEFAULT_OPTIMIZERS = {
  deleted_threshold: 0.2,
  vacuum_min_vector_number: 1000,
  default_segment_number: 0,
  max_segment_size: null,
  memmap_threshold: null,
  indexing_threshold: 10000,
  flush_interval_sec: 5,
  max_optimization_threads: null,
};
const DEFAULT_WAL = { wal_capacity_mb: 32, wal_segments_ahead: 0, wal_retain_closed: 1 };

const CONFIG_FILE = 'collection.json';
const ALIASES_FILE = 'aliases.json';
const COLLECTIONS_DIR = 'collections';
const FORBIDDEN_NAME_CHARS = ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0', '\u001f'];

/** Data directories open in this process (a second engine on the same one would corrupt it). */
const openDirectories = new Set<string>();

/** Applies the non-null fields of a config diff over `base`. */
function mergeDiff(base: Record<string, unknown>, diff: HnswDiff | OptimizersDiff | WalDiff | undefined) {
  const out = { ...base };
  if (diff !== undefined) {
    for (const [key, value] of Object.entries(diff)) if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Qdrant's check of a collection name on every route: 1 to 255 characters (code points). */
export function checkCollectionPath(name: string, field = 'name', where = 'path parameters'): void {
  const length = [...name].length;
  if (length < 1 || length > 255) {
    throw validationError(
      [`${field}: value ${JSON.stringify(name)} invalid, must be from 1 to 255 characters`],
      where,
    );
  }
}

/** A new collection or alias name: also none of the characters Qdrant forbids in new names. */
export function validateCollectionName(name: string, field = 'name', where = 'path parameters'): void {
  checkCollectionPath(name, field, where);
  const bad = FORBIDDEN_NAME_CHARS.find((char) => name.includes(char));
  if (bad !== undefined) {
    throw validationError([`${field}: collection name cannot contain "${bad}" char`], where);
  }
}

export class QdrantEngine {
  readonly dataDir: string;
  private readonly options: CollectionOptions;
  private readonly entries = new Map<string, Entry>();
  private aliases = new Map<string, string>();
  private catalogQueue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private readonly lock: DataLock;

  private constructor(dataDir: string, lock: DataLock, options: CollectionOptions) {
    this.dataDir = dataDir;
    this.lock = lock;
    this.options = options;
  }

  static async open(options: QdrantEngineOptions): Promise<QdrantEngine> {
    await mkdir(join(options.dataDir, COLLECTIONS_DIR), { recursive: true });
    const dataDir = await realpath(options.dataDir);
    if (openDirectories.has(dataDir))
      throw new Error(`data directory ${dataDir} is already open in this process`);
    const lock = await lockDataDirectory(dataDir);
    openDirectories.add(dataDir);
    const engine = new QdrantEngine(dataDir, lock, {
      kernel: options.kernel ?? 'auto',
      threads: options.searchThreads ?? 1,
      compactionBytes: options.compactionBytes ?? 64 * 1024 * 1024,
    });
    try {
      await engine.load();
    } catch (err) {
      await engine.close();
      throw err;
    }
    return engine;
  }

  private async load(): Promise<void> {
    const root = join(this.dataDir, COLLECTIONS_DIR);
    for (const dirent of await readdir(root, { withFileTypes: true })) {
      if (!dirent.isDirectory()) continue;
      const directory = join(root, dirent.name);
      // Leftovers of a creation or a deletion interrupted by a crash.
      if (dirent.name.startsWith('.')) {
        await rm(directory, { recursive: true, force: true });
        continue;
      }
      const config = JSON.parse(await readFile(join(directory, CONFIG_FILE), 'utf8')) as StoredConfig;
      if (this.entries.has(config.name))
        throw new Error(`${root}: two directories hold collection ${config.name}`);
      const collection = await Collection.open(
        directory,
        config.vectors.size,
        config.vectors.distance,
        this.options,
      );
      this.entries.set(config.name, { name: config.name, directory, config, collection });
    }
    try {
      const stored = JSON.parse(await readFile(join(this.dataDir, ALIASES_FILE), 'utf8')) as {
        aliases: Record<string, string>;
      };
      // An alias of a collection whose deletion was cut short by a crash goes with it.
      this.aliases = new Map(Object.entries(stored.aliases).filter(([, target]) => this.entries.has(target)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Serializes catalog changes. */
  private catalog<T>(task: () => Promise<T>): Promise<T> {
    const run = this.catalogQueue.then(() => {
      if (this.closed)
        throw new QdrantApiError(503, 'QDRANT_CLOSED', 'Service internal error: the server is closing');
      return task();
    });
    this.catalogQueue = run.catch(() => undefined);
    return run;
  }

  /** The collection named `name` directly or through an alias. */
  private entry(name: string): Entry {
    const entry = this.entries.get(name) ?? this.entries.get(this.aliases.get(name) ?? '');
    if (entry === undefined) throw collectionNotFound(name);
    return entry;
  }

  collection(name: string): Collection {
    return this.entry(name).collection;
  }

  listCollections(): string[] {
    return [...this.entries.keys()];
  }

  exists(name: string): boolean {
    return this.entries.has(name) || this.aliases.has(name);
  }

  info(name: string): Record<string, unknown> {
    const { config, collection } = this.entry(name);
    const { vectors, params, hnsw_config, optimizer_config, wal_config, quantization_config, metadata } =
      config;
    return {
      status: 'green',
      optimizer_status: 'ok',
      // Nothing is indexed: every search is exact.
      indexed_vectors_count: 0,
      points_count: collection.pointsCount,
      segments_count: 1,
      config: {
        params: { vectors, ...params },
        hnsw_config,
        optimizer_config,
        wal_config,
        quantization_config,
        ...(metadata === undefined ? {} : { metadata }),
      },
      payload_schema: collection.payloadSchema,
    };
  }

  async createCollection(name: string, body: CreateCollectionBody): Promise<void> {
    validateCollectionName(name);
    const vectors = body.vectors;
    if (vectors === undefined || 'named' in vectors) {
      throw wrongInput(
        'this embedded server supports one unnamed dense vector per collection: `"vectors": {"size": N, "distance": "Cosine"}`',
      );
    }
    const params = vectors.single;
    if (params.datatype !== undefined && params.datatype !== 'float32') {
      throw wrongInput(
        `vector datatype \`${params.datatype}\` is not supported by this embedded server (float32 only)`,
      );
    }
    if (params.multivector_config !== undefined)
      throw wrongInput('multivectors are not supported by this embedded server');
    if (body.sparse_vectors !== undefined && Object.keys(body.sparse_vectors).length > 0) {
      throw wrongInput('sparse vectors are not supported by this embedded server');
    }
    if (body.sharding_method !== undefined && body.sharding_method !== 'auto') {
      throw wrongInput('custom sharding is not supported by this embedded server');
    }
    return this.catalog(async () => {
      if (this.entries.has(name)) throw alreadyExists(`Collection \`${name}\` already exists!`);
      if (this.aliases.has(name)) {
        throw wrongInput(
          `Can't create collection with name ${name}. Alias with the same name already exists`,
        );
      }
      const config: StoredConfig = {
        format: 1,
        name,
        vectors: {
          size: params.size,
          distance: params.distance,
          ...(params.on_disk === undefined ? {} : { on_disk: params.on_disk }),
        },
        params: {
          shard_number: body.shard_number ?? 1,
          replication_factor: body.replication_factor ?? 1,
          write_consistency_factor: body.write_consistency_factor ?? 1,
          on_disk_payload: body.on_disk_payload ?? true,
        },
        hnsw_config: mergeDiff(DEFAULT_HNSW, body.hnsw_config),
        optimizer_config: mergeDiff(DEFAULT_OPTIMIZERS, body.optimizers_config),
        wal_config: mergeDiff(DEFAULT_WAL, body.wal_config),
        quantization_config: body.quantization_config ?? null,
        ...(body.metadata === undefined ? {} : { metadata: body.metadata }),
      };
      const root = join(this.dataDir, COLLECTIONS_DIR);
      const id = randomUUID();
      const temporary = join(root, `.new-${id}`);
      await mkdir(temporary);
      await writeFileAtomic(join(temporary, CONFIG_FILE), JSON.stringify(config));
      const directory = join(root, id);
      await rename(temporary, directory);
      await syncDirectory(root);
      const collection = await Collection.open(directory, params.size, params.distance, this.options);
      this.entries.set(name, { name, directory, config, collection });
    });
  }

  /** Deletes a collection by its own name (as Qdrant, an alias is not followed); false if absent. */
  deleteCollection(name: string): Promise<boolean> {
    return this.catalog(async () => {
      const entry = this.entries.get(name);
      if (entry === undefined) return false;
      const remaining = new Map([...this.aliases].filter(([, target]) => target !== name));
      if (remaining.size !== this.aliases.size) await this.saveAliases(remaining);
      this.aliases = remaining;
      this.entries.delete(name);
      await entry.collection.close();
      const root = join(this.dataDir, COLLECTIONS_DIR);
      const trash = join(root, `.deleted-${randomUUID()}`);
      await rename(entry.directory, trash);
      await syncDirectory(root);
      await rm(trash, { recursive: true, force: true });
      return true;
    });
  }

  updateCollection(name: string, body: UpdateCollectionBody): Promise<void> {
    return this.catalog(async () => {
      const entry = this.entry(name);
      const config: StoredConfig = {
        ...entry.config,
        hnsw_config: mergeDiff(entry.config.hnsw_config, body.hnsw_config),
        optimizer_config: mergeDiff(entry.config.optimizer_config, body.optimizers_config),
      };
      if (body.quantization_config === 'Disabled') config.quantization_config = null;
      else if (typeof body.quantization_config === 'object' && body.quantization_config !== null) {
        config.quantization_config = body.quantization_config as Payload;
      }
      if (body.metadata !== undefined) {
        // Qdrant merges metadata; a null value removes its key.
        const merged: Payload = { ...(entry.config.metadata ?? {}) };
        for (const [key, value] of Object.entries(body.metadata ?? {})) {
          if (value === null) delete merged[key];
          else setOwn(merged, key, value);
        }
        config.metadata = merged;
      }
      await writeFileAtomic(join(entry.directory, CONFIG_FILE), JSON.stringify(config));
      entry.config = config;
    });
  }

  /** Applies alias actions all together or not at all. */
  updateAliases(actions: AliasAction[]): Promise<void> {
    return this.catalog(async () => {
      const next = new Map(this.aliases);
      for (const [i, action] of actions.entries()) {
        if ('create_alias' in action) {
          const { collection_name, alias_name } = action.create_alias;
          validateCollectionName(alias_name, `actions[${i}].create_alias.alias_name`, 'JSON body');
          if (!this.entries.has(collection_name)) throw collectionNotFound(collection_name);
          if (this.entries.has(alias_name))
            throw alreadyExists(`Collection \`${alias_name}\` already exists!`);
          next.set(alias_name, collection_name);
        } else if ('delete_alias' in action) {
          next.delete(action.delete_alias.alias_name);
        } else {
          const { old_alias_name, new_alias_name } = action.rename_alias;
          const target = next.get(old_alias_name);
          if (target === undefined) throw notFound(`Alias ${old_alias_name} does not exists!`);
          validateCollectionName(new_alias_name, `actions[${i}].rename_alias.new_alias_name`, 'JSON body');
          if (this.entries.has(new_alias_name))
            throw alreadyExists(`Collection \`${new_alias_name}\` already exists!`);
          next.delete(old_alias_name);
          next.set(new_alias_name, target);
        }
      }
      await this.saveAliases(next);
      this.aliases = next;
    });
  }

  private async saveAliases(aliases: Map<string, string>): Promise<void> {
    await writeFileAtomic(
      join(this.dataDir, ALIASES_FILE),
      JSON.stringify({ aliases: Object.fromEntries(aliases) }),
    );
  }

  listAliases(): { alias_name: string; collection_name: string }[] {
    return [...this.aliases].map(([alias_name, collection_name]) => ({ alias_name, collection_name }));
  }

  collectionAliases(name: string): { alias_name: string; collection_name: string }[] {
    const target = this.entry(name).name;
    return this.listAliases().filter((alias) => alias.collection_name === target);
  }

  /** Waits for pending writes, closes every collection and releases the data directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.catalogQueue;
    this.closed = true;
    await Promise.all([...this.entries.values()].map((entry) => entry.collection.close()));
    this.entries.clear();
    await this.lock.release();
    openDirectories.delete(this.dataDir);
  }
}
