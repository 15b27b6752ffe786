import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type S3Server, startS3Server } from '#local/s3/server.ts';
import {
  createMigrationDeadLetters,
  createMigrationQueue,
  createObjectStore,
} from '#shared/adapters/index.ts';
import { S3ObjectStore } from '#shared/adapters/s3.ts';
import { SqsDeadLetters, SqsQueue } from '#shared/adapters/sqs.ts';
import type { Config } from '#shared/config.ts';
import { NotFoundError, UpstreamError, ValidationError } from '#shared/errors.ts';

/** The S3 and SQS adapters against the emulators the local runtime uses: its S3, fauxqs's SQS. */

let fauxqs: FauxqsServer;
let endpoint: string;
let s3Dir: string;
let s3Server: S3Server;
let s3: S3Client;
let sqs: SQSClient;
let queueUrl: string;
const BUCKET = 'exports';

beforeAll(async () => {
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  fauxqs = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  endpoint = `http://127.0.0.1:${fauxqs.port}`;
  queueUrl = fauxqs.createQueue('migrations').queueUrl;
  s3Dir = await mkdtemp(join(tmpdir(), 'vp-s3-adapter-'));
  s3Server = await startS3Server({ dataDir: s3Dir, buckets: [BUCKET], log: () => {} });
  s3 = new S3Client({ endpoint: s3Server.url, forcePathStyle: true });
  sqs = new SQSClient({ endpoint });
});

afterAll(async () => {
  s3?.destroy();
  sqs?.destroy();
  await fauxqs?.stop();
  await s3Server?.close();
  await rm(s3Dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

async function receiveAll(url: string): Promise<unknown[]> {
  const bodies: unknown[] = [];
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    if (!out.Messages?.length) return bodies;
    for (const m of out.Messages) bodies.push(JSON.parse(m.Body!));
  }
}

describe('S3ObjectStore', () => {
  it('puts, heads, gets whole and by inclusive byte range, streams and deletes', async () => {
    const store = new S3ObjectStore({ client: s3, bucket: BUCKET });
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
  });

  it('stores binary bodies byte for byte', async () => {
    const store = new S3ObjectStore({ client: s3, bucket: BUCKET });
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) % 256);
    await store.put('bin', bytes);
    expect(Buffer.compare(Buffer.from(await store.get('bin')), Buffer.from(bytes))).toBe(0);
    expect(Array.from(await store.get('bin', { start: 998, end: 999 }))).toEqual([bytes[998], bytes[999]]);
  });

  it('answers NotFoundError for a missing key, and names a bad range', async () => {
    const store = new S3ObjectStore({ client: s3, bucket: BUCKET });
    await expect(store.get('missing')).rejects.toThrow(NotFoundError);
    await expect(store.stream('missing')).rejects.toThrow(NotFoundError);
    await expect(store.get('missing', { start: 5, end: 2 })).rejects.toMatchObject({
      issues: [{ field: 'range.end' }],
    });
    await expect(store.get('missing', { start: -1, end: 2 })).rejects.toThrow(ValidationError);
  });

  it('pings its bucket, and fails the ping of a missing bucket without leaking the endpoint', async () => {
    await expect(new S3ObjectStore({ client: s3, bucket: BUCKET }).ping()).resolves.toBeUndefined();
    const err = await new S3ObjectStore({ client: s3, bucket: 'no-such-bucket' })
      .ping()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(/^S3 HeadBucket failed/);
    expect((err as Error).message).not.toContain(String(s3Server.port));
  });

  it('is built from the configuration, with the endpoint from AWS_ENDPOINT_URL_S3', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_S3', s3Server.url);
    const config = { exportsBucket: BUCKET, s3ForcePathStyle: true } as Config;
    const store = createObjectStore(config);
    await store.put('from-env', 'ok');
    expect(Buffer.from(await store.get('from-env')).toString()).toBe('ok');
    expect(() => createObjectStore({ s3ForcePathStyle: true } as Config)).toThrow(/EXPORTS_BUCKET/);
  });
});

