import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectCreatedEvent, ObjectFacts } from '#local/notifications.ts';
import { type S3Server, startS3Server } from '#local/s3/server.ts';
import { clientFor, errorCode, raw } from './support.ts';

const BUCKET = 'test-bucket';
const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

/** Rejects with the S3 error the SDK raised; fails the test if the call succeeded. */
async function s3Error(call: Promise<unknown>): Promise<S3ServiceException> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(S3ServiceException);
  return err as S3ServiceException;
}

describe('local S3 server through the AWS SDK', () => {
  let dir: string;
  let server: S3Server;
  let s3: S3Client;
  const created: Array<{ object: ObjectFacts; eventName: ObjectCreatedEvent }> = [];
  const notifier = {
    objectCreated: (object: ObjectFacts, eventName: ObjectCreatedEvent) =>
      created.push({ object, eventName }),
  };
  /** Content-Encoding of each request the SDK sent, by operation. */
  const sentEncodings: string[] = [];

  const start = async () => {
    server = await startS3Server({ dataDir: dir, buckets: [BUCKET], notifier, log: () => {} });
    s3 = clientFor(server.url);
    s3.middlewareStack.add(
      (next) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        sentEncodings.push(headers['content-encoding'] ?? '');
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordEncoding' },
    );
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-s3-'));
    await start();
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    created.length = 0;
    sentEncodings.length = 0;
  });

  const put = (Key: string, Body: string | Buffer, extra: Record<string, unknown> = {}) =>
    s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body, ...extra }));
  const text = async (Key: string, extra: Record<string, unknown> = {}) => {
    const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, ...extra }));
    return { res, body: await res.Body!.transformToString() };
  };

  it('puts, gets, heads and deletes an object with its metadata, and notifies the put', async () => {
    const putRes = await put('docs/a b+c.json', '{"a":1}', {
      ContentType: 'application/json',
      CacheControl: 'no-cache',
      Metadata: { owner: 'team-a', note: 'x y' },
    });
    expect(putRes.ETag).toBe(`"${md5('{"a":1}')}"`);
    expect(created).toEqual([
      {
        object: { bucket: BUCKET, key: 'docs/a b+c.json', size: 7, eTag: md5('{"a":1}') },
        eventName: 'ObjectCreated:Put',
      },
    ]);

    const { res, body } = await text('docs/a b+c.json');
    expect(body).toBe('{"a":1}');
    expect(res).toMatchObject({
      ContentType: 'application/json',
      CacheControl: 'no-cache',
      ContentLength: 7,
      ETag: `"${md5('{"a":1}')}"`,
      AcceptRanges: 'bytes',
      Metadata: { owner: 'team-a', note: 'x y' },
    });
    expect(res.LastModified).toBeInstanceOf(Date);

    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'docs/a b+c.json' }));
    expect(head).toMatchObject({
      ContentLength: 7,
      ContentType: 'application/json',
      Metadata: { owner: 'team-a' },
    });

    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'docs/a b+c.json' }));
    expect((await s3Error(text('docs/a b+c.json'))).name).toBe('NoSuchKey');
    const headMissing = await s3Error(
      s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'docs/a b+c.json' })),
    );
    expect(headMissing.$metadata.httpStatusCode).toBe(404);
    // Deleting a missing key is a success, as in S3.
    const again = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'docs/a b+c.json' }));
    expect(again.$metadata.httpStatusCode).toBe(204);
  });

  it('serves byte ranges (closed, open-ended, suffix, clamped) and 416 beyond the end', async () => {
    const data = 'abcdefghijklmnopqrstuvwxyz';
    await put('range.txt', data);
    const cases: Array<[string, string, string]> = [
      ['bytes=0-4', 'abcde', 'bytes 0-4/26'],
      ['bytes=20-', 'uvwxyz', 'bytes 20-25/26'],
      ['bytes=-3', 'xyz', 'bytes 23-25/26'],
      ['bytes=-100', data, 'bytes 0-25/26'],
      ['bytes=24-1000', 'yz', 'bytes 24-25/26'],
    ];
    for (const [Range, expected, contentRange] of cases) {
      const { res, body } = await text('range.txt', { Range, ChecksumMode: 'ENABLED' });
      expect(body, Range).toBe(expected);
      expect(res.ContentRange, Range).toBe(contentRange);
      expect(res.$metadata.httpStatusCode).toBe(206);
      // A whole-object checksum on a ranged answer would fail the SDK's validation.
      expect(res.ChecksumCRC32).toBeUndefined();
    }
    const whole = await text('range.txt', { ChecksumMode: 'ENABLED' });
    expect(whole.res.ChecksumCRC32).toBeDefined();
    const err = await s3Error(text('range.txt', { Range: 'bytes=26-' }));
    expect(err.name).toBe('InvalidRange');
    expect(err.$metadata.httpStatusCode).toBe(416);
  });

  it('honours If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since', async () => {
    const { ETag, $metadata } = await put('cond.txt', 'v1');
    expect($metadata.httpStatusCode).toBe(200);
    const later = new Date(Date.now() + 3_600_000);
    const earlier = new Date(Date.now() - 3_600_000);
    expect((await text('cond.txt', { IfMatch: ETag })).body).toBe('v1');
    expect((await s3Error(text('cond.txt', { IfMatch: '"nope"' }))).$metadata.httpStatusCode).toBe(412);
    expect((await s3Error(text('cond.txt', { IfNoneMatch: ETag }))).$metadata.httpStatusCode).toBe(304);
    expect((await s3Error(text('cond.txt', { IfModifiedSince: later }))).$metadata.httpStatusCode).toBe(304);
    expect((await text('cond.txt', { IfModifiedSince: earlier })).body).toBe('v1');
    expect((await s3Error(text('cond.txt', { IfUnmodifiedSince: earlier }))).$metadata.httpStatusCode).toBe(
      412,
    );
  });

  it('decodes aws-chunked stream bodies and verifies their trailing CRC32', async () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
    const res = await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'chunked.bin',
        Body: Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]),
        ContentLength: data.length,
      }),
    );
    expect(sentEncodings).toContain('aws-chunked');
    expect(res.ETag).toBe(`"${md5(data)}"`);
    expect(res.ChecksumCRC32).toBeDefined();
    const back = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'chunked.bin' }));
    expect(Buffer.from(await back.Body!.transformToByteArray()).equals(data)).toBe(true);

    const headers = {
      'content-encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-trailer': 'x-amz-checksum-crc32',
    };
    const wrongChecksum = await raw(server.url, 'PUT', `/${BUCKET}/trailer.bin`, {
      headers: { ...headers, 'x-amz-decoded-content-length': 3 },
      body: '3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n',
    });
    expect([wrongChecksum.status, errorCode(wrongChecksum.body)]).toEqual([400, 'BadDigest']);
    const garbage = await raw(server.url, 'PUT', `/${BUCKET}/trailer.bin`, {
      headers,
      body: 'zz;chunk-signature=0\r\nabc',
    });
    expect([garbage.status, errorCode(garbage.body)]).toEqual([400, 'IncompleteBody']);
    const shortBody = await raw(server.url, 'PUT', `/${BUCKET}/trailer.bin`, {
      headers: { ...headers, 'x-amz-decoded-content-length': 10 },
      body: '3\r\nabc\r\n0\r\n\r\n',
    });
    expect([shortBody.status, errorCode(shortBody.body)]).toEqual([400, 'IncompleteBody']);
    expect((await raw(server.url, 'HEAD', `/${BUCKET}/trailer.bin`)).status).toBe(404);
    expect(created.map((c) => c.object.key)).toEqual(['chunked.bin']);
  });

  it('refuses a body whose Content-MD5 does not match with BadDigest, storing nothing', async () => {
    const err = await s3Error(
      put('md5.txt', 'payload', { ContentMD5: Buffer.from(md5('other'), 'hex').toString('base64') }),
    );
    expect(err.name).toBe('BadDigest');
    expect((await s3Error(text('md5.txt'))).name).toBe('NoSuchKey');
    await put('md5.txt', 'payload', { ContentMD5: Buffer.from(md5('payload'), 'hex').toString('base64') });
    expect((await text('md5.txt')).body).toBe('payload');
    expect(created.map((c) => c.object.key)).toEqual(['md5.txt']);
  });

  describe('multipart uploads', () => {
    const MiB = 1024 * 1024;
    const start = async (Key: string) =>
      (
        await s3.send(
          new CreateMultipartUploadCommand({
            Bucket: BUCKET,
            Key,
            ContentType: 'text/plain',
            Metadata: { m: '1' },
          }),
        )
      ).UploadId!;
    const part = async (Key: string, UploadId: string, PartNumber: number, Body: Buffer) =>
      (await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber, Body }))).ETag!;
    const complete = (Key: string, UploadId: string, Parts: Array<{ ETag: string; PartNumber: number }>) =>
      s3.send(
        new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key, UploadId, MultipartUpload: { Parts } }),
      );

    it('assembles the parts in order with the S3 multipart ETag, notifying once', async () => {
      const first = Buffer.alloc(5 * MiB, 'a');
      const second = Buffer.from('the tail');
      const id = await start('multi.txt');
      const e2 = await part('multi.txt', id, 2, second);
      const e1 = await part('multi.txt', id, 1, first);
      const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'multi.txt', UploadId: id }));
      expect(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual([
        [1, e1, first.length],
        [2, e2, second.length],
      ]);
      expect(created).toEqual([]);
      const done = await complete('multi.txt', id, [
        { ETag: e1, PartNumber: 1 },
        { ETag: e2, PartNumber: 2 },
      ]);
      const expectedEtag = `${md5(Buffer.concat([Buffer.from(md5(first), 'hex'), Buffer.from(md5(second), 'hex')]))}-2`;
      expect(done.ETag).toBe(`"${expectedEtag}"`);
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'multi.txt' }));
      expect(got).toMatchObject({
        ContentType: 'text/plain',
        Metadata: { m: '1' },
        ContentLength: first.length + 8,
      });
      const body = Buffer.from(await got.Body!.transformToByteArray());
      expect(body.equals(Buffer.concat([first, second]))).toBe(true);
      expect(created).toEqual([
        {
          object: { bucket: BUCKET, key: 'multi.txt', size: first.length + 8, eTag: expectedEtag },
          eventName: 'ObjectCreated:CompleteMultipartUpload',
        },
      ]);
      // The upload is gone once completed.
      expect((await s3Error(complete('multi.txt', id, [{ ETag: e1, PartNumber: 1 }]))).name).toBe(
        'NoSuchUpload',
      );
    });

    it('refuses parts out of order, unknown ETags and small non-final parts', async () => {
      const id = await start('bad.txt');
      const e1 = await part('bad.txt', id, 1, Buffer.from('small'));
      const e2 = await part('bad.txt', id, 2, Buffer.from('tail'));
      const order = await s3Error(
        complete('bad.txt', id, [
          { ETag: e2, PartNumber: 2 },
          { ETag: e1, PartNumber: 1 },
        ]),
      );
      expect(order.name).toBe('InvalidPartOrder');
      const wrong = await s3Error(
        complete('bad.txt', id, [
          { ETag: e1, PartNumber: 1 },
          { ETag: `"${md5('other')}"`, PartNumber: 2 },
        ]),
      );
      expect(wrong.name).toBe('InvalidPart');
      const small = await s3Error(
        complete('bad.txt', id, [
          { ETag: e1, PartNumber: 1 },
          { ETag: e2, PartNumber: 2 },
        ]),
      );
      expect(small.name).toBe('EntityTooSmall');
      // A single small part is the last part: allowed.
      await complete('bad.txt', id, [{ ETag: e1, PartNumber: 1 }]);
      expect((await text('bad.txt')).body).toBe('small');
    });

    it('aborts an upload: its parts are gone and it cannot be used any more', async () => {
      const id = await start('aborted.txt');
      await part('aborted.txt', id, 1, Buffer.from('x'));
      await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'aborted.txt', UploadId: id }));
      expect((await s3Error(part('aborted.txt', id, 2, Buffer.from('y')))).name).toBe('NoSuchUpload');
      expect(await readdir(join(dir, 'uploads'))).not.toContain(id);
      expect(created).toEqual([]);
    });
  });

  it('copies objects, keeping or replacing metadata, and notifies the copy', async () => {
    await put('src/orig.txt', 'original', { ContentType: 'text/plain', Metadata: { k: 'v' } });
    created.length = 0;
    const copy = await s3.send(
      new CopyObjectCommand({ Bucket: BUCKET, Key: 'dst/kept.txt', CopySource: `${BUCKET}/src/orig.txt` }),
    );
    expect(copy.CopyObjectResult?.ETag).toBe(`"${md5('original')}"`);
    expect(await text('dst/kept.txt')).toMatchObject({
      body: 'original',
      res: { ContentType: 'text/plain', Metadata: { k: 'v' } },
    });
    await s3.send(
      new CopyObjectCommand({
        Bucket: BUCKET,
        Key: 'dst/replaced.txt',
        CopySource: `${BUCKET}/${encodeURIComponent('src/orig.txt')}`,
        MetadataDirective: 'REPLACE',
        ContentType: 'application/x-new',
        Metadata: { n: 'w' },
      }),
    );
    const replaced = await text('dst/replaced.txt');
    expect(replaced.res.ContentType).toBe('application/x-new');
    expect(replaced.res.Metadata).toEqual({ n: 'w' });
    expect(created.map((c) => [c.object.key, c.eventName])).toEqual([
      ['dst/kept.txt', 'ObjectCreated:Copy'],
      ['dst/replaced.txt', 'ObjectCreated:Copy'],
    ]);
    const self = await s3Error(
      s3.send(
        new CopyObjectCommand({ Bucket: BUCKET, Key: 'src/orig.txt', CopySource: `${BUCKET}/src/orig.txt` }),
      ),
    );
    expect(self.name).toBe('InvalidRequest');
    const missing = await s3Error(
      s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'dst/x', CopySource: `${BUCKET}/src/none` })),
    );
    expect(missing.name).toBe('NoSuchKey');
  });

  describe('listing', () => {
    // UTF-8 byte order: 'é' (0xC3 0xA9) comes after 'z'.
    const keys = [
      'list/a.txt',
      'list/b/1.txt',
      'list/b/2.txt',
      'list/c.txt',
      'list/d/x/y.txt',
      'list/z.txt',
      'list/é.txt',
    ];
    beforeAll(async () => {
      // Written out of order: the listing sorts.
      for (const key of [...keys].reverse()) await put(key, key);
    });

    it('lists v2 in UTF-8 order with prefix, delimiter, start-after and pagination', async () => {
      const all = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'list/' }));
      expect(all.Contents?.map((c) => c.Key)).toEqual(keys);
      expect(all.Contents?.[0]).toMatchObject({ Size: 'list/a.txt'.length, ETag: `"${md5('list/a.txt')}"` });
      expect(all.KeyCount).toBe(keys.length);

      const rolled = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'list/', Delimiter: '/' }),
      );
      expect(rolled.Contents?.map((c) => c.Key)).toEqual([
        'list/a.txt',
        'list/c.txt',
        'list/z.txt',
        'list/é.txt',
      ]);
      expect(rolled.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['list/b/', 'list/d/']);

      const after = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'list/', StartAfter: 'list/c.txt' }),
      );
      expect(after.Contents?.map((c) => c.Key)).toEqual(['list/d/x/y.txt', 'list/z.txt', 'list/é.txt']);

      for (const Delimiter of [undefined, '/']) {
        const seen: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await s3.send(
            new ListObjectsV2Command({
              Bucket: BUCKET,
              Prefix: 'list/',
              Delimiter,
              MaxKeys: 2,
              ContinuationToken: token,
            }),
          );
          pages++;
          seen.push(
            ...(page.Contents ?? []).map((c) => c.Key!),
            ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!),
          );
          expect(page.KeyCount).toBeLessThanOrEqual(2);
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        const expected = Delimiter
          ? [...rolled.Contents!.map((c) => c.Key!), ...rolled.CommonPrefixes!.map((p) => p.Prefix!)]
          : keys;
        expect(seen.sort()).toEqual([...expected].sort());
        expect(pages).toBe(Math.ceil(expected.length / 2));
      }
    });

    it('lists v1 with markers', async () => {
      const first = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'list/', MaxKeys: 3 }));
      expect(first.Contents?.map((c) => c.Key)).toEqual(keys.slice(0, 3));
      expect(first.IsTruncated).toBe(true);
      const rest = await s3.send(
        new ListObjectsCommand({
          Bucket: BUCKET,
          Prefix: 'list/',
          Marker: first.NextMarker ?? first.Contents!.at(-1)!.Key,
        }),
      );
      expect(rest.Contents?.map((c) => c.Key)).toEqual(keys.slice(3));
      expect(rest.IsTruncated).toBe(false);
    });

    it('deletes several objects in one request', async () => {
      const res = await s3.send(
        new DeleteObjectsCommand({
          Bucket: BUCKET,
          Delete: {
            Objects: [
              { Key: 'list/a.txt' },
              { Key: 'list/b/1.txt' },
              { Key: 'list/none' },
              { Key: 'list/../x' },
            ],
          },
        }),
      );
      expect(res.Deleted?.map((d) => d.Key)).toEqual(['list/a.txt', 'list/b/1.txt', 'list/none']);
      expect(res.Errors?.map((e) => [e.Key, e.Code])).toEqual([['list/../x', 'InvalidArgument']]);
      const left = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'list/' }));
      expect(left.Contents?.map((c) => c.Key)).toEqual(
        keys.filter((k) => k !== 'list/a.txt' && k !== 'list/b/1.txt'),
      );
    });
  });

  it('answers bucket operations and S3 errors for unknown buckets and unsupported operations', async () => {
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name)).toEqual([BUCKET]);
    expect((await s3.send(new HeadBucketCommand({ Bucket: BUCKET }))).$metadata.httpStatusCode).toBe(200);
    expect(
      (await s3Error(s3.send(new HeadBucketCommand({ Bucket: 'nope-bucket' })))).$metadata.httpStatusCode,
    ).toBe(404);
    expect((await s3Error(s3.send(new GetObjectCommand({ Bucket: 'nope-bucket', Key: 'k' })))).name).toBe(
      'NoSuchBucket',
    );
    const unsupported = await s3Error(s3.send(new GetBucketVersioningCommand({ Bucket: BUCKET })));
    expect(unsupported.name).toBe('NotImplemented');
    expect(unsupported.$metadata.httpStatusCode).toBe(501);
    expect(unsupported.message).toContain('GetBucketVersioning');

    const error = await raw(server.url, 'GET', `/${BUCKET}/no/such/key`);
    expect(error.status).toBe(404);
    expect(error.headers['x-amz-request-id']).toMatch(/^[0-9A-F]{16}$/);
    expect(error.body).toContain('<Code>NoSuchKey</Code>');
    expect(error.body).toContain(`<Resource>/${BUCKET}/no/such/key</Resource>`);
    expect(error.body).toContain(`<RequestId>${error.headers['x-amz-request-id']}</RequestId>`);
  });

  it('refuses keys with . or .. segments or NUL, raw or percent-encoded, writing nothing', async () => {
    for (const path of ['a/../../escape.json', '..', 'a/./b', 'a/%2e%2e/b', '%2E%2E/x', 'a%00b']) {
      const res = await raw(server.url, 'PUT', `/${BUCKET}/${path}`, { body: 'x' });
      expect([res.status, errorCode(res.body)], path).toEqual([400, 'InvalidArgument']);
    }
    const oversized = await raw(server.url, 'POST', `/${BUCKET}?delete`, {
      body: 'x'.repeat(2 * 1024 * 1024),
    });
    expect([oversized.status, errorCode(oversized.body)]).toEqual([400, 'MaxMessageLengthExceeded']);
    expect(existsSync(join(dir, 'escape.json'))).toBe(false);
    expect(created).toEqual([]);
  });

  it('accepts presigned-style URLs and virtual-hosted addressing', async () => {
    const query =
      'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=local%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=00&x-id=PutObject';
    const putRes = await fetch(`${server.url}/${BUCKET}/presigned.txt?${query}`, {
      method: 'PUT',
      body: 'signed',
    });
    expect(putRes.status).toBe(200);
    const getRes = await fetch(
      `${server.url}/${BUCKET}/presigned.txt?${query.replace('PutObject', 'GetObject')}&response-content-type=text%2Fx-test`,
    );
    expect(await getRes.text()).toBe('signed');
    expect(getRes.headers.get('content-type')).toBe('text/x-test');
    const virtual = await raw(server.url, 'GET', '/presigned.txt', {
      headers: { host: `${BUCKET}.localhost` },
    });
    expect([virtual.status, virtual.body]).toEqual([200, 'signed']);
  });

  it('never gives a torn body: a GET in progress keeps reading the object it opened', async () => {
    const oldBody = Buffer.alloc(16 * 1024 * 1024, 'o');
    await put('swap.bin', oldBody);
    const reading = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'swap.bin' }));
    await put('swap.bin', Buffer.alloc(16 * 1024 * 1024, 'n'));
    const got = Buffer.from(await reading.Body!.transformToByteArray());
    expect(got.equals(oldBody)).toBe(true);
    expect((await text('swap.bin', { Range: 'bytes=0-0' })).body).toBe('n');
  });

  it('keeps objects across a restart and cleans up what a crash left behind', async () => {
    await put('persist/kept.txt', 'survives');
    s3.destroy();
    await server.close();
    // What a crash mid-upload leaves: a temp file, and a data file no sidecar names.
    await writeFile(join(dir, 'tmp', 'partial-upload'), 'half');
    const orphan = join(dir, 'buckets', BUCKET, 'data', '00000000-0000-4000-8000-000000000000');
    await writeFile(orphan, 'orphan');
    await start();
    expect((await text('persist/kept.txt')).body).toBe('survives');
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    expect(existsSync(orphan)).toBe(false);
  });
});
