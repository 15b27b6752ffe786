import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, readFile, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { decodeName, encodeName, FileStateStore, lockOwnerIsGone } from '#shared/adapters/file-state.ts';
import { ConflictError, ValidationError } from '#shared/errors.ts';

/**
 * Per lock file, how many times the store tried to create it and found it held (`open` with `wx`
 * failing with EEXIST): lets a test know a write is waiting for a lock rather than guess it from
 * elapsed time. `open` itself is the real one.
 */
const refusedLockAttempts = vi.hoisted(() => new Map<string, number>());
vi.mock(import('node:fs/promises'), async (importOriginal) => {
  const fs = await importOriginal();
  return {
    ...fs,
    open: async (...args: Parameters<typeof fs.open>) => {
      try {
        return await fs.open(...args);
      } catch (err) {
        const [path, flags] = args;
        if (flags === 'wx' && (err as NodeJS.ErrnoException).code === 'EEXIST')
          refusedLockAttempts.set(String(path), (refusedLockAttempts.get(String(path)) ?? 0) + 1);
        throw err;
      }
    },
  };
});

let dir: string;
let store: FileStateStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vp-state-'));
  store = new FileStateStore({ dir });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** No temporary, lock or broken-lock file is left behind. */
async function expectOnlyItemFiles(): Promise<void> {
  for (const partition of await readdir(dir)) {
    const names = await readdir(join(dir, partition));
    expect(names.filter((n) => n.startsWith('.') || !n.endsWith('.json'))).toEqual([]);
  }
}

/** The lock file of an item, as the store names it, with the owner record the store writes. */
async function holdLock(
  pk: string,
  sk: string,
  owner: { pid: number; host?: string } | string,
  ageMs = 0,
): Promise<string> {
  const partition = join(dir, encodeName(pk));
  await mkdir(partition, { recursive: true });
  const path = join(partition, `${encodeName(sk)}.json.lock`);
  const content =
    typeof owner === 'string' ? owner : JSON.stringify({ host: hostname(), token: randomUUID(), ...owner });
  await writeFile(path, content, { flag: 'wx' });
  const at = new Date(Date.now() - ageMs);
  await utimes(path, at, at);
  return path;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const { pid, status } = spawnSync(process.execPath, ['-e', '']);
  expect(status).toBe(0);
  return pid!;
}

/** An age past the stale-lock bound. */
const OLD = 60_000;
/** The child process of the multi-process test. */
const COUNTER = join(import.meta.dirname, 'file-state-counter.ts');

