import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeName, encodeName, FileStateStore } from '#shared/adapters/file-state.ts';
import { ConflictError, ValidationError } from '#shared/errors.ts';

let dir: string;
let store: FileStateStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vp-state-'));
  store = new FileStateStore({ dir });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

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
    // No temporary file is left behind.
    for (const partition of await readdir(dir)) {
      expect((await readdir(join(dir, partition))).filter((n) => n.startsWith('.'))).toEqual([]);
    }
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

describe('file names (property-based)', () => {
  const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 });

  it('round-trip and use only lower-case-safe characters', () => {
    fc.assert(
      fc.property(key, (k) => {
        const name = encodeName(k);
        expect(name).toMatch(/^[a-z0-9_%A-F-]+$/);
        expect(decodeName(name)).toBe(k);
      }),
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
