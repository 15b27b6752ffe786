import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, startS3Server } from '#infra/local/s3/server.ts';
import { S3ObjectStore } from '#shared/adapters/s3.ts';
import { NotFoundError, UpstreamError } from '#shared/errors.ts';
import { clientFor } from './support.ts';

/** The platform's S3 adapter (the `ObjectStore` port) against the local S3 the runtime serves. */

describe('S3ObjectStore on the local S3', () => {
  let dir: string;
  let server: S3Server;
  let s3: S3Client;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-s3-adapter-'));
    server = await startS3Server({ dataDir: dir, buckets: ['exports'], log: () => {} });
    s3 = clientFor(server.url);
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('puts, heads, gets whole and by inclusive range, streams and deletes', async () => {
    const store = new S3ObjectStore({ client: s3, bucket: 'exports' });
    const text = 'line one\nline two\nline three\n';
    await store.put('uploads/a.jsonl', text, 'application/x-ndjson');
    expect(await store.head('uploads/a.jsonl')).toMatchObject({
      size: Buffer.byteLength(text),
      etag: expect.any(String),
    });
    expect(Buffer.from(await store.get('uploads/a.jsonl')).toString()).toBe(text);
    expect(Buffer.from(await store.get('uploads/a.jsonl', { start: 5, end: 12 })).toString()).toBe(
      'one\nline',
    );
    const chunks: Uint8Array[] = [];
    for await (const chunk of await store.stream('uploads/a.jsonl')) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe(text);
    await store.delete('uploads/a.jsonl');
    expect(await store.head('uploads/a.jsonl')).toBeUndefined();
    await expect(store.get('uploads/a.jsonl')).rejects.toThrow(NotFoundError);
  });

  it('pings its bucket, and fails the ping of a missing bucket', async () => {
    await expect(new S3ObjectStore({ client: s3, bucket: 'exports' }).ping()).resolves.toBeUndefined();
    await expect(new S3ObjectStore({ client: s3, bucket: 'no-such-bucket' }).ping()).rejects.toThrow(
      UpstreamError,
    );
  });
});
