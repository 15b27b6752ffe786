import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { fixtureManifest } from '../fixtures/gateway/manifest.ts';
import { s3ClientOf } from './support.ts';

const run = promisify(execFile);
const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

/** The `aws` CLI on PATH, if any. */
function awsCli(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'aws');
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

describe('bucket notifications', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  let s3: S3Client;

  /** Every S3 event the recording fixture received, one record per invocation. */
  async function recorded(): Promise<S3EventRecord[]> {
    await rt.notificationsSettled();
    const file = join(rt.dataDir, 'state', 's3-events.jsonl');
    if (!existsSync(file)) return [];
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    return lines.map((line) => {
      const event = JSON.parse(line) as S3Event;
      expect(event.Records).toHaveLength(1);
      return event.Records[0]!;
    });
  }
  const forKey = async (key: string) => (await recorded()).filter((r) => r.s3.object.key === key);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-runtime-'));
    // The fixture handlers never use Qdrant: point at an unused address instead of starting one.
    rt = await startLocalRuntime({
      dataDir,
      port: 0,
      manifest: fixtureManifest,
      qdrantUrl: 'http://127.0.0.1:9',
      quiet: true,
    });
    s3 = s3ClientOf(rt);
  });

  afterAll(async () => {
    s3?.destroy();
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('invokes the function once per PutObject with the S3 event shape, overwrites included', async () => {
    const key = 'incoming/task vectors.json';
    await s3.send(new PutObjectCommand({ Bucket: rt.bucket, Key: key, Body: '[1]' }));
    const first = await forKey('incoming/task+vectors.json');
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: rt.region,
      eventName: 'ObjectCreated:Put',
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: expect.any(String),
        bucket: { name: rt.bucket, arn: `arn:aws:s3:::${rt.bucket}` },
        object: {
          key: 'incoming/task+vectors.json',
          size: 3,
          eTag: md5('[1]'),
          sequencer: expect.any(String),
        },
      },
    });
    expect(Number.isNaN(Date.parse(first[0]!.eventTime))).toBe(false);

    await s3.send(new PutObjectCommand({ Bucket: rt.bucket, Key: key, Body: '[1,2]' }));
    const both = await forKey('incoming/task+vectors.json');
    expect(both).toHaveLength(2);
    expect(both[1]!.s3.object).toMatchObject({ size: 5, eTag: md5('[1,2]') });
    expect(BigInt(`0x${both[1]!.s3.object.sequencer}`)).toBeGreaterThan(
      BigInt(`0x${both[0]!.s3.object.sequencer}`),
    );

    // What the function is told about is what S3 holds.
    const stored = await s3.send(new GetObjectCommand({ Bucket: rt.bucket, Key: key }));
    expect(await stored.Body!.transformToString()).toBe('[1,2]');
  });

  it('notifies for CopyObject and CompleteMultipartUpload, never for the parts', async () => {
    await s3.send(
      new CopyObjectCommand({
        Bucket: rt.bucket,
        Key: 'incoming/copy.json',
        CopySource: `${rt.bucket}/${encodeURIComponent('incoming/task vectors.json')}`,
      }),
    );
    expect(await forKey('incoming/copy.json')).toMatchObject([
      { eventName: 'ObjectCreated:Copy', s3: { object: { size: 5 } } },
    ]);

    const key = 'incoming/multi.json';
    const parts = [Buffer.alloc(5 * 1024 * 1024, 'a'), Buffer.from('tail')];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: rt.bucket, Key: key }));
    const etags: string[] = [];
    for (const [i, body] of parts.entries()) {
      const part = await s3.send(
        new UploadPartCommand({ Bucket: rt.bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }),
      );
      etags.push(part.ETag!);
    }
    expect(await forKey(key)).toHaveLength(0);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: rt.bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    expect(await forKey(key)).toMatchObject([
      { eventName: 'ObjectCreated:CompleteMultipartUpload', s3: { object: { size: 5 * 1024 * 1024 + 4 } } },
    ]);
  });

  it('ignores objects outside the notification prefix or suffix', async () => {
    const before = (await recorded()).length;
    await s3.send(new PutObjectCommand({ Bucket: rt.bucket, Key: 'other/a.json', Body: '{}' }));
    await s3.send(new PutObjectCommand({ Bucket: rt.bucket, Key: 'incoming/a.txt', Body: '{}' }));
    expect(await recorded()).toHaveLength(before);
  });

  it('refuses keys with dot segments and notifies nothing for a refused or failed upload', async () => {
    const before = (await recorded()).length;
    const url = new URL(rt.s3Endpoint);
    const put = (path: string, body: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, method: 'PUT', path, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
        });
        req.on('error', reject);
        req.end(body);
      });
    const dotted = await put(`/${rt.bucket}/incoming/../../../../escape.json`, '{}');
    expect(dotted.status).toBe(400);
    expect(dotted.body).toContain('<Code>InvalidArgument</Code>');
    const badDigest = await put(`/${rt.bucket}/incoming/digest.json`, '{}', {
      'content-md5': Buffer.from(md5('other'), 'hex').toString('base64'),
    });
    expect(badDigest.status).toBe(400);
    expect(badDigest.body).toContain('<Code>BadDigest</Code>');
    expect(await recorded()).toHaveLength(before);
    const stored = await s3
      .send(new ListObjectsV2Command({ Bucket: rt.bucket }))
      .then((r) => r.Contents ?? []);
    expect(stored.map((o) => o.Key).filter((k) => k?.includes('escape') || k?.includes('digest'))).toEqual(
      [],
    );
  });

  const cli = awsCli();
  it.skipIf(!cli)('fires for `aws s3 cp --endpoint-url`, single-part and multipart', async () => {
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_DEFAULT_REGION: rt.region,
      AWS_CONFIG_FILE: join(dataDir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'no-aws-credentials'),
    };
    const small = join(dataDir, 'small.json');
    const big = join(dataDir, 'big.json');
    await writeFile(small, '{"cli":true}');
    // Above the CLI's 8 MB multipart threshold.
    await writeFile(big, Buffer.alloc(9 * 1024 * 1024, 'b'));
    for (const [file, key] of [
      [small, 'incoming/cli small.json'],
      [big, 'incoming/cli-big.json'],
    ] as const) {
      await run(
        cli!,
        ['s3', 'cp', file, `s3://${rt.bucket}/${key}`, '--endpoint-url', rt.s3Endpoint, '--only-show-errors'],
        {
          env,
        },
      );
    }
    expect(await forKey('incoming/cli+small.json')).toMatchObject([
      { eventName: 'ObjectCreated:Put', s3: { object: { size: 12, eTag: md5('{"cli":true}') } } },
    ]);
    expect(await forKey('incoming/cli-big.json')).toMatchObject([
      { eventName: 'ObjectCreated:CompleteMultipartUpload', s3: { object: { size: 9 * 1024 * 1024 } } },
    ]);
  });
  if (!cli) it.skip('aws CLI not found on PATH: the `aws s3 cp` case is not run', () => {});
});

