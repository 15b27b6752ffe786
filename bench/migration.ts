import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { planChunks } from '#shared/exports/scanner.ts';
import { DEFAULT_CHUNK_BYTES } from '#shared/migrations/model.ts';
import { apiToken } from '../scripts/api-token.ts';
import { migrateFile } from '../scripts/migrate.ts';
import { prng } from './random.ts';

/**
 * Migration of legacy exports end to end on the local runtime. For each size (50 MB always, 1 GB
 * with `BENCH_MIGRATION_GB=1` or `{ gigabyte: true }`): a generated legacy `task_vectors.json`
 * (pretty-printed like the real one, one number per line, 1536-d) is uploaded to `exports/` by the
 * `npm run migrate` code and followed until the job completes (verified, alias switched). Compared
 * in the same run with a bare `JSON.parse(readFileSync(file))` of the same file (target: the
 * migration at ≥ 0.5× its throughput). The runtime runs in a child process (`local/main.ts`,
 * a fresh one per run) and the embedded Qdrant in another (`bench/migration-qdrant.ts`, given to
 * the runtime as its `QDRANT_URL`); each one's peak RSS (VmHWM) is read at the end. Each size is
 * migrated twice: with every worker the manifest allows, in the runtime's process (the throughput
 * figure), and with one worker in its own Lambda-like execution environment (`QUEUE_CONCURRENCY=1
 * ISOLATE_CONSUMERS=1`), a child process of the runtime whose peak RSS is that worker's (target
 * ≤ 256 MiB on 1 GB). The planner's scan alone (`planChunks` over a file stream) is measured
 * separately.
 */

const DIM = 1536;
const MIB = 1024 * 1024;
const TARGET_RATIO = 0.5;
const TARGET_RSS_MIB = 256;
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BenchMigrationOptions {
  /** Also the 1 GB export (default: env `BENCH_MIGRATION_GB=1`). */
  gigabyte?: boolean;
  /** Export sizes in MiB (default 50, plus 1024 with `gigabyte`). */
  sizesMiB?: number[];
}

/** Writes a legacy export of at least `bytes` bytes, streamed (1 GB never sits in memory). */
async function generateExport(
  file: string,
  bytes: number,
  seed = 1,
): Promise<{ bytes: number; records: number }> {
  const next = prng(seed);
  const out = createWriteStream(file);
  let written = 0;
  const write = async (text: string) => {
    written += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  await write(
    `{\n  "metadata": {\n    "created": "2025-05-03 12:00:00",\n    "taskCount": 0,\n    "vectorDimension": ${DIM},\n    "model": "bench"\n  },\n  "tasks": [\n`,
  );
  let records = 0;
  while (written < bytes) {
    const numbers = Array.from({ length: DIM }, () => `        ${(next() * 2 - 1).toFixed(6)}`).join(',\n');
    await write(
      `${records > 0 ? ',\n' : ''}    {\n      "TaskId": "bench.${records}",\n      "Description": "Generated task ${records}",\n      "Status": "Complete",\n      "Section": "Bench",\n      "IndentLevel": 0,\n      "LastUpdated": "2025-05-03",\n      "ParentId": "",\n      "Vector": [\n${numbers}\n      ]\n    }`,
    );
    records++;
  }
  await write('\n  ]\n}\n');
  out.end();
  await once(out, 'finish');
  return { bytes: written, records };
}

/** `JSON.parse(readFileSync(file))`, or why it cannot (V8 strings stop at ~512 MiB). */
function bareParse(
  file: string,
  bytes: number,
): { seconds: number; mbPerSecond: number } | { error: string } {
  try {
    const started = performance.now();
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { tasks: unknown[] };
    const seconds = (performance.now() - started) / 1000;
    if (!Array.isArray(doc.tasks)) return { error: 'no tasks' };
    return { seconds: round(seconds), mbPerSecond: round(bytes / MIB / seconds) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

async function scanRate(
  file: string,
  bytes: number,
): Promise<{ seconds: number; mbPerSecond: number; chunks: number; records: number }> {
  const started = performance.now();
  const scan = planChunks(createReadStream(file, { highWaterMark: MIB }), {
    format: 'legacy-tasks',
    targetChunkBytes: DEFAULT_CHUNK_BYTES,
  });
  let step = await scan.next();
  while (!step.done) step = await scan.next();
  const seconds = (performance.now() - started) / 1000;
  return {
    seconds: round(seconds),
    mbPerSecond: round(bytes / MIB / seconds),
    chunks: step.value.chunks,
    records: step.value.records,
  };
}

interface ChildRuntime {
  child: ChildProcess;
  api: string;
  s3: string;
  bucket: string;
  /** The end of what the runtime wrote to stderr (its errors). */
  stderrTail: () => string;
}

/** The embedded Qdrant in its own process; resolves with its URL once it listens. */
async function startChildQdrant(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [resolve(REPO_ROOT, 'bench/migration-qdrant.ts'), dataDir], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let text = '';
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('Qdrant did not start in 30 s')), 30_000);
    child.on('exit', (code) => fail(new Error(`Qdrant exited (${code})`)));
    child.stdout!.on('data', (d) => {
      text += String(d);
      const url = /QDRANT (\S+)/.exec(text)?.[1];
      if (url) {
        clearTimeout(timer);
        ok({ child, url });
      }
    });
  });
}

