import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobView } from '#shared/migrations/service.ts';
import { apiCaller, migrationFinished } from './support.ts';

/**
 * kill -9 of the local runtime in the middle of a migration, then a restart on the same data
 * folder: the job completes by itself (queued chunks are taken up again, chunks lost in flight are
 * found stalled and sent again), with exact counts and every point once.
 */

interface Started {
  child: ChildProcess;
  apiUrl: string;
  /** An administrator's token from its issuer. */
  token: string;
  s3Endpoint: string;
  bucket: string;
}

const children: ChildProcess[] = [];
let dataDir: string | undefined;

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) await kill9(child);
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function start(dir: string): Promise<Started> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../fixtures/crash/runtime.ts'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`runtime exited early (${code})`)));
    createInterface({ input: child.stdout! }).once('line', resolve);
  });
  return { child, ...(JSON.parse(line) as Omit<Started, 'child'>) };
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('a local runtime killed with -9 during a migration', () => {
  it('completes the job by itself after a restart, with exact counts', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-crash-'));
    const first = await start(dataDir);
    const records = 3000;
    const lines = Array.from({ length: records }, (_, i) =>
      JSON.stringify({ id: `task-${i}`, vector: [1 + (i % 7), 2, 3 + (i % 5), 4], payload: { i } }),
    );
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: first.s3Endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await s3.send(
      new PutObjectCommand({ Bucket: first.bucket, Key: 'staging/crash.jsonl', Body: lines.join('\n') }),
    );
    s3.destroy();
    let call = apiCaller(
      () => first.apiUrl,
      async () => first.token,
    );
    const created = await call('POST', '/api/v1/migrations', {
      key: 'staging/crash.jsonl',
      collection: 'crash',
      chunkBytes: 4096,
    });
    expect(created.status).toBe(202);
    const id = created.body.id as string;

    // Kill it once some chunks are done and many are not.
    for (;;) {
      const job = (await call('GET', `/api/v1/migrations/${id}`)).body as JobView;
      expect(job.status, 'the job ended before the kill: make it longer').not.toMatch(/completed|failed/);
      if (job.chunks.total > 20 && job.chunks.done >= 3) {
        expect(job.chunks.done).toBeLessThan(job.chunks.total - 10);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await kill9(first.child);

    const second = await start(dataDir);
    call = apiCaller(
      () => second.apiUrl,
      async () => second.token,
    );
    const job = await migrationFinished(call, id, 90_000);
    expect(job.status).toBe('completed');
    expect(job.counts).toMatchObject({ records, written: records, rejected: 0 });
    // Whether the stalled-migrations sweep had to resend chunks depends on the kill's moment: a
    // chunk received but not recorded stays hidden for the queue's visibility timeout and is
    // resent by the sweep; one recorded before the kill needs nothing. (CI saw both.) The sweep's
    // resend is asserted deterministically in migrations-faults.test.ts ("a restart after the
    // queue's messages were lost").
    expect(job.chunkList.every((c) => c.status === 'done')).toBe(true);
    const collection = await call('GET', '/api/v1/vectors/collections/crash');
    expect(collection.body.pointsCount).toBe(records);
  }, 120_000);
});
