import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CorruptSnapshotError,
  encodeWalRecord,
  readSnapshot,
  type WalRecord,
  WriteAheadLog,
  writeSnapshot,
} from '#local/qdrant/storage.ts';
import { tempDir } from './harness.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await dir.cleanup();
});

const records: WalRecord[] = [
  {
    kind: 'upsert',
    opId: 0,
    ids: [1, 'a3bb189e-8bf9-3888-9912-ace4e6543002'],
    payloads: [{ t: 'x' }, {}],
    vectors: Float32Array.from([0.5, -1, 2, 0.25]),
  },
  { kind: 'set_payload', opId: 1, ids: [1], payload: { k: [1, 2] }, key: 'n' },
  { kind: 'delete', opId: 2, ids: [1] },
  { kind: 'create_index', opId: 3, field: 't', schema: 'keyword' },
];

async function replay(path: string): Promise<{ wal: WriteAheadLog; seen: WalRecord[] }> {
  const seen: WalRecord[] = [];
  const wal = await WriteAheadLog.open(path, (record) => seen.push(record));
  return { wal, seen };
}

describe('write-ahead log', () => {
  it('replays every appended record, vectors included', async () => {
    const path = join(dir.path, 'wal.log');
    const { wal } = await replay(path);
    for (const record of records) await wal.append(record);
    await wal.close();
    const { wal: again, seen } = await replay(path);
    await again.close();
    expect(seen).toEqual(records);
  });

  it('drops a torn last record wherever the crash cut it, and appends after the intact ones', async () => {
    const path = join(dir.path, 'wal.log');
    const { wal } = await replay(path);
    for (const record of records) await wal.append(record);
    await wal.close();
    const full = await readFile(path);
    const lastLength = encodeWalRecord(records[records.length - 1]!).length;
    const intact = full.length - lastLength;
    for (let cut = intact; cut < full.length; cut++) {
      await writeFile(path, full.subarray(0, cut));
      const { wal: reopened, seen } = await replay(path);
      expect(seen).toEqual(records.slice(0, -1));
      expect((await stat(path)).size).toBe(intact);
      const next: WalRecord = { kind: 'clear_payload', opId: 9, ids: [2] };
      await reopened.append(next);
      await reopened.close();
      const { wal: third, seen: after } = await replay(path);
      await third.close();
      expect(after).toEqual([...records.slice(0, -1), next]);
    }
  });

  it('stops at a record whose checksum fails', async () => {
    const path = join(dir.path, 'wal.log');
    const { wal } = await replay(path);
    for (const record of records) await wal.append(record);
    await wal.close();
    const data = await readFile(path);
    const secondStart = encodeWalRecord(records[0]!).length;
    data[secondStart + 20] = data[secondStart + 20]! ^ 0xff;
    await writeFile(path, data);
    const { wal: reopened, seen } = await replay(path);
    await reopened.close();
    expect(seen).toEqual(records.slice(0, 1));
  });

  it('empties on clear', async () => {
    const path = join(dir.path, 'wal.log');
    const { wal } = await replay(path);
    await wal.append(records[0]!);
    await wal.clear();
    expect(wal.size).toBe(0);
    await wal.close();
    const { wal: reopened, seen } = await replay(path);
    await reopened.close();
    expect(seen).toEqual([]);
  });
});

describe('snapshot', () => {
  const state = {
    lastOpId: 41,
    dim: 3,
    count: 2,
    ids: [7, 'a3bb189e-8bf9-3888-9912-ace4e6543002'],
    versions: [3, 41],
    payloads: [{ a: 1 }, { nested: { list: [true, null, 'x'] } }],
    rows: Float32Array.from([1, 2, 3, 0.5, 0.25, -8, 99, 99, 99]),
    payloadSchema: { a: 'integer' },
  };

  it('reads back what was written, with room to grow', async () => {
    const bytes = await writeSnapshot(dir.path, state);
    const loaded = await readSnapshot(dir.path, (count) => count * 4);
    expect(loaded).toBeDefined();
    const { rows, bytes: size, ...rest } = loaded!;
    const { rows: _written, ...expected } = state;
    expect(size).toBe(bytes);
    expect(rest).toEqual(expected);
    expect(rows.length).toBe(8 * 3);
    expect([...rows.subarray(0, 6)]).toEqual([1, 2, 3, 0.5, 0.25, -8]);
  });

  it('is absent before the first compaction and refused when damaged', async () => {
    expect(await readSnapshot(dir.path, (count) => count)).toBeUndefined();
    await writeSnapshot(dir.path, state);
    const path = join(dir.path, 'snapshot.bin');
    const data = await readFile(path);
    data[20] = data[20]! ^ 1;
    await writeFile(path, data);
    await expect(readSnapshot(dir.path, (count) => count)).rejects.toBeInstanceOf(CorruptSnapshotError);
    await truncate(path, 10);
    await expect(readSnapshot(dir.path, (count) => count)).rejects.toBeInstanceOf(CorruptSnapshotError);
  });
});
