import { createHash, randomUUID } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import { ConflictError } from '../errors.ts';
import type { ListOptions, StateItem, StateStore } from '../ports.ts';
import { mapAwsError } from './aws-errors.ts';
import {
  checkExpiresAt,
  checkKey,
  checkListOptions,
  checkPartitionKey,
  compareSortKeys,
  conflictMessage,
  isExpired,
} from './state-rules.ts';

/**
 * The StateStore port on local files, with the DynamoDB adapter's semantics (versions, conditional
 * writes, prefix listing ordered by sort key): `<dir>/<pk>/<sk>.json`, one JSON document per item.
 *
 * Writes go to a temporary file renamed over the item, so a reader never sees half an item, and
 * reads take no lock. Every write reads the stored version first (to number the new one and to
 * check `expectedVersion`), so writes to an item are serialized: within the process by a queue,
 * across processes (functions run in child processes locally, as in Lambda execution environments)
 * by a lock file beside the item, `<item>.json.lock`. That makes conditional writes atomic, as
 * DynamoDB's are.
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
  /** Epoch seconds after which reads leave it out (DynamoDB's TTL attribute). */
  expiresAt?: number;
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

/**
 * A held lock older than this is stale, whoever owns it: a write holds its lock for milliseconds,
 * so such a lock was left by a process that crashed (or was paused that long) while writing.
 */
const STALE_LOCK_MS = 10_000;
/** Waits between attempts on a held lock double from 1 ms up to this, jittered by ±50 %. */
const MAX_BACKOFF_MS = 16;
const HOST = hostname();

/** The part of a lock file that names its owner (the rest, a random token, makes each lock unique). */
const LockOwnerSchema = z.object({ pid: z.number().int().positive(), host: z.string() });

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function isMissing(err: unknown): boolean {
  return errorCode(err) === 'ENOENT';
}

/**
 * Whether a lock file's content names a process of this host that no longer runs. False when that
 * cannot be told: content not yet written or not ours, another host sharing the folder.
 */
export function lockOwnerIsGone(content: string): boolean {
  let owner: z.infer<typeof LockOwnerSchema>;
  try {
    const parsed = LockOwnerSchema.safeParse(JSON.parse(content));
    if (!parsed.success) return false;
    owner = parsed.data;
  } catch {
    return false; // not JSON
  }
  if (owner.host !== HOST) return false;
  try {
    process.kill(owner.pid, 0); // signal 0 only checks that the process exists
    return false;
  } catch (err) {
    return errorCode(err) === 'ESRCH'; // EPERM: it exists, under another user
  }
}

interface LockSnapshot {
  content: string;
  ino: number;
  mtimeMs: number;
}

/** The lock file's content and identity, read through one handle so both are of the same file. */
async function inspectLock(path: string): Promise<LockSnapshot | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  try {
    const stats = await handle.stat();
    return { content: await handle.readFile('utf8'), ino: stats.ino, mtimeMs: stats.mtimeMs };
  } finally {
    await handle.close();
  }
}

function isStale(lock: LockSnapshot): boolean {
  return Date.now() - lock.mtimeMs > STALE_LOCK_MS || lockOwnerIsGone(lock.content);
}

/**
 * Removes the lock at `path` if it is stale: its owner is gone, or it is older than STALE_LOCK_MS.
 * Answers true when the caller should try to lock again at once, false when it should wait.
 */
async function breakIfStale(path: string): Promise<boolean> {
  const seen = await inspectLock(path);
  if (!seen) return true; // released meanwhile
  if (!isStale(seen)) return false;
  // Several processes may judge this lock stale at once, and one may break it and lock again
  // before another acts: removing by path would then remove a live lock. So a lock is broken only
  // under a guard named after this very lock (its inode, time and content; created exclusively:
  // one process wins), and only if it is still there. Its owner is gone, so only the guard's
  // holder removes it: it cannot be replaced between that check and its removal.
  const id = createHash('sha256')
    .update(`${basename(path)}\n${seen.ino}\n${seen.mtimeMs}\n${seen.content}`)
    .digest('hex');
  const guard = join(dirname(path), `.break-${id.slice(0, 32)}`);
  try {
    await writeFile(guard, '', { flag: 'wx' });
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err;
    // Another process is breaking it. Its guard is held for milliseconds: an old one was left by
    // a crash, and dropping it lets the stale lock be broken again.
    const since = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (since > STALE_LOCK_MS) await unlink(guard).catch(() => undefined);
    return false;
  }
  try {
    const now = await inspectLock(path);
    if (now?.ino === seen.ino && now.mtimeMs === seen.mtimeMs && now.content === seen.content)
      await unlink(path);
  } finally {
    await unlink(guard);
  }
  return true;
}

/** A lock file this process created: its identity, to tell it from any later lock at its path. */
interface HeldLock {
  ino: number;
  mtimeMs: number;
}

/** Takes the cross-process lock at `path`, waiting while another live process holds it. */
async function acquireFileLock(path: string): Promise<HeldLock> {
  const record = JSON.stringify({ pid: process.pid, host: HOST, token: randomUUID() });
  for (let attempt = 0; ; attempt++) {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'wx'); // O_CREAT | O_EXCL: exactly one creator wins
    } catch (err) {
      if (isMissing(err)) {
        await mkdir(dirname(path), { recursive: true }); // the partition's first write
        continue;
      }
      if (errorCode(err) !== 'EEXIST') throw err;
      if (!(await breakIfStale(path)))
        await sleep(Math.min(2 ** attempt, MAX_BACKOFF_MS) * (0.5 + Math.random()));
      continue;
    }
    try {
      await handle.writeFile(record);
      const { ino, mtimeMs } = await handle.stat();
      return { ino, mtimeMs };
    } catch (err) {
      await unlink(path);
      throw err;
    } finally {
      await handle.close();
    }
  }
}