describe('FileStateStore', () => {
  it('answers undefined for an absent item, then versions each write from 1', async () => {
    expect(await store.get('jobs', 'job-1')).toBeUndefined();
    const first = await store.put('jobs', 'job-1', { state: 'planned' });
    expect(first).toMatchObject({ value: { state: 'planned' }, version: 1 });
    expect(Date.parse(first.updatedAt)).not.toBeNaN();
    const second = await store.put('jobs', 'job-1', { state: 'running' });
    expect(second.version).toBe(2);
    expect(await store.get('jobs', 'job-1')).toEqual(second);
  });

  it('honours expectedVersion: 0 means absent, otherwise the stored version', async () => {
    await store.put('jobs', 'a', 1, { expectedVersion: 0 });
    await expect(store.put('jobs', 'a', 2, { expectedVersion: 0 })).rejects.toThrow(ConflictError);
    await expect(store.put('jobs', 'a', 2, { expectedVersion: 5 })).rejects.toThrow(
      /expected version 5, found 1/,
    );
    expect(await store.put('jobs', 'a', 3, { expectedVersion: 1 })).toMatchObject({ value: 3, version: 2 });
    await expect(store.put('jobs', 'b', 1, { expectedVersion: 1 })).rejects.toThrow(/found 0/);
    // A failed conditional write changes nothing.
    expect(await store.get('jobs', 'a')).toMatchObject({ value: 3, version: 2 });
    expect(await store.get('jobs', 'b')).toBeUndefined();
  });

  it('lists a partition ordered by sort key, with prefix and limit, and nothing of other partitions', async () => {
    for (const sk of ['chunk#0010', 'chunk#0002', 'meta', 'chunk#0001', 'Z', 'é'])
      await store.put('job-1', sk, sk);
    await store.put('job-2', 'chunk#0003', 'other');
    const all = await store.list<string>('job-1');
    // UTF-8 byte order, as DynamoDB sorts string keys: upper case before lower, `é` last.
    expect(all.map((i) => i.sk)).toEqual(['Z', 'chunk#0001', 'chunk#0002', 'chunk#0010', 'meta', 'é']);
    expect(all[0]).toMatchObject({ sk: 'Z', value: 'Z', version: 1 });
    const chunks = await store.list('job-1', { prefix: 'chunk#', limit: 2 });
    expect(chunks.map((i) => i.sk)).toEqual(['chunk#0001', 'chunk#0002']);
    expect(await store.list('nothing-here')).toEqual([]);
  });

  it('lists newest first on request, and leaves expired items out of reads and lists', async () => {
    const past = Math.floor(Date.now() / 1000) - 1;
    const future = Math.floor(Date.now() / 1000) + 3600;
    await store.put('log', 'e#1', 1);
    await store.put('log', 'e#2', 2, { expiresAt: past });
    await store.put('log', 'e#3', 3, { expiresAt: future });
    await store.put('log', 'e#4', 4, { expiresAt: past });
    expect((await store.list('log', { reverse: true })).map((i) => i.sk)).toEqual(['e#3', 'e#1']);
    // The limit counts live items only: expired ones are skipped, not counted.
    expect((await store.list('log', { reverse: true, limit: 2 })).map((i) => i.sk)).toEqual(['e#3', 'e#1']);
    expect((await store.list('log', { limit: 1 })).map((i) => i.sk)).toEqual(['e#1']);
    expect(await store.get('log', 'e#2')).toBeUndefined();
    expect(await store.get('log', 'e#3')).toMatchObject({ value: 3 });
    await expect(store.put('log', 'e#5', 5, { expiresAt: -1 })).rejects.toThrow(/expiresAt/);
  });

  it('deletes items (absent ones too) and lists without them', async () => {
    await store.put('p', 'a', 1);
    await store.put('p', 'b', 2);
    await store.delete('p', 'a');
    await store.delete('p', 'never-written');
    expect(await store.get('p', 'a')).toBeUndefined();
    expect((await store.list('p')).map((i) => i.sk)).toEqual(['b']);
    // A re-created item starts again from version 1, as a new DynamoDB item does.
    expect((await store.put('p', 'a', 1)).version).toBe(1);
  });

  it('serializes concurrent writers: one conditional winner, unconditional versions all distinct', async () => {
    const attempts = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.put('locks', 'leader', i, { expectedVersion: 0 })),
    );
    expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    expect(attempts.filter((a) => a.status === 'rejected' && a.reason instanceof ConflictError)).toHaveLength(
      19,
    );

    const writes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.put('counters', 'c', i)));
    expect(new Set(writes.map((w) => w.version)).size).toBe(20);
    expect((await store.get('counters', 'c'))?.version).toBe(20);
    // Two instances on one folder share the serialization.
    const other = new FileStateStore({ dir });
    const mixed = await Promise.allSettled([
      store.put('locks', 'shared', 'a', { expectedVersion: 0 }),
      other.put('locks', 'shared', 'b', { expectedVersion: 0 }),
    ]);
    expect(mixed.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    await expectOnlyItemFiles();
  });

  it('persists across instances (a restart)', async () => {
    await store.put('managers', 'email', { running: true });
    const restarted = new FileStateStore({ dir });
    expect(await restarted.get('managers', 'email')).toMatchObject({ value: { running: true }, version: 1 });
  });

  it('keeps keys that differ only by case, punctuation or length apart', async () => {
    const long = 'x'.repeat(300);
    const keys = ['Job', 'job', 'JOB', '.', '..', 'a/b', 'a%2Fb', long, `${long}y`];
    for (const [i, sk] of keys.entries()) await store.put('P', sk, i);
    for (const [i, sk] of keys.entries()) expect((await store.get('P', sk))?.value).toBe(i);
    expect((await store.list('P')).map((i) => i.sk).sort()).toEqual([...keys].sort());
    expect((await store.list('P', { prefix: long })).map((i) => i.sk).sort()).toEqual([long, `${long}y`]);
  });

  it('rejects keys DynamoDB would reject, with the field named', async () => {
    await expect(store.put('', 'a', 1)).rejects.toThrow(ValidationError);
    await expect(store.get('p', '')).rejects.toMatchObject({ issues: [{ field: 'sk' }] });
    await expect(store.get('p', 'x'.repeat(1025))).rejects.toMatchObject({ issues: [{ field: 'sk' }] });
    await expect(store.get('p', '\ud800')).rejects.toMatchObject({ issues: [{ field: 'sk' }] });
    await expect(store.list('p', { limit: 0 })).rejects.toMatchObject({ issues: [{ field: 'limit' }] });
  });

  it('pings by creating its folder', async () => {
    const fresh = new FileStateStore({ dir: join(dir, 'not', 'yet') });
    await expect(fresh.ping()).resolves.toBeUndefined();
  });
});

