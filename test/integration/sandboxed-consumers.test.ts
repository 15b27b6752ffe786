import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { jsonlExport } from '../unit/migrations/exports.ts';
import { apiCaller, migrationFinished, s3ClientOf, tokenFor } from './support.ts';

/**
 * `isolateConsumers`: the queue consumers run in execution environments (child processes of the
 * runtime) while the gateway, notifications and bus invoke in-process. A migration end to end:
 * the planner (in the runtime) fans out over SQS, the workers (in the environments) migrate the
 * chunks, and the counts and points are exact.
 */

const DIM = 384;
let dataDir: string;
let runtime: LocalRuntime;
let s3: S3Client;

const call = apiCaller(
  () => runtime.apiUrl,
  tokenFor(() => runtime),
);

/** A process's arguments. */
const argvOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
const WORKER_MODULE = 'functions/migrations/worker/handler.ts';

/** The fields of /proc/<pid>/stat after the command name: [state, ppid, …]. */
function procStat(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-sandboxed-'));
  runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, isolateConsumers: true });
  s3 = s3ClientOf(runtime);
});

afterAll(async () => {
  s3?.destroy();
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('queue consumers in execution environments', () => {
  it('migrates a JSONL export with its workers in child processes of the runtime', async () => {
    // An environment starts at its function's first invocation, not with the runtime. (Other
    // consumers, the managers' event queues among them, may be invoked from the start.)
    expect(runtime.sandboxPids().filter((pid) => argvOf(pid).includes(WORKER_MODULE))).toEqual([]);
    await s3.send(
      new PutObjectCommand({
        Bucket: runtime.bucket,
        Key: 'uploads/notes.jsonl',
        Body: jsonlExport({ vectors: 40, texts: 3, bad: 1, dimensions: DIM }),
      }),
    );
    const started = await call('POST', '/api/v1/migrations', {
      key: 'uploads/notes.jsonl',
      collection: 'notes',
      chunkBytes: 32_768,
      rejectThreshold: 0.1,
    });
    expect(started.status).toBe(202);
    expect(started.body.chunks.total).toBeGreaterThan(2);

    const job = await migrationFinished(call, started.body.id);

    expect(job).toMatchObject({ status: 'completed', counts: { records: 44, written: 43, rejected: 1 } });
    expect(job.chunkList.every((c) => c.status === 'done')).toBe(true);
    const info = await call('GET', '/api/v1/vectors/collections/notes');
    expect(info.body).toMatchObject({ pointsCount: 43, vectorSize: DIM });

    // The worker ran in warm environments: direct children of this process, each running the
    // worker's handler module with the function's memory as heap limit.
    const pids = runtime.sandboxPids();
    const workers = pids.filter((pid) => argvOf(pid).includes(WORKER_MODULE));
    expect(workers.length).toBeGreaterThan(0);
    for (const pid of pids) {
      expect(pid).not.toBe(process.pid);
      expect(procStat(pid)[1]).toBe(String(process.pid));
      expect(argvOf(pid).some((a) => a.endsWith('local/sandbox.ts'))).toBe(true);
    }
    for (const pid of workers) expect(argvOf(pid)).toContain('--max-old-space-size=1024');

    await runtime.stop();
    expect(runtime.sandboxPids()).toEqual([]);
    for (const pid of pids) {
      let state = 'gone';
      try {
        state = procStat(pid)[0]!;
      } catch {}
      expect(['gone', 'Z']).toContain(state);
    }
  }, 60_000);
});