/** `npm start` in a child process on free ports; resolves once it printed its endpoints. */
async function startChildRuntime(
  dataDir: string,
  qdrantUrl: string,
  settings: { queueConcurrency?: number; isolateConsumers?: boolean } = {},
): Promise<ChildRuntime> {
  const child = spawn(process.execPath, [resolve(REPO_ROOT, 'local/main.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dataDir,
      QDRANT_URL: qdrantUrl,
      ...(settings.queueConcurrency ? { QUEUE_CONCURRENCY: String(settings.queueConcurrency) } : {}),
      ...(settings.isolateConsumers ? { ISOLATE_CONSUMERS: '1' } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let errors = '';
  child.stderr!.on('data', (d) => {
    errors += String(d);
  });
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`runtime did not start in 60 s: ${errors}`)), 60_000);
    child.on('exit', (code) => fail(new Error(`runtime exited (${code}): ${errors}`)));
    child.stdout!.on('data', (d) => {
      text += String(d);
      const api = /API\s+(\S+)/.exec(text);
      const s3 = /S3\s+(\S+)\s+bucket: (\S+)/.exec(text);
      if (api && s3) {
        clearTimeout(timer);
        ok({
          child,
          api: api[1]!,
          s3: s3[1]!,
          bucket: s3[2]!,
          stderrTail: () =>
            errors
              .split('\n')
              .filter((line) => !line.startsWith('No application metrics to publish'))
              .join('\n')
              .slice(-4000),
        });
      }
    });
  });
}

