import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, startS3Server } from '#local/s3/server.ts';
import { clientFor } from './support.ts';

/**
 * "Streams, not loads": a 64 MiB object goes up and comes back in ranges while the buffers
 * alive in this process (server and client together) stay far below its size. Peak growth of
 * `arrayBuffers` is sampled every MiB, before forcing a collection, so both buffers held on
 * purpose and transient whole-object copies show up.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const LIMIT = 16 * MiB;

/** A deterministic 64 KiB pattern, repeated; byte i of the object is pattern[i % 65536]. */
const pattern = Buffer.alloc(64 * 1024);
for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 31 + 7) % 256;

describe('local S3 memory', () => {
  let dir: string;
  let server: S3Server;
  let s3: S3Client;
  let baseline = 0;
  let peak = 0;

  /** Records the current arrayBuffers, then collects so the next sample sees only live memory. */
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
    gc();
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-s3-mem-'));
    server = await startS3Server({ dataDir: dir, buckets: ['mem-bucket'], log: () => {} });
    s3 = clientFor(server.url);
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads a 64 MiB stream (aws-chunked) and reads it back by ranges with bounded buffers', async () => {
    gc();
    baseline = process.memoryUsage().arrayBuffers;
    const expected = createHash('md5');
    async function* body() {
      for (let sent = 0; sent < SIZE; sent += pattern.length) {
        if (sent % MiB === 0) sample();
        expected.update(pattern);
        yield Buffer.from(pattern);
      }
    }
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'mem-bucket',
        Key: 'big.bin',
        Body: Readable.from(body()),
        ContentLength: SIZE,
      }),
    );
    expect(put.ETag).toBe(`"${expected.digest('hex')}"`);
    sample();

    // Sixteen 4 MiB ranges, each consumed as a stream and checked against the pattern.
    const RANGE = 4 * MiB;
    for (let start = 0; start < SIZE; start += RANGE) {
      const res = await s3.send(
        new GetObjectCommand({
          Bucket: 'mem-bucket',
          Key: 'big.bin',
          Range: `bytes=${start}-${start + RANGE - 1}`,
        }),
      );
      expect(res.ContentLength).toBe(RANGE);
      let offset = start;
      let sinceSample = 0;
      for await (const chunk of res.Body as AsyncIterable<Buffer>) {
        for (let i = 0; i < chunk.length; i += 4093)
          expect(chunk[i]).toBe(pattern[(offset + i) % pattern.length]);
        offset += chunk.length;
        sinceSample += chunk.length;
        if (sinceSample >= MiB) {
          sample();
          sinceSample = 0;
        }
      }
      expect(offset).toBe(start + RANGE);
      sample();
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(LIMIT);
  });
});
