import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { shortestFloat32 } from '../local/qdrant/collection.ts';
import { QdrantEngine } from '../local/qdrant/engine.ts';
import { clusteredDataset } from './search.ts';

/**
 * The local API round trip for vector search: `npm start`'s runtime (gateway → search handler →
 * Qdrant client → embedded Qdrant-compatible server) in a child process, so the load generator
 * does not share its event loop. A 384-d Cosine collection of 10k clustered vectors is created
 * and filled through the API; then (b) autocannon on concurrent connections with rotating query
 * vectors, (a) sequential round trips on one keep-alive connection (after (b), so that they
 * measure warm code), (c) the same queries against QdrantEngine in this process.
 * Overhead = (a).p50 − (c).p50. The CPU time of the runtime's threads, of this process and of the
 * whole machine during (b) shows what a saturated machine spends its cores on; `valid` says that
 * every request succeeded and the API answered the engine's top 10.
 *
 * `npx node bench/api.ts [n] [connections] [seconds]` prints the JSON result; BENCH_API_NODE_ARGS
 * adds Node flags to the runtime's command line (to profile it).
 */

export interface BenchApiOptions {
  /** Points in the collection. Default 10 000. */
  n?: number;
  dim?: number;
  /** Distinct query bodies, rotated. Default 200. */
  queries?: number;
  /** Timed sequential round trips (after as many warm-up ones). Default 500. */
  sequential?: number;
  /** Concurrent connections of the load run. Default 24. */
  connections?: number;
  /** Load run length. Default 10 s, after a 3 s warm-up. */
  durationSeconds?: number;
  warmupSeconds?: number;
  /** `local` (default): every request carries a token the gateway verifies; `off`: none is checked. */
  auth?: 'local' | 'off';
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const COLLECTION = 'bench_api';
const TOP = 10;
const UPSERT_BATCH = 500;
/** Clock ticks per second of /proc CPU times (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function latencySummary(times: number[]): { p50: number; p95: number; p99: number; mean: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, t) => sum + t, 0) / sorted.length;
  return {
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    mean: round(mean),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', done);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** Vectors as a client sends them: each float32 as its shortest decimal. */
function jsonRow(rows: Float32Array, row: number, dim: number): number[] {
  const out = new Array<number>(dim);
  for (let i = 0; i < dim; i++) out[i] = shortestFloat32(rows[row * dim + i]!);
  return out;
}

interface ApiAnswer {
  status: number;
  body: string;
}

/** Where requests go: the runtime's port, and the headers every request carries (its token). */
interface Target {
  port: number;
  headers: Record<string, string>;
}

/** One request on a keep-alive agent (node:http: less client overhead than fetch). */
function call(agent: Agent, target: Target, method: string, path: string, body?: string): Promise<ApiAnswer> {
  return new Promise((done, fail) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port: target.port,
        method,
        path,
        headers:
          body === undefined ? target.headers : { 'content-type': 'application/json', ...target.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

async function expectOk(answer: Promise<ApiAnswer>, what: string): Promise<string> {
  const { status, body } = await answer;
  if (status < 200 || status > 299) throw new Error(`${what}: HTTP ${status} ${body.slice(0, 500)}`);
  return body;
}

/** CPU seconds of each thread of a process (Linux /proc), keyed `name#tid` (the main thread `main`). */
async function threadCpu(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of tids) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    const close = stat.lastIndexOf(')');
    if (close === -1) continue;
    const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // utime and stime are fields 14 and 15 of the stat line (1-based), i.e. 11 and 12 after ")".
    out.set(`${name}#${tid}`, (Number(fields[11]) + Number(fields[12])) / CLK_TCK);
  }
  return out;
}

/** Busy and total CPU seconds of the whole machine (/proc/stat; idle and iowait are not busy). */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  return { busy: (total - ticks[3]! - ticks[4]!) / CLK_TCK, total: total / CLK_TCK };
}

/**
 * Busy cores of the main thread and of all the others over an interval. Node names its helper
 * threads (V8 GC and compiler workers) and worker threads alike, so they cannot be told apart.
 */
function cpuShares(
  before: Map<string, number>,
  after: Map<string, number>,
  seconds: number,
): { main: number; otherThreads: number; total: number } {
  let main = 0;
  let other = 0;
  for (const [thread, end] of after) {
    const share = (end - (before.get(thread) ?? 0)) / seconds;
    if (thread.startsWith('main#')) main += share;
    else other += share;
  }
  return { main: round(main, 2), otherThreads: round(other, 2), total: round(main + other, 2) };
}

interface Child extends Target {
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The runtime `npm start` runs (`bench/api-runtime.ts`: without request limits, with or without
 * token verification) in a child process on a free port and a fresh data directory, once it
 * answers health; its administrator token then goes with every request.
 */
async function startRuntime(dataDir: string, auth: 'local' | 'off'): Promise<Child> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.QDRANT_URL;
  // BENCH_API_NODE_ARGS: extra Node flags for the runtime (`--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const nodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const args = [join(ROOT, 'bench/api-runtime.ts'), dataDir, String(port), auth];
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let headers: Record<string, string> = {};
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  // If this process dies first, the child must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const agent = new Agent({ keepAlive: false });
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the runtime exited (${child.exitCode ?? child.signalCode}):\n${output}`);
      const answer = await call(agent, { port, headers }, 'GET', '/api/v1/health').catch(() => undefined);
      const started = /\{"token":"([^"]+)"\}/.exec(output);
      if (answer?.status === 200 && started) {
        if (auth === 'local') headers = { authorization: `Bearer ${started[1]}` };
        break;
      }
      if (Date.now() > deadline) throw new Error(`the runtime did not answer health within 60 s:\n${output}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    agent.destroy();
  }
  return { process: child, port, headers, stop };
}

function runAutocannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((done, fail) => {
    autocannon(opts, (err, result) => (err ? fail(err) : done(result)));
  });
}

export async function benchApi(options: BenchApiOptions = {}): Promise<Record<string, unknown>> {
  const n = options.n ?? 10_000;
  const dim = options.dim ?? 384;
  const queryCount = options.queries ?? 200;
  const sequentialCount = options.sequential ?? 500;
  const connections = options.connections ?? 24;
  const duration = options.durationSeconds ?? 10;
  const warmup = options.warmupSeconds ?? 3;

  const { data, queries } = clusteredDataset(n, dim, queryCount);
  const queryVectors = Array.from({ length: queryCount }, (_, i) => jsonRow(queries, i, dim));
  const searchBodies = queryVectors.map((vector) =>
    JSON.stringify({ collection: COLLECTION, vector, limit: TOP }),
  );
  const payloadOf = (id: number) => ({ grp: id % 2, label: `point-${id}` });

  const directory = await mkdtemp(join(tmpdir(), 'bench-api-'));
  let child: Child | undefined;
  try {
    const startedAt = performance.now();
    child = await startRuntime(join(directory, 'runtime'), options.auth ?? 'local');
    const startMs = performance.now() - startedAt;
    const { port, headers } = child;
    const target: Target = { port, headers };
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });

    // Collection and points, through the API.
    await expectOk(
      call(
        agent,
        target,
        'POST',
        '/api/v1/vectors/collections',
        JSON.stringify({ name: COLLECTION, vectorSize: dim, distance: 'Cosine' }),
      ),
      'create collection',
    );
    const ingestStarted = performance.now();
    for (let start = 0; start < n; start += UPSERT_BATCH) {
      const points = [];
      for (let id = start; id < Math.min(n, start + UPSERT_BATCH); id++) {
        points.push({ id, vector: jsonRow(data, id, dim), payload: payloadOf(id) });
      }
      await expectOk(
        call(
          agent,
          target,
          'POST',
          '/api/v1/vectors/upsert',
          JSON.stringify({ collection: COLLECTION, points }),
        ),
        `upsert ${start}`,
      );
    }
    const ingestMs = performance.now() - ingestStarted;
    const info = JSON.parse(
      await expectOk(
        call(agent, target, 'GET', `/api/v1/vectors/collections/${COLLECTION}`),
        'collection info',
      ),
    ) as { pointsCount: number };
    if (info.pointsCount !== n) throw new Error(`collection holds ${info.pointsCount} points, expected ${n}`);

    agent.destroy();

    // (b) Load: every connection cycles through the prebuilt requests (no per-request rebuild).
    const url = `http://127.0.0.1:${port}`;
    const requests = searchBodies.map((body) => ({
      method: 'POST' as const,
      path: '/api/v1/vectors/search',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    }));
    await runAutocannon({ url, connections, duration: warmup, requests });
    const childPid = child.process.pid!;
    const childBefore = await threadCpu(childPid);
    const selfBefore = await threadCpu(process.pid);
    const machineBefore = await machineCpu();
    const loadStarted = performance.now();
    const load = await runAutocannon({ url, connections, duration, requests });
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const machineAfter = await machineCpu();
    const childAfter = await threadCpu(childPid);
    const selfAfter = await threadCpu(process.pid);

    // (a) Sequential round trips on one keep-alive connection, once everything is warm.
    const sequentialAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const search = (i: number) =>
      expectOk(
        call(sequentialAgent, target, 'POST', '/api/v1/vectors/search', searchBodies[i % queryCount]),
        'search',
      );
    for (let i = 0; i < sequentialCount; i++) await search(i);
    const apiTop: number[][] = [];
    const sequentialTimes: number[] = [];
    const sequentialCpuBefore = await threadCpu(child.process.pid!);
    for (let i = 0; i < sequentialCount; i++) {
      const started = performance.now();
      const body = await search(i);
      sequentialTimes.push(performance.now() - started);
      if (i < queryCount) {
        apiTop[i] = (JSON.parse(body) as { results: { id: number }[] }).results.map((hit) => hit.id);
      }
    }
    const sequentialCpu = cpuShares(
      sequentialCpuBefore,
      await threadCpu(child.process.pid!),
      sequentialCount / 1000,
    );
    sequentialAgent.destroy();

    await child.stop();
    child = undefined;

    // (c) The same queries against the engine in this process, on its own copy of the data.
    const engine = await QdrantEngine.open({ dataDir: join(directory, 'direct') });
    await engine.createCollection(COLLECTION, { vectors: { single: { size: dim, distance: 'Cosine' } } });
    const collection = engine.collection(COLLECTION);
    for (let start = 0; start < n; start += UPSERT_BATCH) {
      const points = [];
      for (let id = start; id < Math.min(n, start + UPSERT_BATCH); id++) {
        points.push({ id, vector: data.subarray(id * dim, (id + 1) * dim), payload: payloadOf(id) });
      }
      await collection.upsert(points);
    }
    const direct = (i: number) =>
      collection.query({
        nearest: queryVectors[i % queryCount]!,
        filter: null,
        limit: TOP,
        offset: 0,
        withPayload: true,
        withVector: false,
      });
    for (let i = 0; i < sequentialCount; i++) direct(i);
    const directTimes: number[] = [];
    let agreeing = 0;
    for (let i = 0; i < sequentialCount; i++) {
      const started = performance.now();
      const hits = direct(i);
      directTimes.push(performance.now() - started);
      if (i < queryCount && hits.map((hit) => hit.id).join() === apiTop[i]!.join()) agreeing++;
    }
    await engine.close();

    const sequential = latencySummary(sequentialTimes);
    const directMs = latencySummary(directTimes);
    const topAgreement = round(agreeing / Math.min(queryCount, sequentialCount), 4);
    return {
      auth: options.auth ?? 'local',
      valid: load.non2xx === 0 && load.errors === 0 && load.timeouts === 0 && topAgreement === 1,
      data: {
        n,
        dim,
        distance: 'Cosine',
        limit: TOP,
        queryBodies: queryCount,
        bodyBytes: searchBodies[0]!.length,
      },
      runtimeStartMs: Math.round(startMs),
      ingest: {
        ms: Math.round(ingestMs),
        batch: UPSERT_BATCH,
        pointsPerSecond: Math.round(n / (ingestMs / 1000)),
      },
      sequentialMs: { requests: sequentialCount, ...sequential },
      /** CPU milliseconds per sequential request, per runtime thread (10 ms clock ticks: ±0.02). */
      sequentialCpuMsPerRequest: sequentialCpu,
      load: {
        connections,
        seconds: duration,
        requestsPerSecond: {
          mean: load.requests.mean,
          median: load.requests.p50,
          min: load.requests.min,
          overall: Math.round(load.requests.total / loadSeconds),
        },
        latencyMs: { p50: load.latency.p50, p99: load.latency.p99, max: load.latency.max },
        total: load.requests.total,
        non2xx: load.non2xx,
        errors: load.errors,
        timeouts: load.timeouts,
        /** CPU milliseconds per request of the runtime's threads: the cost the 2 cores are shared by. */
        runtimeCpuMsPerRequest: cpuShares(childBefore, childAfter, load.requests.total / 1000),
        /** Busy cores per thread during the run. */
        cpu: {
          runtime: cpuShares(childBefore, childAfter, loadSeconds),
          loadGenerator: cpuShares(selfBefore, selfAfter, loadSeconds),
          /** Busy cores of the whole machine (other processes included), of `cores`. */
          machine: round((machineAfter.busy - machineBefore.busy) / loadSeconds, 2),
          cores: availableParallelism(),
        },
      },
      directEngineMs: directMs,
      overheadP50Ms: round(sequential.p50 - directMs.p50),
      /** Queries whose top-10 ids through the API equal the engine's. */
      topAgreement,
    };
  } finally {
    await child?.stop();
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [n, connections, seconds] = process.argv.slice(2).map(Number);
  const result = await benchApi({
    ...(n ? { n } : {}),
    ...(connections ? { connections } : {}),
    ...(seconds ? { durationSeconds: seconds } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
