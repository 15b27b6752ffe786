import { constants as fsConstants } from 'node:fs';
import { type FileHandle, open, readFile, rename, truncate, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { PointId } from './ids.ts';
import type { Payload } from './payload.ts';

/**
 * On-disk format of one collection (all integers little-endian):
 *
 * `wal.log`: a sequence of records `[u32 bodyLength][u32 crc32(body)][body]`, body =
 * `[u8 kind][f64 operationId][u32 headerLength][header JSON][float32 vectors]`. Each write is
 * appended and fsync'd before it is applied and acknowledged. A record that is cut short or
 * fails its checksum ends the log (a torn write at a crash): the file is truncated there.
 *
 * `snapshot.bin`: `"QDRSNAP1"`, `[u32 headerLength][header JSON]` (last operation id, dimension,
 * count, ids, versions, payload schema), then per point `[u32 length][payload JSON]`, then the
 * `count × dim` float32 rows, then `[u32 crc32 of everything before]`. It is written to a
 * temporary file, fsync'd and renamed over the previous one; after that the log is emptied.
 * Loading = snapshot, then every log record with a larger operation id.
 */

export type WalRecord =
  | { kind: 'upsert'; opId: number; ids: PointId[]; payloads: Payload[]; vectors: Float32Array }
  | { kind: 'delete'; opId: number; ids: PointId[] }
  | { kind: 'set_payload'; opId: number; ids: PointId[]; payload: Payload; key?: string }
  | { kind: 'overwrite_payload'; opId: number; ids: PointId[]; payload: Payload; key?: string }
  | { kind: 'delete_payload'; opId: number; ids: PointId[]; keys: string[] }
  | { kind: 'clear_payload'; opId: number; ids: PointId[] }
  | { kind: 'create_index'; opId: number; field: string; schema: unknown }
  | { kind: 'delete_index'; opId: number; field: string };

const KINDS = [
  'upsert',
  'delete',
  'set_payload',
  'overwrite_payload',
  'delete_payload',
  'clear_payload',
  'create_index',
  'delete_index',
] as const satisfies readonly WalRecord['kind'][];

const FRAME_HEADER = 8;
const BODY_HEADER = 13;

export function encodeWalRecord(record: WalRecord): Buffer {
  const { kind, opId, ...rest } = record;
  const vectors = record.kind === 'upsert' ? record.vectors : undefined;
  if ('vectors' in rest) delete (rest as { vectors?: unknown }).vectors;
  const header = Buffer.from(JSON.stringify(rest), 'utf8');
  const tailLength = vectors === undefined ? 0 : vectors.byteLength;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + BODY_HEADER + header.length + tailLength);
  const body = frame.subarray(FRAME_HEADER);
  body.writeUInt8(KINDS.indexOf(kind), 0);
  body.writeDoubleLE(opId, 1);
  body.writeUInt32LE(header.length, 9);
  header.copy(body, BODY_HEADER);
  if (vectors !== undefined) {
    Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength).copy(
      body,
      BODY_HEADER + header.length,
    );
  }
  frame.writeUInt32LE(body.length, 0);
  frame.writeUInt32LE(crc32(body), 4);
  return frame;
}

function decodeBody(body: Buffer): WalRecord | undefined {
  if (body.length < BODY_HEADER) return undefined;
  const kind = KINDS[body.readUInt8(0)];
  const opId = body.readDoubleLE(1);
  const headerLength = body.readUInt32LE(9);
  if (kind === undefined || BODY_HEADER + headerLength > body.length) return undefined;
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(body.toString('utf8', BODY_HEADER, BODY_HEADER + headerLength));
  } catch {
    return undefined;
  }
  const record = { ...header, kind, opId } as WalRecord;
  if (record.kind === 'upsert') {
    const tail = body.subarray(BODY_HEADER + headerLength);
    if (tail.length % 4 !== 0) return undefined;
    const vectors = new Float32Array(tail.length / 4);
    Buffer.from(vectors.buffer).set(tail);
    record.vectors = vectors;
  }
  return record;
}

/** fsync a directory so that a rename or a new file in it survives a crash. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path` with `data` atomically (temporary file, fsync, rename, fsync of the directory). */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await syncDirectory(dirname(path));
}

export class WriteAheadLog {
  private handle: FileHandle;
  private bytes: number;
  /** Set when a failed append could not be rolled back: the log refuses further writes. */
  private broken = false;

  private constructor(handle: FileHandle, bytes: number) {
    this.handle = handle;
    this.bytes = bytes;
  }

  /** Size of the log in bytes. */
  get size(): number {
    return this.bytes;
  }

