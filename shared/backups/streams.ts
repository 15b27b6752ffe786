import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

/**
 * Streams between Qdrant, zlib and S3: every stage is a Node stream with backpressure, so memory
 * is one page of points, zlib's window and the upload's parts, whatever the collection's size.
 */

export interface Digest {
  bytes: number;
  sha256: string;
}

/** A pass-through that counts and hashes what goes through it. */
function digesting(): { stream: Transform; digest: () => Digest } {
  const hash = createHash('sha256');
  let bytes = 0;
  let sha256: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  return {
    stream,
    digest: () => {
      sha256 ??= hash.digest('hex');
      return { bytes, sha256 };
    },
  };
}

/**
 * `source` gzipped as a readable stream for an upload, and a promise of the compressed bytes'
 * count and sha256 (what is stored), settled when the stream has ended (or failed).
 */
export function gzipped(source: AsyncIterable<Buffer>): { body: Readable; done: Promise<Digest> } {
  const counter = digesting();
  const done = pipeline(Readable.from(source), createGzip(), counter.stream).then(counter.digest);
  // The consumer (the upload) sees a failure as the stream's error; the caller sees it through `done`.
  done.catch(() => undefined);
  return { body: counter.stream, done };
}

/**
 * `compressed` gunzipped as a readable stream, and a promise of the compressed bytes' count and
 * sha256 (to check against the manifest), settled when it has all been read.
 */
export function gunzipped(compressed: AsyncIterable<Uint8Array>): { body: Readable; done: Promise<Digest> } {
  const counter = digesting();
  const gunzip = createGunzip();
  const done = pipeline(Readable.from(compressed), counter.stream, gunzip).then(counter.digest);
  done.catch(() => undefined);
  return { body: gunzip, done };
}
