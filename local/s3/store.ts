import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { ChecksumAlgorithm } from './protocol.ts';

/**
 * The local S3's file store. Nothing of an object is ever held in memory: bodies are streamed
 * to a temporary file, then committed.
 *
 * Layout under the root:
 *   buckets/<bucket>/keys/<name>.json   the object's metadata ("sidecar"), naming its data file
 *   buckets/<bucket>/data/<uuid>        the object's bytes, never rewritten
 *   uploads/<uploadId>/upload.json      a multipart upload; part-<n>.json + <uuid> files per part
 *   tmp/                                bodies being received (emptied at open)
 *
 * `<name>` is `k` + the key's UTF-8 bytes in lowercase hex (safe on any file system, case-folding
 * ones included, and reversible so listings need no sidecar reads), or `h` + its SHA-256 when
 * that would be too long for a file name (the key is then read from the sidecar).
 *
 * A commit writes a new data file, then replaces the sidecar atomically (temp + rename), then
 * removes the previous data file: a reader sees either the old or the new object, never a mix,
 * and a reader that has opened a data file keeps reading it even if it is replaced meanwhile.
 */

export interface StoredChecksum {
  algorithm: ChecksumAlgorithm;
  value: string;
}

export interface ObjectFields {
  contentType: string;
  /** Content-Encoding, Content-Disposition, Cache-Control, Content-Language, Expires as sent. */
  headers: Record<string, string>;
  /** `x-amz-meta-*` values, by lowercase name without the prefix. */
  metadata: Record<string, string>;
}

export interface ObjectMeta extends ObjectFields {
  key: string;
  size: number;
  /** Unquoted: the hex MD5, or `<hex>-<parts>` for a multipart object. */
  etag: string;
  lastModified: number;
  checksum?: StoredChecksum;
  /** Name of the data file. */
  data: string;
}

export interface UploadInfo extends ObjectFields {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: number;
}

export interface PartMeta {
  partNumber: number;
  size: number;
  /** Unquoted hex MD5. */
  etag: string;
  lastModified: number;
  data: string;
}

const fieldsSchema = {
  contentType: z.string(),
  headers: z.record(z.string(), z.string()),
  metadata: z.record(z.string(), z.string()),
};
const objectMetaSchema = z.object({
  ...fieldsSchema,
  key: z.string(),
  size: z.number().int().nonnegative(),
  etag: z.string(),
  lastModified: z.number(),
  checksum: z
    .object({ algorithm: z.enum(['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256']), value: z.string() })
    .optional(),
  data: z.string().regex(/^[0-9a-f-]{36}$/),
});
const uploadSchema = z.object({
  ...fieldsSchema,
  uploadId: z.string(),
  bucket: z.string(),
  key: z.string(),
  initiated: z.number(),
});
const partSchema = z.object({
  partNumber: z.number().int(),
  size: z.number().int().nonnegative(),
  etag: z.string(),
  lastModified: z.number(),
  data: z.string().regex(/^[0-9a-f-]{36}$/),
});

const MAX_HEX_NAME = 200;
const UPLOAD_ID = /^[0-9a-f]{32}$/;