  /**
   * Opens (creating if needed) the log at `path`, passing every intact record to `onRecord` in
   * order, and cuts off a torn tail so that new records follow the last intact one.
   */
  static async open(path: string, onRecord: (record: WalRecord) => void): Promise<WriteAheadLog> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      data = Buffer.alloc(0);
    }
    let offset = 0;
    while (offset + FRAME_HEADER <= data.length) {
      const length = data.readUInt32LE(offset);
      const end = offset + FRAME_HEADER + length;
      if (end > data.length) break;
      const body = data.subarray(offset + FRAME_HEADER, end);
      if (crc32(body) !== data.readUInt32LE(offset + 4)) break;
      const record = decodeBody(body);
      if (record === undefined) break;
      onRecord(record);
      offset = end;
    }
    if (offset < data.length) await truncate(path, offset);
    const handle = await open(path, 'a');
    await handle.sync();
    await syncDirectory(dirname(path));
    return new WriteAheadLog(handle, offset);
  }

  /** Appends one record and fsyncs it: when this resolves, the record survives a crash. */
  async append(record: WalRecord): Promise<void> {
    if (this.broken) throw new Error('the write-ahead log is unusable after a failed write');
    const frame = encodeWalRecord(record);
    try {
      await this.handle.write(frame);
      await this.handle.datasync();
    } catch (err) {
      // A partial frame left in place would hide every later record at the next start.
      try {
        await this.handle.truncate(this.bytes);
      } catch {
        this.broken = true;
      }
      throw err;
    }
    this.bytes += frame.length;
  }

  /** Empties the log (after a snapshot made its records redundant). */
  async clear(): Promise<void> {
    await this.handle.truncate(0);
    await this.handle.sync();
    this.bytes = 0;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

export interface SnapshotState {
  lastOpId: number;
  dim: number;
  count: number;
  ids: PointId[];
  versions: number[];
  payloads: Payload[];
  /** At least `count * dim` floats; row i at i * dim. */
  rows: Float32Array;
  payloadSchema: Record<string, unknown>;
}

const SNAPSHOT_MAGIC = Buffer.from('QDRSNAP1', 'ascii');
const WRITE_CHUNK = 8 * 1024 * 1024;

export const SNAPSHOT_FILE = 'snapshot.bin';
export const WAL_FILE = 'wal.log';

/** Writes the snapshot atomically; returns its size in bytes. */
export async function writeSnapshot(directory: string, state: SnapshotState): Promise<number> {
  const path = join(directory, SNAPSHOT_FILE);
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, 'w');
  let crc = 0;
  let size = 0;
  const write = async (chunk: Buffer): Promise<void> => {
    crc = crc32(chunk, crc);
    size += chunk.length;
    await handle.write(chunk);
  };
  try {
    const header = Buffer.from(
      JSON.stringify({
        lastOpId: state.lastOpId,
        dim: state.dim,
        count: state.count,
        payloadSchema: state.payloadSchema,
        ids: state.ids.slice(0, state.count),
        versions: state.versions.slice(0, state.count),
      }),
      'utf8',
    );
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32LE(header.length, 0);
    await write(Buffer.concat([SNAPSHOT_MAGIC, length, header]));
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for (let i = 0; i < state.count; i++) {
      const json = Buffer.from(JSON.stringify(state.payloads[i]), 'utf8');
      const prefix = Buffer.allocUnsafe(4);
      prefix.writeUInt32LE(json.length, 0);
      pending.push(prefix, json);
      pendingBytes += 4 + json.length;
      if (pendingBytes >= WRITE_CHUNK) {
        await write(Buffer.concat(pending));
        pending = [];
        pendingBytes = 0;
      }
    }
    if (pending.length > 0) await write(Buffer.concat(pending));
    const vectors = Buffer.from(state.rows.buffer, state.rows.byteOffset, state.count * state.dim * 4);
    for (let offset = 0; offset < vectors.length; offset += WRITE_CHUNK) {
      await write(vectors.subarray(offset, Math.min(vectors.length, offset + WRITE_CHUNK)));
    }
    const trailer = Buffer.allocUnsafe(4);
    trailer.writeUInt32LE(crc, 0);
    await handle.write(trailer);
    size += 4;
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(temporary, path);
  await syncDirectory(directory);
  return size;
}

export class CorruptSnapshotError extends Error {}

/** Reads the snapshot of `directory`, or undefined when there is none yet. */
export async function readSnapshot(
  directory: string,
  capacityFor: (count: number) => number,
): Promise<(SnapshotState & { bytes: number }) | undefined> {
  let data: Buffer;
  try {
    data = await readFile(join(directory, SNAPSHOT_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const path = join(directory, SNAPSHOT_FILE);
  const fail = (why: string): never => {
    throw new CorruptSnapshotError(`${path}: ${why}`);
  };
  if (data.length < 16 || !data.subarray(0, 8).equals(SNAPSHOT_MAGIC)) fail('not a snapshot');
  if (crc32(data.subarray(0, data.length - 4)) !== data.readUInt32LE(data.length - 4))
    fail('checksum mismatch');
  const headerLength = data.readUInt32LE(8);
  let offset = 12 + headerLength;
  const header = JSON.parse(data.toString('utf8', 12, offset)) as Omit<SnapshotState, 'rows' | 'payloads'>;
  const payloads: Payload[] = new Array(header.count);
  for (let i = 0; i < header.count; i++) {
    const length = data.readUInt32LE(offset);
    payloads[i] = JSON.parse(data.toString('utf8', offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  const floats = header.count * header.dim;
  if (offset + floats * 4 + 4 !== data.length) fail('unexpected size');
  const rows = new Float32Array(Math.max(capacityFor(header.count), header.count) * header.dim);
  Buffer.from(rows.buffer, 0, floats * 4).set(data.subarray(offset, offset + floats * 4));
  return { ...header, payloads, rows, bytes: data.length };
}