describe('FileStateStore across processes', () => {
  it('keeps compare-and-set increments from concurrent processes atomic: none is lost', async () => {
    const processes = 4;
    const increments = 100;
    await store.put('counters', 'shared', 0);
    // Left by a crashed process: the workers may all find it at their first write, one breaks it.
    await holdLock('counters', 'shared', { pid: deadPid() });
    const runs = await Promise.all(
      Array.from({ length: processes }, () =>
        promisify(execFile)(process.execPath, [COUNTER, dir, String(increments)]),
      ),
    );
    const final = await store.get<number>('counters', 'shared');
    expect(final?.value).toBe(processes * increments);
    // One version per successful write: the initial put and every increment.
    expect(final?.version).toBe(processes * increments + 1);
    expect(runs.every((r) => /^\d+$/.test(r.stdout))).toBe(true);
    await expectOnlyItemFiles();
  });
});

describe('FileStateStore item locks', () => {
  it('takes over a stale lock: its owner is gone, or it is older than the bound', async () => {
    const gone = deadPid();
    const cases = [
      { sk: 'crashed-long-ago', owner: { pid: gone }, ageMs: OLD },
      // A dead owner cannot release its lock: no need to wait for the bound.
      { sk: 'crashed-just-now', owner: { pid: gone }, ageMs: 0 },
      // Alive but holding for a minute: paused, or its pid reused since a crash.
      { sk: 'live-but-old', owner: { pid: process.pid }, ageMs: OLD },
      { sk: 'other-host', owner: { pid: process.pid, host: `not-${hostname()}` }, ageMs: OLD },
      { sk: 'never-written', owner: '', ageMs: OLD },
    ];
    for (const { sk, owner, ageMs } of cases) {
      const lock = await holdLock('p', sk, owner, ageMs);
      await expect(store.put('p', sk, 1), sk).resolves.toMatchObject({ version: 1 });
      await expect(access(lock), sk).rejects.toThrow(/ENOENT/);
    }
    await expectOnlyItemFiles();
  });

  it('makes a write wait while a live process holds the lock, and check its version only once it has it', async () => {
    await store.put('p', 'k', 'first');
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    onTestFinished(() => {
      holder.kill();
    });
    const lock = await holdLock('p', 'k', { pid: holder.pid! });
    const write = store.put('p', 'k', 'second', { expectedVersion: 1 });
    write.catch(() => {}); // asserted below; a rejection before then is not unhandled
    // Refused twice: it did not go ahead after finding the lock held, it is waiting for it.
    const deadline = Date.now() + 10_000;
    while ((refusedLockAttempts.get(lock) ?? 0) < 2) {
      if (Date.now() > deadline) throw new Error('the write did not retry the held lock');
      await sleep(5);
    }
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ pid: holder.pid });
    // Reads take no lock.
    expect(await store.get('p', 'k')).toMatchObject({ value: 'first', version: 1 });
    // The holder writes version 2 under its lock, then releases it.
    const file = join(dir, encodeName('p'), `${encodeName('k')}.json`);
    const byHolder = { pk: 'p', sk: 'k', value: 'holder', version: 2, updatedAt: new Date().toISOString() };
    await writeFile(file, JSON.stringify(byHolder));
    await unlink(lock);
    // The waiting write read the version after taking the lock: it sees the holder's, not the one
    // it expected, and the holder's write stands.
    await expect(write).rejects.toThrow(/expected version 1, found 2/);
    expect(await store.get('p', 'k')).toMatchObject({ value: 'holder', version: 2 });
    await expect(store.put('p', 'k', 'third', { expectedVersion: 2 })).resolves.toMatchObject({ version: 3 });
    await expectOnlyItemFiles();
  });

  it('never lists lock files, held or orphaned, nor guards', async () => {
    await store.put('p', 'a', 1);
    await store.put('p', 'b', 2);
    await holdLock('p', 'b', { pid: process.pid });
    await holdLock('p', 'c', { pid: process.pid });
    await writeFile(join(dir, encodeName('p'), `.break-${randomUUID()}`), '');
    expect((await store.list('p')).map((i) => i.sk)).toEqual(['a', 'b']);
    expect((await store.list('p', { prefix: 'c' })).map((i) => i.sk)).toEqual([]);
  });

  it('takes over an old lock whatever its content (property-based)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json()), async (content) => {
        const sk = `item-${n++}`;
        await holdLock('p', sk, content, OLD);
        expect((await store.put('p', sk, content)).version).toBe(1);
      }),
      { numRuns: 30 },
    );
    await expectOnlyItemFiles();
  });
});