export function keyFileName(key: string): string {
  const hex = Buffer.from(key, 'utf8').toString('hex');
  return hex.length <= MAX_HEX_NAME ? `k${hex}` : `h${createHash('sha256').update(key).digest('hex')}`;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

async function readJson<T>(path: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  return schema.parse(JSON.parse(text));
}

/** UTF-8 byte order, S3's listing order (differs from UTF-16 order for astral characters). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class ObjectStore {
  readonly root: string;
  readonly #buckets = new Map<string, Date>();
  readonly #locks = new Map<string, Promise<unknown>>();

  private constructor(root: string) {
    this.root = root;
  }

  /** Opens (creating) the store at `root`, dropping temp files and data files no sidecar names. */
  static async open(root: string): Promise<ObjectStore> {
    const store = new ObjectStore(root);
    await rm(join(root, 'tmp'), { recursive: true, force: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    await mkdir(join(root, 'buckets'), { recursive: true });
    await mkdir(join(root, 'uploads'), { recursive: true });
    for (const bucket of await readdir(join(root, 'buckets'))) {
      // A bucket whose creation was cut short gets its folders now.
      await mkdir(join(root, 'buckets', bucket, 'keys'), { recursive: true });
      await mkdir(join(root, 'buckets', bucket, 'data'), { recursive: true });
      const info = await stat(join(root, 'buckets', bucket));
      store.#buckets.set(bucket, info.birthtime.getTime() > 0 ? info.birthtime : info.mtime);
      await store.#sweep(join(root, 'buckets', bucket, 'keys'), join(root, 'buckets', bucket, 'data'));
    }
    for (const id of await readdir(join(root, 'uploads'))) {
      const dir = join(root, 'uploads', id);
      await store.#sweep(dir, dir, (name) => name.startsWith('part-'));
    }
    return store;
  }

  /** A crash between a commit's steps leaves an unreferenced data file: remove those. */
  async #sweep(metaDir: string, dataDir: string, isMeta = (_name: string) => true): Promise<void> {
    const referenced = new Set<string>();
    for (const name of await readdir(metaDir)) {
      if (!name.endsWith('.json') || !isMeta(name)) continue;
      const text = await readFile(join(metaDir, name), 'utf8');
      const data = (JSON.parse(text) as { data?: unknown }).data;
      if (typeof data === 'string') referenced.add(data);
    }
    for (const name of await readdir(dataDir)) {
      if (/^[0-9a-f-]{36}$/.test(name) && !referenced.has(name))
        await rm(join(dataDir, name), { force: true });
    }
  }

  /** Runs `fn` after every earlier call for the same name has finished (commits of one key). */
  async #locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(name) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(name) === tail) this.#locks.delete(name);
    }
  }

  async #writeJson(path: string, value: unknown): Promise<void> {
    const temp = join(this.root, 'tmp', `${randomUUID()}.json`);
    await writeFile(temp, JSON.stringify(value), { flush: true });
    await rename(temp, path);
  }

  /** Replaces the record at `metaPath` with `record` whose bytes are `tempPath`, durably. */
  async #commit<T extends { data: string }>(
    metaPath: string,
    dataDir: string,
    tempPath: string,
    record: Omit<T, 'data'>,
  ): Promise<T> {
    return this.#locked(metaPath, async () => {
      const data = randomUUID();
      await rename(tempPath, join(dataDir, data));
      let previous: string | undefined;
      try {
        previous = (JSON.parse(await readFile(metaPath, 'utf8')) as { data?: string }).data;
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      const full = { ...record, data } as T;
      await this.#writeJson(metaPath, full);
      if (previous) await rm(join(dataDir, previous), { force: true });
      return full;
    });
  }

  // Buckets

  hasBucket(bucket: string): boolean {
    return this.#buckets.has(bucket);
  }

  listBuckets(): Array<{ name: string; created: Date }> {
    return [...this.#buckets]
      .map(([name, created]) => ({ name, created }))
      .sort((a, b) => compareKeys(a.name, b.name));
  }

  /** Creates the bucket if absent; the name must already be validated (it becomes a directory). */
  async createBucket(bucket: string): Promise<void> {
    if (this.#buckets.has(bucket)) return;
    await mkdir(join(this.root, 'buckets', bucket, 'keys'), { recursive: true });
    await mkdir(join(this.root, 'buckets', bucket, 'data'), { recursive: true });
    this.#buckets.set(bucket, new Date());
  }

  #keys(bucket: string): string {
    return join(this.root, 'buckets', bucket, 'keys');
  }

  #data(bucket: string): string {
    return join(this.root, 'buckets', bucket, 'data');
  }

  // Bodies

  /**
   * Streams `source` through `transforms` into a new temp file, flushed to disk; returns its
   * path. The file is removed if anything fails.
   */
  async receive(source: Readable, ...transforms: Transform[]): Promise<string> {
    const path = join(this.root, 'tmp', randomUUID());
    try {
      await pipeline([source, ...transforms, createWriteStream(path, { flags: 'wx', flush: true })]);
      return path;
    } catch (err) {
      await this.discard(path);
      throw err;
    }
  }

  async discard(tempPath: string): Promise<void> {
    await rm(tempPath, { force: true });
  }

  // Objects

  async head(bucket: string, key: string): Promise<ObjectMeta | undefined> {
    return readJson(join(this.#keys(bucket), `${keyFileName(key)}.json`), objectMetaSchema);
  }

  /**
   * The object's metadata and an open handle on its bytes (the caller closes it). Opened after
   * reading the sidecar; if a commit removed that data file in between, read again.
   */
  async open(bucket: string, key: string): Promise<{ meta: ObjectMeta; handle: FileHandle } | undefined> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const meta = await this.head(bucket, key);
      if (!meta) return undefined;
      try {
        return { meta, handle: await open(join(this.#data(bucket), meta.data), 'r') };
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
    throw new Error(`s3://${bucket}/${key} keeps changing while being opened`);
  }

  async put(
    bucket: string,
    key: string,
    tempPath: string,
    facts: Omit<ObjectMeta, 'data' | 'key' | 'lastModified'>,
  ): Promise<ObjectMeta> {
    return this.#commit<ObjectMeta>(
      join(this.#keys(bucket), `${keyFileName(key)}.json`),
      this.#data(bucket),
      tempPath,
      {
        ...facts,
        key,
        lastModified: Date.now(),
      },
    );
  }

  /** Removes the object; false if there was none. */
  async delete(bucket: string, key: string): Promise<boolean> {
    const metaPath = join(this.#keys(bucket), `${keyFileName(key)}.json`);
    return this.#locked(metaPath, async () => {
      const meta = await readJson(metaPath, objectMetaSchema);
      if (!meta) return false;
      await rm(metaPath, { force: true });
      await rm(join(this.#data(bucket), meta.data), { force: true });
      return true;
    });
  }

  /** Every key of the bucket, in S3's order. Reads the directory, plus the sidecar of long keys. */
  async keys(bucket: string): Promise<string[]> {
    const dir = this.#keys(bucket);
    const keys: string[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      if (name.startsWith('k')) keys.push(Buffer.from(name.slice(1, -5), 'hex').toString('utf8'));
      else if (name.startsWith('h')) {
        const meta = await readJson(join(dir, name), objectMetaSchema);
        if (meta) keys.push(meta.key);
      }
    }
    return keys.sort(compareKeys);
  }

  // Multipart uploads

  #upload(uploadId: string): string {
    return join(this.root, 'uploads', uploadId);
  }

  async createUpload(bucket: string, key: string, fields: ObjectFields): Promise<UploadInfo> {
    const uploadId = randomBytes(16).toString('hex');
    await mkdir(this.#upload(uploadId));
    const info: UploadInfo = { ...fields, uploadId, bucket, key, initiated: Date.now() };
    await this.#writeJson(join(this.#upload(uploadId), 'upload.json'), info);
    return info;
  }

  async getUpload(uploadId: string): Promise<UploadInfo | undefined> {
    if (!UPLOAD_ID.test(uploadId)) return undefined;
    return readJson(join(this.#upload(uploadId), 'upload.json'), uploadSchema);
  }

  async putPart(
    uploadId: string,
    partNumber: number,
    tempPath: string,
    facts: Omit<PartMeta, 'data' | 'partNumber' | 'lastModified'>,
  ): Promise<PartMeta> {
    const dir = this.#upload(uploadId);
    return this.#commit<PartMeta>(join(dir, `part-${partNumber}.json`), dir, tempPath, {
      ...facts,
      partNumber,
      lastModified: Date.now(),
    });
  }

  /** The upload's parts by number, ascending. */
  async parts(uploadId: string): Promise<PartMeta[]> {
    const dir = this.#upload(uploadId);
    const parts: PartMeta[] = [];
    for (const name of await readdir(dir)) {
      if (!/^part-\d+\.json$/.test(name)) continue;
      const part = await readJson(join(dir, name), partSchema);
      if (part) parts.push(part);
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /** Concatenates the given parts (already validated) into a temp file, streaming each. */
  async concatenate(uploadId: string, parts: readonly PartMeta[]): Promise<string> {
    const path = join(this.root, 'tmp', randomUUID());
    const dir = this.#upload(uploadId);
    // One pipeline over every part in turn (a pipeline per part would stack listeners on `out`).
    async function* bytes() {
      for (const part of parts) yield* createReadStream(join(dir, part.data));
    }
    try {
      await pipeline(bytes(), createWriteStream(path, { flags: 'wx', flush: true }));
      return path;
    } catch (err) {
      await this.discard(path);
      throw err;
    }
  }

  async removeUpload(uploadId: string): Promise<void> {
    if (UPLOAD_ID.test(uploadId)) await rm(this.#upload(uploadId), { recursive: true, force: true });
  }
}
