import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConflictError } from '../errors.ts';
import type { StateItem, StateStore } from '../ports.ts';
import {
  checkKey,
  checkListOptions,
  checkPartitionKey,
  compareSortKeys,
  conflictMessage,
} from './state-rules.ts';

/**
 * The StateStore port on local files, with the DynamoDB adapter's semantics (versions, conditional
 * writes, prefix listing ordered by sort key): `<dir>/<pk>/<sk>.json`, one JSON document per item.
 *
 * Writes go to a temporary file renamed over the item, so a reader never sees half an item.
 * Read-modify-write sequences (version checks) are serialized per item within the process; two
 * processes writing the same item concurrently are not coordinated.
 */

/** Encoded names longer than this become a digest (file names are limited to 255 bytes). */
const MAX_NAME = 200;
/** Files read at once by `list`. */
const READ_CONCURRENCY = 32;

/**
 * A file-name-safe, reversible encoding: `a-z 0-9 _ -` stay, every other byte becomes `%XX`
 * (upper-case hex). Letters are never upper-case outside an escape, so two keys cannot collide on
 * a case-insensitive file system (macOS), and `.`/`..` or temporary names (`.tmp-…`) cannot occur.
 */
export function encodeName(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[a-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out.length > MAX_NAME ? `~${createHash('sha256').update(key).digest('hex')}` : out;
}

/** The key of an encoded name, or undefined for a digest (the key is then read from the file). */
export function decodeName(name: string): string | undefined {
  return name.startsWith('~') ? undefined : decodeURIComponent(name);
}

interface StoredItem<T> extends StateItem<T> {
  pk: string;
  sk: string;
}

const locks = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier call for the same key has settled (module-wide, all instances). */
async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const run = (locks.get(key) ?? Promise.resolve()).then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

async function readItem<T>(file: string): Promise<StoredItem<T> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  return JSON.parse(text) as StoredItem<T>;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export class FileStateStore implements StateStore {
  readonly #dir: string;

  constructor(options: { dir: string }) {
    this.#dir = resolve(options.dir);
  }

  async get<T>(pk: string, sk: string): Promise<StateItem<T> | undefined> {
    checkKey(pk, sk);
    const item = await readItem<T>(this.#file(pk, sk));
    return item ? { value: item.value, version: item.version, updatedAt: item.updatedAt } : undefined;
  }

  async put<T>(
    pk: string,
    sk: string,
    value: T,
    options: { expectedVersion?: number } = {},
  ): Promise<StateItem<T>> {
    checkKey(pk, sk);
    const file = this.#file(pk, sk);
    return withLock(file, async () => {
      const found = (await readItem<T>(file))?.version ?? 0;
      const expected = options.expectedVersion;
      if (expected !== undefined && expected !== found)
        throw new ConflictError(conflictMessage(pk, sk, expected, found));
      const item: StoredItem<T> = { pk, sk, value, version: found + 1, updatedAt: new Date().toISOString() };
      const partition = join(this.#dir, encodeName(pk));
      await mkdir(partition, { recursive: true });
      const temp = join(partition, `.tmp-${randomUUID()}`);
      await writeFile(temp, JSON.stringify(item));
      await rename(temp, file);
      return { value, version: item.version, updatedAt: item.updatedAt };
    });
  }

  async list<T>(
    pk: string,
    options: { prefix?: string; limit?: number } = {},
  ): Promise<Array<{ sk: string } & StateItem<T>>> {
    checkPartitionKey(pk);
    checkListOptions(options);
    const partition = join(this.#dir, encodeName(pk));
    let names: string[];
    try {
      names = (await readdir(partition)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    const prefix = options.prefix ?? '';
    // Names carry their key: only digest-named items are read to learn theirs.
    const candidates = await mapLimit(names, READ_CONCURRENCY, async (name) => {
      let sk: string | undefined;
      try {
        sk = decodeName(name.slice(0, -'.json'.length));
      } catch {
        return undefined; // not a name this store wrote
      }
      if (sk !== undefined) return sk.startsWith(prefix) ? { name, sk } : undefined;
      const item = await readItem<T>(join(partition, name));
      return item?.sk.startsWith(prefix) ? { name, sk: item.sk } : undefined;
    });
    const selected = candidates
      .filter((c): c is { name: string; sk: string } => c !== undefined)
      .sort((a, b) => compareSortKeys(a.sk, b.sk))
      .slice(0, options.limit);
    const items = await mapLimit(selected, READ_CONCURRENCY, async ({ name, sk }) => {
      const item = await readItem<T>(join(partition, name));
      // Deleted since the directory was read.
      return item ? { sk, value: item.value, version: item.version, updatedAt: item.updatedAt } : undefined;
    });
    return items.filter((i) => i !== undefined);
  }

  async delete(pk: string, sk: string): Promise<void> {
    checkKey(pk, sk);
    const file = this.#file(pk, sk);
    await withLock(file, async () => {
      try {
        await unlink(file);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    });
  }

  async ping(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await access(this.#dir, constants.R_OK | constants.W_OK);
  }

  #file(pk: string, sk: string): string {
    return join(this.#dir, encodeName(pk), `${encodeName(sk)}.json`);
  }
}