describe('lock owners (property-based)', () => {
  it('tells a gone owner only from a record naming a dead process of this host', () => {
    const gone = deadPid();
    expect(lockOwnerIsGone(JSON.stringify({ pid: gone, host: hostname(), token: 't' }))).toBe(true);
    expect(lockOwnerIsGone(JSON.stringify({ pid: process.pid, host: hostname(), token: 't' }))).toBe(false);
    const record = fc.record({ pid: fc.oneof(fc.integer(), fc.constant(gone)), host: fc.string() });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          record.map((r) => JSON.stringify(r)),
        ),
        (content) => {
          fc.pre(!content.includes(hostname()));
          expect(lockOwnerIsGone(content)).toBe(false);
        },
      ),
    );
  });
});

describe('file names (property-based)', () => {
  const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 });

  it('round-trip and use only lower-case-safe characters; a key too long for that is a digest', () => {
    fc.assert(
      fc.property(key, (k) => {
        const name = encodeName(k);
        if (name.startsWith('~')) {
          // Encoded, the key was too long for a file name: its digest names it (the key is in the file).
          expect(name).toMatch(/^~[0-9a-f]{64}$/);
          expect(decodeName(name)).toBeUndefined();
        } else {
          expect(name).toMatch(/^[a-z0-9_%A-F-]+$/);
          expect(decodeName(name)).toBe(k);
        }
      }),
      // Both forms, every run: a short key, and one whose encoding is too long (4-byte characters).
      { examples: [['plan-1'], ['𝅘𝅥𝅮'.repeat(60)]] },
    );
  });

  it('never collide, even on a case-insensitive file system', () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        fc.pre(a !== b);
        expect(encodeName(a).toLowerCase()).not.toBe(encodeName(b).toLowerCase());
      }),
    );
  });
});