/** The direct children of a process (the runtime's: its queue consumers' execution environments). */
async function childPids(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`);
  const lists = await Promise.all(
    tasks.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '')),
  );
  return lists.flatMap((list) => list.split(' ').filter(Boolean).map(Number));
}

/** A process's resident memory from /proc: `VmHWM` is its peak so far, `VmRSS` its current. */
async function rssMiB(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return round(kb / 1024);
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 1/100 s). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return round((Number(fields[11]) + Number(fields[12])) / 100);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** A sink for the CLI's progress lines (only the summary matters here). */
const discard = () =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

interface RuntimeRun {
  migration: Record<string, unknown>;
  /** Peak RSS of each worker execution environment (child process), when consumers are isolated. */
  workerPeakRssMiB?: number[];
  seconds?: number;
  runtimeIdleRssMiB: number;
  runtimePeakRssMiB: number;
  qdrantPeakRssMiB: number;
  /** CPU seconds used during the migration: where the time goes on a 2-core machine. */
  cpuSeconds: { runtime: number; qdrant: number; workers?: number[] };
  runtimeStderrTail?: string;
}

/**
 * One migration of `file` by `npm run migrate` on a fresh runtime (and a fresh Qdrant process).
 * `oneIsolatedWorker`: one batch at a time (QUEUE_CONCURRENCY=1) in its own execution environment
 * (ISOLATE_CONSUMERS=1), a child process of the runtime whose peak RSS is the worker's.
 */
async function migrateOnChildRuntime(
  file: string,
  dataDir: string,
  records: number,
  oneIsolatedWorker = false,
): Promise<RuntimeRun> {
  const bytes = (await stat(file)).size;
  const qdrant = await startChildQdrant(join(dataDir, 'qdrant-process'));
  const settings = oneIsolatedWorker ? { queueConcurrency: 1, isolateConsumers: true } : {};
  const runtime = await startChildRuntime(dataDir, qdrant.url, settings).catch(async (err: unknown) => {
    await stopChild(qdrant.child);
    throw err;
  });
  try {
    const idle = await rssMiB(runtime.child.pid!, 'VmRSS');
    const cpuBefore = {
      runtime: await cpuSeconds(runtime.child.pid!),
      qdrant: await cpuSeconds(qdrant.child.pid!),
    };
    let migration: Record<string, unknown>;
    let seconds: number | undefined;
    try {
      const result = await migrateFile({
        file,
        api: runtime.api,
        token: (await apiToken(runtime.api, ['admin'], { DATA_DIR: dataDir }))!,
        s3Endpoint: runtime.s3,
        bucket: runtime.bucket,
        progress: process.stderr,
        output: discard(),
        tty: false,
        pollMs: 250,
      });
      seconds = result.seconds;
      migration = {
        status: result.job.status,
        chunks: result.job.chunks.total,
        written: result.job.counts.written,
        points: result.report?.counts.points,
        verified: result.report?.verification.passed,
        endToEndSeconds: round(result.seconds),
        mbPerSecond: round(bytes / MIB / result.seconds),
        recordsPerSecond: round(records / result.seconds),
      };
    } catch (err) {
      // Kept as the result of this run, with what the runtime said, rather than losing the run.
      migration = { error: (err as Error).message };
    }
    const tail = runtime.stderrTail().trim();
    const workers = oneIsolatedWorker ? await childPids(runtime.child.pid!) : [];
    return {
      migration,
      ...(oneIsolatedWorker
        ? { workerPeakRssMiB: await Promise.all(workers.map((pid) => rssMiB(pid, 'VmHWM'))) }
        : {}),
      cpuSeconds: {
        runtime: round((await cpuSeconds(runtime.child.pid!)) - cpuBefore.runtime),
        qdrant: round((await cpuSeconds(qdrant.child.pid!)) - cpuBefore.qdrant),
        ...(oneIsolatedWorker ? { workers: await Promise.all(workers.map(cpuSeconds)) } : {}),
      },
      ...(seconds === undefined ? {} : { seconds }),
      runtimeIdleRssMiB: idle,
      runtimePeakRssMiB: await rssMiB(runtime.child.pid!, 'VmHWM'),
      qdrantPeakRssMiB: await rssMiB(qdrant.child.pid!, 'VmHWM'),
      ...(tail ? { runtimeStderrTail: tail } : {}),
    };
  } finally {
    await stopChild(runtime.child);
    await stopChild(qdrant.child);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function benchSize(dir: string, mib: number): Promise<Record<string, unknown>> {
  const file = join(dir, `task_vectors_${mib}mb.json`);
  process.stderr.write(`  generating a ${mib} MiB legacy export…\n`);
  const generated = await generateExport(file, mib * MIB);
  const bytes = (await stat(file)).size;
  try {
    process.stderr.write('  bare JSON.parse(readFileSync)…\n');
    const baseline = bareParse(file, bytes);
    process.stderr.write('  planner scan…\n');
    const scan = await scanRate(file, bytes);

    process.stderr.write('  migration, every worker the manifest allows…\n');
    const all = await migrateOnChildRuntime(file, join(dir, `data-${mib}-all`), generated.records);
    process.stderr.write(
      '  migration, one worker in its own process (QUEUE_CONCURRENCY=1 ISOLATE_CONSUMERS=1)…\n',
    );
    const one = await migrateOnChildRuntime(file, join(dir, `data-${mib}-one`), generated.records, true);

    const mbPerSecond = all.seconds === undefined ? undefined : bytes / MIB / all.seconds;
    const ratio =
      mbPerSecond !== undefined && 'mbPerSecond' in baseline
        ? round(mbPerSecond / baseline.mbPerSecond)
        : undefined;
    const oneWorkerPeak = Math.max(...(one.workerPeakRssMiB ?? [Number.NaN]));
    return {
      sizeMiB: round(bytes / MIB),
      records: generated.records,
      dimensions: DIM,
      baselineJsonParse: baseline,
      plannerScan: scan,
      allWorkers: all,
      oneWorker: one,
      throughputVsJsonParse: ratio,
      throughputTarget: `≥ ${TARGET_RATIO}× JSON.parse: ${ratio === undefined ? 'no baseline (JSON.parse cannot read this file) or no migration' : ratio >= TARGET_RATIO ? 'met' : 'NOT met'}`,
      rssNote:
        'runtimePeakRssMiB: the runtime process (VmHWM): the workers in flight (allWorkers) + planner + API + local S3/SQS/bus, Qdrant apart; workerPeakRssMiB: the one worker execution environment (oneWorker)',
      ...(mib >= 1024
        ? {
            rssTarget: `one worker ≤ ${TARGET_RSS_MIB} MiB: ${oneWorkerPeak <= TARGET_RSS_MIB ? 'met' : 'NOT met'} (${oneWorkerPeak} MiB)`,
          }
        : {}),
    };
  } finally {
    await rm(file, { force: true });
  }
}

export async function benchMigration(opts: BenchMigrationOptions = {}): Promise<Record<string, unknown>> {
  const gigabyte = opts.gigabyte ?? process.env.BENCH_MIGRATION_GB === '1';
  const sizes = opts.sizesMiB ?? [50, ...(gigabyte ? [1024] : [])];
  const dir = await mkdtemp(join(tmpdir(), 'vp-bench-migration-'));
  const results: Record<string, unknown> = {};
  try {
    for (const mib of sizes) {
      process.stderr.write(`migration bench: ${mib} MiB\n`);
      results[`${mib}MiB`] = await benchSize(dir, mib);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (!gigabyte) results.note = 'the 1 GB export runs with BENCH_MIGRATION_GB=1';
  return results;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await benchMigration(), null, 2)}\n`);
}
