import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { NotFoundError, UpstreamError, ValidationError } from '../errors.ts';
import type { ObjectStore } from '../ports.ts';
import { awsCall, awsErrorName, awsStatusCode, mapAwsError } from './aws-errors.ts';

/** S3's smallest part but the last: memory is a couple of these whatever the object's size. */
const UPLOAD_PART_BYTES = 5 * 1024 * 1024;

/**
 * The ObjectStore port on S3 (or any S3-compatible endpoint: the SDK takes `AWS_ENDPOINT_URL_S3`
 * from the environment, which is how the local runtime points it at its emulator).
 */
export class S3ObjectStore implements ObjectStore {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(options: { client: S3Client; bucket: string }) {
    this.#s3 = options.client;
    this.#bucket = options.bucket;
  }

  async put(key: string, body: string | Uint8Array, contentType?: string): Promise<void> {
    await awsCall('S3 PutObject', () =>
      this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: body,
          ...(contentType ? { ContentType: contentType } : {}),
        }),
      ),
    );
  }

  /**
   * Streams `body` into `key` as a multipart upload (one PutObject when it is smaller than a part),
   * with the SDK's own uploader: at most `queueSize` parts in memory, and the upload aborted if the
   * stream or a part fails (the bucket's lifecycle rule aborts what a crash leaves).
   */
  async upload(key: string, body: Readable, contentType: string): Promise<void> {
    // Imported here: only the backup worker uploads, and an external's static import loads at cold start.
    const { Upload } = await import('@aws-sdk/lib-storage');
    const upload = new Upload({
      client: this.#s3,
      params: { Bucket: this.#bucket, Key: key, Body: body, ContentType: contentType },
      partSize: UPLOAD_PART_BYTES,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await awsCall('S3 upload', () => upload.done());
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Uint8Array> {
    if (range) checkRange(range);
    const out = await this.#getObject(key, range ? `bytes=${range.start}-${range.end}` : undefined);
    if (!out.Body) throw new UpstreamError(`S3 GetObject answered no body for "${key}"`);
    return awsCall('S3 GetObject', () => out.Body!.transformToByteArray());
  }

  async stream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const out = await this.#getObject(key);
    const body = out.Body as unknown;
    // In Node the body is a Readable, which iterates its chunks as Buffers (Uint8Arrays).
    if (body === null || typeof body !== 'object' || !(Symbol.asyncIterator in body)) {
      throw new UpstreamError(`S3 GetObject answered no readable body for "${key}"`);
    }
    return body as AsyncIterable<Uint8Array>;
  }

  async head(key: string): Promise<{ size: number; etag?: string } | undefined> {
    try {
      const out = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { size: out.ContentLength ?? 0, ...(out.ETag ? { etag: out.ETag } : {}) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw mapAwsError(err, 'S3 HeadObject');
    }
  }

  async delete(key: string): Promise<void> {
    await awsCall('S3 DeleteObject', () =>
      this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })),
    );
  }

  async ping(): Promise<void> {
    await awsCall('S3 HeadBucket', () => this.#s3.send(new HeadBucketCommand({ Bucket: this.#bucket })));
  }

  async #getObject(key: string, range?: string): Promise<GetObjectCommandOutput> {
    try {
      return await this.#s3.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: key, ...(range ? { Range: range } : {}) }),
      );
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(`object "${key}" does not exist`);
      if (awsErrorName(err) === 'InvalidRange' || awsStatusCode(err) === 416) {
        throw ValidationError.field('range', `${range} is not satisfiable for object "${key}"`);
      }
      throw mapAwsError(err, 'S3 GetObject');
    }
  }
}

function checkRange(range: { start: number; end: number }): void {
  if (!Number.isSafeInteger(range.start) || range.start < 0) {
    throw ValidationError.field('range.start', 'must be an integer ≥ 0');
  }
  if (!Number.isSafeInteger(range.end) || range.end < range.start) {
    throw ValidationError.field('range.end', 'must be an integer ≥ range.start');
  }
}

/** HeadObject answers a bare 404 (`NotFound`); GetObject names it `NoSuchKey`. */
function isMissing(err: unknown): boolean {
  const name = awsErrorName(err);
  return (
    name === 'NoSuchKey' || name === 'NotFound' || (awsStatusCode(err) === 404 && name !== 'NoSuchBucket')
  );
}
