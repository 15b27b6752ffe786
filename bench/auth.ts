import { fileURLToPath } from 'node:url';
import { benchApi } from './api.ts';

/**
 * What verifying a bearer token costs the local API: the search round trip of `bench/api.ts` with
 * the gateway's JWT authorizer (`auth: local`, a token on every request) against the same runtime
 * without it (`auth: off`), alternated A B B A so drift of a noisy machine falls on both sides.
 * Reported: the median over runs of the sequential p50 and of the load throughput, their
 * difference and ratio.
 */

type Run = Awaited<ReturnType<typeof benchApi>> & {
  sequentialMs: { p50: number };
  load: { requestsPerSecond: { overall: number } };
  valid: boolean;
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function benchAuth(rounds = 2): Promise<Record<string, unknown>> {
  const runs: Record<'local' | 'off', Run[]> = { local: [], off: [] };
  for (let r = 0; r < rounds; r++) {
    for (const auth of r % 2 === 0 ? (['local', 'off'] as const) : (['off', 'local'] as const)) {
      runs[auth].push((await benchApi({ auth })) as Run);
    }
  }
  const p50 = (auth: 'local' | 'off') => median(runs[auth].map((run) => run.sequentialMs.p50));
  const rps = (auth: 'local' | 'off') => median(runs[auth].map((run) => run.load.requestsPerSecond.overall));
  return {
    valid: [...runs.local, ...runs.off].every((run) => run.valid),
    rounds,
    sequentialP50Ms: { withToken: round(p50('local')), without: round(p50('off')) },
    addedP50Ms: round(p50('local') - p50('off')),
    requestsPerSecond: { withToken: rps('local'), without: rps('off') },
    throughputRatio: round(rps('local') / rps('off')),
    perRun: Object.fromEntries(
      (['local', 'off'] as const).map((auth) => [
        auth,
        runs[auth].map((run) => ({ p50: run.sequentialMs.p50, rps: run.load.requestsPerSecond.overall })),
      ]),
    ),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await benchAuth(Number(process.argv[2]) || 2), null, 2)}\n`);
}