describe('SqsQueue', () => {
  it('sends any number of messages as JSON, in batches of at most 10', async () => {
    const sent = vi.spyOn(sqs, 'send');
    const queue = new SqsQueue({ client: sqs, queueUrl });
    const messages = Array.from({ length: 23 }, (_, i) => ({
      body: { chunk: i, range: [i * 100, i * 100 + 99] },
    }));
    await queue.send(messages);
    const batches = sent.mock.calls.map(
      ([command]) => (command.input as { Entries: unknown[] }).Entries.length,
    );
    expect(batches).toEqual([10, 10, 3]);
    sent.mockRestore();
    const received = (await receiveAll(queueUrl)) as Array<{ chunk: number }>;
    expect(received.map((m) => m.chunk).sort((a, b) => a - b)).toEqual(messages.map((_, i) => i));
  });

  it('splits batches by size as well as by count', async () => {
    const sent = vi.spyOn(sqs, 'send');
    const queue = new SqsQueue({ client: sqs, queueUrl });
    // Three 100 KiB bodies: two fit under SendMessageBatch's 256 KiB, the third goes next.
    await queue.send(Array.from({ length: 3 }, (_, i) => ({ body: { i, pad: 'x'.repeat(100 * 1024) } })));
    expect(sent.mock.calls.map(([c]) => (c.input as { Entries: unknown[] }).Entries.length)).toEqual([2, 1]);
    sent.mockRestore();
    expect(await receiveAll(queueUrl)).toHaveLength(3);
  });

  it('sends bodies holding characters SQS refuses raw (U+FFFF), escaped', async () => {
    const queue = new SqsQueue({ client: sqs, queueUrl });
    await queue.send([{ body: { text: 'a\uffffb\ufffe' } }]);
    expect(await receiveAll(queueUrl)).toEqual([{ text: 'a\uffffb\ufffe' }]);
  });

  it('reports failing entries as an UpstreamError naming them, not retryable for a sender fault', async () => {
    const small = fauxqs.createQueue('small', { attributes: { MaximumMessageSize: '1024' } }).queueUrl;
    const queue = new SqsQueue({ client: sqs, queueUrl: small });
    const err = await queue
      .send([{ body: { ok: true } }, { body: { pad: 'x'.repeat(2000) } }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).message).toMatch(
      /^SQS rejected 1 of 2 messages \(message 1: InvalidParameterValue\)/,
    );
    expect((err as UpstreamError).retryable).toBe(false);
  });

  it('pings its queue; a missing queue fails the ping', async () => {
    await expect(new SqsQueue({ client: sqs, queueUrl }).ping()).resolves.toBeUndefined();
    const missing = queueUrl.replace(/migrations$/, 'nope');
    await expect(new SqsQueue({ client: sqs, queueUrl: missing }).ping()).rejects.toThrow(UpstreamError);
  });

  it('is built from the configuration, with the endpoint from AWS_ENDPOINT_URL_SQS', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SQS', endpoint);
    const queue = createMigrationQueue({ migrationQueueUrl: queueUrl } as Config);
    await queue.send([{ body: { via: 'env' } }]);
    expect(await receiveAll(queueUrl)).toEqual([{ via: 'env' }]);
    expect(() => createMigrationQueue({} as Config)).toThrow(/MIGRATIONS_QUEUE_URL/);
  });
});

describe('SqsDeadLetters', () => {
  it('deletes the matching dead letters and gives the others back at once', async () => {
    const dlqUrl = fauxqs.createQueue('migrations-dlq-sweep').queueUrl;
    const queue = new SqsQueue({ client: sqs, queueUrl: dlqUrl });
    await queue.send([
      ...Array.from({ length: 23 }, (_, i) => ({ body: { jobId: 'a', chunkIndex: i } })),
      ...Array.from({ length: 4 }, (_, i) => ({ body: { jobId: 'b', chunkIndex: i } })),
    ]);
    await sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: 'not json' }));
    const deadLetters = new SqsDeadLetters({ client: sqs, queueUrl: dlqUrl });
    expect(await deadLetters.remove((body) => (body as { jobId?: string } | undefined)?.jobId === 'a')).toBe(
      23,
    );
    // The others are visible again straight away (no visibility timeout to wait out).
    const left = await receiveAllRaw(dlqUrl);
    expect(left.filter((b) => b !== 'not json').map((b) => JSON.parse(b).jobId)).toEqual([
      'b',
      'b',
      'b',
      'b',
    ]);
    expect(left).toContain('not json');
  });

  it('removes nothing from an empty queue, and is built from the configuration', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SQS', endpoint);
    const dlqUrl = fauxqs.createQueue('migrations-dlq-empty').queueUrl;
    const deadLetters = createMigrationDeadLetters({ migrationDeadLetterQueueUrl: dlqUrl } as Config);
    expect(await deadLetters.remove(() => true)).toBe(0);
    expect(() => createMigrationDeadLetters({} as Config)).toThrow(/MIGRATIONS_DLQ_URL/);
  });
});

async function receiveAllRaw(url: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    if (!out.Messages?.length) return bodies;
    for (const m of out.Messages) bodies.push(m.Body!);
  }
}