/** Releases the lock unless another process took it over as stale (then it is theirs now). */
async function releaseFileLock(path: string, held: HeldLock): Promise<void> {
  let now: Stats;
  try {
    now = await stat(path);
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  if (now.ino === held.ino && now.mtimeMs === held.mtimeMs) await unlink(path);
}

/**
 * Runs `fn` holding the item's lock: first in this process (the queue, so that the process does not
 * poll against itself), then across processes (the lock file).
 */
async function withItemLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  return withLock(file, async () => {
    const lock = `${file}.lock`;
    const held = await acquireFileLock(lock);
    try {
      return await fn();
    } finally {
      await releaseFileLock(lock, held);
    }
  });
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

export interface FileStateStoreOptions {
  dir: string;
  /**
   * The DynamoDB actions the function is granted on the table these files stand for (the local
   * runtime passes them); an operation outside them fails as DynamoDB's AccessDeniedException
   * would. Absent: every operation is allowed (tests, tools).
   */
  allowedActions?: readonly string[];
}

export class FileStateStore implements StateStore {
  readonly #dir: string;
  readonly #allowed: ReadonlySet<string> | undefined;

  constructor(options: FileStateStoreOptions) {
    this.#dir = resolve(options.dir);
    this.#allowed = options.allowedActions && new Set(options.allowedActions);
  }

  /** The operation as the DynamoDB adapter calls it, refused when its action is not granted. */
  #authorize(operation: 'GetItem' | 'UpdateItem' | 'Query' | 'DeleteItem'): void {
    const action = `dynamodb:${operation}`;
    if (!this.#allowed || this.#allowed.has(action)) return;
    const denied = Object.assign(
      new Error(`not authorized to perform: ${action} because no identity-based policy allows it`),
      { name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 } },
    );
    throw mapAwsError(denied, `DynamoDB ${operation}`);
  }

  async get<T>(pk: string, sk: string): Promise<StateItem<T> | undefined> {
    checkKey(pk, sk);
    this.#authorize('GetItem');
    const item = await readItem<T>(this.#file(pk, sk));
    return item && !isExpired(item.expiresAt)
      ? { value: item.value, version: item.version, updatedAt: item.updatedAt }
      : undefined;
  }

  async put<T>(
    pk: string,
    sk: string,
    value: T,
    options: { expectedVersion?: number; expiresAt?: number } = {},
  ): Promise<StateItem<T>> {
    checkKey(pk, sk);
    checkExpiresAt(options.expiresAt);
    this.#authorize('UpdateItem');
    const file = this.#file(pk, sk);
    return withItemLock(file, async () => {
      const found = (await readItem<T>(file))?.version ?? 0;
      const expected = options.expectedVersion;
      if (expected !== undefined && expected !== found)
        throw new ConflictError(conflictMessage(pk, sk, expected, found));
      const item: StoredItem<T> = {
        pk,
        sk,
        value,
        version: found + 1,
        updatedAt: new Date().toISOString(),
        ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}),
      };
      // The partition folder exists: the lock file was created in it.
      const temp = join(dirname(file), `.tmp-${randomUUID()}`);
      await writeFile(temp, JSON.stringify(item));
      await rename(temp, file);
      return { value, version: item.version, updatedAt: item.updatedAt };
    });
  }

  async list<T>(pk: string, options: ListOptions = {}): Promise<Array<{ sk: string } & StateItem<T>>> {
    checkPartitionKey(pk);
    checkListOptions(options);
    this.#authorize('Query');
    const partition = join(this.#dir, encodeName(pk));
    let names: string[];
    try {
      // Items only: not lock files (`….json.lock`), nor temporary files and guards (`.…`).
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
      .sort((a, b) => (options.reverse ? compareSortKeys(b.sk, a.sk) : compareSortKeys(a.sk, b.sk)));
    const limit = options.limit ?? selected.length;
    const now = Date.now();
    const out: Array<{ sk: string } & StateItem<T>> = [];
    // In pages of what is still wanted: expired items (left for DynamoDB's TTL) are skipped.
    for (let next = 0; next < selected.length && out.length < limit; ) {
      const page = selected.slice(next, next + limit - out.length);
      next += page.length;
      const items = await mapLimit(page, READ_CONCURRENCY, async ({ name, sk }) => {
        const item = await readItem<T>(join(partition, name));
        // Deleted since the directory was read, or expired.
        if (!item || isExpired(item.expiresAt, now)) return undefined;
        return { sk, value: item.value, version: item.version, updatedAt: item.updatedAt };
      });
      for (const item of items) if (item) out.push(item);
    }
    return out;
  }

  async delete(pk: string, sk: string): Promise<void> {
    checkKey(pk, sk);
    this.#authorize('DeleteItem');
    const file = this.#file(pk, sk);
    // Under the lock too: a delete must not fall between another writer's version check and write.
    await withItemLock(file, async () => {
      try {
        await unlink(file);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    });
  }

  async ping(): Promise<void> {
    this.#authorize('GetItem');
    await mkdir(this.#dir, { recursive: true });
    await access(this.#dir, constants.R_OK | constants.W_OK);
  }

  #file(pk: string, sk: string): string {
    return join(this.#dir, encodeName(pk), `${encodeName(sk)}.json`);
  }
}
