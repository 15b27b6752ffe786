import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_CLIENT_ID, startLocalIssuer } from '../local/identity/issuer.ts';
import { JwtAuthorizer } from '../local/identity/jwt-authorizer.ts';
import { benchApi } from './api.ts';

/**
 * What verifying a bearer token costs the local API: the search round trip of `bench/api.ts` with
 * the gateway's JWT authorizer (`auth: local`, a token on every request) against the same runtime
 * without it (`auth: off`), alternated A B B A so drift of a noisy machine falls on both sides.
 * Reported: the median over runs of the sequential p50 and of the load throughput, their
 * difference and ratio; and, measured alone in this process (so a noisy machine cannot hide it),
 * what the gateway's `verify` costs, keys cached: a token's first time and its next ones.
 */

/**
 * Microseconds of `JwtAuthorizer.verify` (keys cached): a token's first verification (signature,
 * claims, flattening: 2 000 distinct tokens) and its next ones (the verified-token cache).
 */
export async function verifyCost(): Promise<Record<string, { calls: number; p50Us: number; p99Us: number }>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-auth-'));
  const issuer = await startLocalIssuer({ dataDir, host: '127.0.0.1' });
  const summary = (times: number[]) => {
    times.sort((a, b) => a - b);
    const at = (p: number) => round(times[Math.floor(p * times.length)]! * 1000, 1);
    return { calls: times.length, p50Us: at(0.5), p99Us: at(0.99) };
  };
  const timed = async (authorizer: JwtAuthorizer, headers: string[]) => {
    const times: number[] = [];
    for (const header of headers) {
      const t0 = performance.now();
      const verdict = await authorizer.verify(header);
      times.push(performance.now() - t0);
      if (!verdict.ok) throw new Error('the bench token was refused');
    }
    return times;
  };
  try {
    const config = { issuer: issuer.issuer, audiences: [LOCAL_CLIENT_ID], jwks: issuer.jwks };
    const distinct: string[] = [];
    for (let i = 0; i < 2_000; i++)
      distinct.push(`Bearer ${await issuer.issue({ groups: ['admin'], sub: `u${i}` })}`);
    await timed(new JwtAuthorizer(config), distinct.slice(0, 200)); // warm-up
    const first = await timed(new JwtAuthorizer(config), distinct);
    const repeated = await timed(new JwtAuthorizer(config), Array(20_000).fill(distinct[0]));
    return { firstVerification: summary(first), sameTokenAgain: summary(repeated) };
  } finally {
    await issuer.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

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
    verify: await verifyCost(),
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
