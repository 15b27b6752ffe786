import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalRuntime } from '../local/runtime.ts';
import { MANAGER_IDS } from '../shared/managers/specs.ts';

/**
 * The coordinator on the local runtime (issue 10): `GET /api/v1/managers/status`, which reads
 * every manager's lifecycle and invokes each contract function's `health` through the local
 * Lambda endpoint in parallel. Compared in the same run with `GET /api/v1/health` (the API's
 * round-trip floor: a function that touches nothing) and with one manager's health.
 * Sequential calls, warm (each function started before timing), rounds alternated so a drifting
 * machine weighs on every route; then 4 clients at once for requests/s of the status route.
 *
 * `npx node bench/managers.ts [calls] [rounds]` prints the JSON result.
 */

const round2 = (n: number) => Math.round(n * 100) / 100;

function percentiles(times: number[]) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (p: number) => round2(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function benchManagers(calls = 200, rounds = 3): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-managers-'));
  const runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false });
  try {
    const token = await runtime.issueToken({ groups: ['admin'] });
    const get = async (path: string) => {
      const t0 = performance.now();
      const res = await fetch(`${runtime.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${body.slice(0, 300)}`);
      return { ms, body };
    };
    const routes = {
      managersStatus: '/api/v1/managers/status',
      oneManagerHealth: '/api/v1/managers/vectorization/health',
      liveness: '/api/v1/health',
    } as const;
    // Warm: every contract function started (its cold start is Lambda's, not the route's).
    for (let i = 0; i < 20; i++) for (const path of Object.values(routes)) await get(path);
    const last = JSON.parse((await get(routes.managersStatus)).body) as {
      managers: Array<{ id: string; health: { status: string } }>;
    };
    const valid =
      last.managers.length === MANAGER_IDS.length &&
      last.managers.every((m) => m.health.status !== 'unhealthy');

    const perRound: Record<string, Array<ReturnType<typeof percentiles>>> = {};
    for (let r = 0; r < rounds; r++) {
      const order = Object.entries(routes);
      if (r % 2 === 1) order.reverse();
      for (const [name, path] of order) {
        const times: number[] = [];
        for (let i = 0; i < calls; i++) times.push((await get(path)).ms);
        perRound[name] = [...(perRound[name] ?? []), percentiles(times)];
      }
    }
    const sequentialMs = Object.fromEntries(
      Object.entries(perRound).map(([name, runs]) => [
        name,
        {
          p50: median(runs.map((x) => x.p50)),
          p95: median(runs.map((x) => x.p95)),
          p99: median(runs.map((x) => x.p99)),
        },
      ]),
    );

    const clients = 4;
    const loadCalls = calls;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = 0; i < loadCalls / clients; i++) await get(routes.managersStatus);
      }),
    );
    const requestsPerSecond = round2(loadCalls / ((performance.now() - t0) / 1000));
    const status = sequentialMs.managersStatus!.p50;
    return {
      managers: MANAGER_IDS.length,
      calls,
      rounds,
      sequentialMs,
      statusOverLiveness: round2(status / sequentialMs.liveness!.p50),
      load: { clients, requestsPerSecond },
      targetP50Ms: 50,
      meetsTarget: status <= 50,
      valid,
    };
  } finally {
    await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [calls, rounds] = process.argv.slice(2).map(Number);
  process.stdout.write(
    `${JSON.stringify(await benchManagers(calls || undefined, rounds || undefined), null, 2)}\n`,
  );
}
