import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { type MigrateOptions, migrateFile, UsageError } from '../../scripts/migrate.ts';
import { LEGACY_SAMPLE as FIXTURE, LEGACY_SAMPLE_RELATIVE } from '../unit/exports/support.ts';
import { exportRecords, legacyExport } from '../unit/migrations/exports.ts';

/**
 * `npm run migrate` against the local runtime, in-process: the CLI uploads a file, the upload
 * (or POST /migrations) starts the job, the CLI follows it to the end, and the points are then
 * counted and listed through the alias on the Qdrant API.
 */

const DIM = 384;

let dir: string;
let runtime: LocalRuntime;

/** A sink for the CLI's output, kept as text for assertions. */
function capture(): { stream: Writable; text: () => string } {
  const parts: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      parts.push(String(chunk));
      callback();
    },
  });
  return { stream, text: () => parts.join('') };
}

let adminToken: string;

function run(file: string, extra: Partial<MigrateOptions> = {}) {
  const progress = capture();
  const output = capture();
  const result = migrateFile({
    file,
    api: `${runtime.apiUrl}/api/v1`,
    token: adminToken,
    s3Endpoint: runtime.s3Endpoint,
    bucket: runtime.bucket,
    progress: progress.stream,
    output: output.stream,
    tty: false,
    pollMs: 100,
    ...extra,
  });
  return { result, progress, output };
}

async function qdrant(path: string, body: unknown): Promise<{ result: unknown }> {
  const res = await fetch(`${runtime.qdrantUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { result: unknown };
}

/** Every point's original id, read through the alias page by page. */
async function originalIds(alias: string): Promise<string[]> {
  const ids: string[] = [];
  let offset: unknown = null;
  do {
    const { result } = await qdrant(`/collections/${alias}/points/scroll`, {
      limit: 1000,
      with_payload: ['_original_id'],
      with_vector: false,
      ...(offset === null ? {} : { offset }),
    });
    const page = result as {
      points: Array<{ id: unknown; payload: { _original_id?: unknown } }>;
      next_page_offset: unknown;
    };
    for (const p of page.points) ids.push(String(p.payload._original_id ?? p.id));
    offset = page.next_page_offset;
  } while (offset !== null && offset !== undefined);
  return ids;
}

async function exactCount(alias: string): Promise<number> {
  const { result } = await qdrant(`/collections/${alias}/points/count`, { exact: true });
  return (result as { count: number }).count;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vp-migrate-cli-'));
  runtime = await startLocalRuntime({ dataDir: join(dir, 'data'), port: 0, quiet: true });
  adminToken = await runtime.issueToken({ groups: ['admin'] });
});

afterAll(async () => {
  await runtime?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('npm run migrate on the local runtime', () => {
  it('uploads a pretty-printed legacy export to exports/ and follows the job to completion', async () => {
    const spec = { vectors: 30, texts: 3, duplicates: 2, bad: 1, dimensions: DIM };
    const text = legacyExport(spec);
    expect(text).toMatch(/\[\n\s+-?\d\.\d+,\n/); // one number per line, like the real export
    const file = join(dir, 'cli_tasks.json');
    await writeFile(file, text);

    const { result, progress, output } = run(file);
    const done = await result;

    expect(done.exitCode).toBe(0);
    expect(done.key).toBe('exports/cli_tasks.json');
    expect(done.job).toMatchObject({
      status: 'completed',
      target: 'cli_tasks',
      counts: { records: 36, written: 35, rejected: 1 },
    });
    expect(done.report?.verification.passed).toBe(true);
    expect(done.report?.alias?.name).toBe('cli_tasks');
    expect(progress.text()).toContain('completed');
    expect(output.text()).toContain(`migration ${done.job.id} completed`);
    expect(output.text()).toContain('verification passed');

    const expected = new Set(exportRecords(spec).records.map((r) => r.id));
    const ids = await originalIds('cli_tasks');
    expect(ids.length).toBe(expected.size);
    expect(new Set(ids)).toEqual(expected);
    expect(await exactCount('cli_tasks')).toBe(33);
  }, 60_000);

  it('refuses a missing file and a missing S3 endpoint as usage errors', async () => {
    await expect(run(join(dir, 'absent.json')).result).rejects.toBeInstanceOf(UsageError);
    await writeFile(join(dir, 'x.json'), '[]');
    await expect(run(join(dir, 'x.json'), { s3Endpoint: '' }).result).rejects.toThrow(/--s3/);
  });

  it('migrates a 50 MB legacy export exactly, without duplicates', async () => {
    // ~7.3 KB per 384-d record pretty-printed: 7,400 records are just over 50 MiB.
    const spec = { vectors: 7400, texts: 0, dimensions: DIM, seed: 11 };
    const file = join(dir, 'big_tasks.json');
    await writeFile(file, legacyExport(spec));

    // A multipart upload under exports/: its completion is what notifies.
    const { result } = run(file);
    const done = await result;

    expect(done.job.size).toBeGreaterThan(50 * 1024 * 1024);
    expect(done.exitCode).toBe(0);
    expect(done.key).toBe('exports/big_tasks.json');
    expect(done.job.chunks.total).toBeGreaterThan(1);
    expect(done.job.counts).toEqual({ records: 7400, written: 7400, rejected: 0 });
    expect(done.report?.verification.passed).toBe(true);

    expect(await exactCount('big_tasks')).toBe(7400);
    const ids = await originalIds('big_tasks');
    expect(ids.length).toBe(7400);
    expect(new Set(ids).size).toBe(7400);
  }, 120_000);

  describe.skipIf(!existsSync(FIXTURE))(
    `the reconstructed sample of the real export (skipped without ${LEGACY_SAMPLE_RELATIVE})`,
    () => {
      it('migrates its 3 points of 1536 dimensions (POST /migrations), searchable through the alias', async () => {
        const { result } = run(FIXTURE, { collection: 'email_sender_tasks' });
        const done = await result;
        expect(done.exitCode).toBe(0);
        expect(done.job).toMatchObject({
          status: 'completed',
          vectorSize: 1536,
          counts: { written: 3, rejected: 0 },
        });
        expect(await exactCount('email_sender_tasks')).toBe(3);

        const source = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
          tasks: Array<{ TaskId: string; Vector: number[] }>;
        };
        const task = source.tasks[1]!;
        const res = await fetch(`${runtime.apiUrl}/api/v1/vectors/search`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${await runtime.issueToken({ groups: ['readonly'] })}`,
          },
          body: JSON.stringify({ collection: 'email_sender_tasks', vector: task.Vector, limit: 1 }),
        });
        const body = (await res.json()) as { results: Array<{ id: string; score: number }> };
        expect(res.status).toBe(200);
        expect(body.results[0]?.id).toBe(task.TaskId);
        expect(body.results[0]?.score).toBeGreaterThan(0.999);
      }, 60_000);
    },
  );
});