describe('the real platform', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-platform-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the API and keeps collections and objects across a restart on the same data dir', async () => {
    const first = await startLocalRuntime({ dataDir, port: 0, quiet: true });
    // Signed with the key kept under the data dir, by the issuer whose URL the restart keeps.
    const auth = { authorization: `Bearer ${await first.issueToken({ groups: ['admin'] })}` };
    try {
      const health = await fetch(`${first.apiUrl}/api/v1/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const created = await fetch(`${first.apiUrl}/api/v1/vectors/collections`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ name: 'kept' }),
      });
      expect(created.status).toBe(201);
      const s3 = s3ClientOf(first);
      await s3.send(new PutObjectCommand({ Bucket: first.bucket, Key: 'kept/object.json', Body: '[]' }));
      s3.destroy();
    } finally {
      await first.stop();
    }

    const second = await startLocalRuntime({ dataDir, port: 0, quiet: true });
    try {
      expect(second.issuer).toBe(first.issuer);
      const info = await fetch(`${second.apiUrl}/api/v1/vectors/collections/kept`, { headers: auth });
      expect(info.status).toBe(200);
      expect(await info.json()).toMatchObject({ name: 'kept' });
      const s3 = s3ClientOf(second);
      const object = await s3.send(new GetObjectCommand({ Bucket: second.bucket, Key: 'kept/object.json' }));
      expect(await object.Body!.transformToString()).toBe('[]');
      s3.destroy();
    } finally {
      await second.stop();
    }
  });
});
