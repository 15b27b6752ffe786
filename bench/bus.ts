import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Manifest } from '../infra/manifest.ts';
import {
  type BusEvent,
  LocalEventBus,
  MAX_ENTRIES_PER_CALL,
  startEventBridgeEndpoint,
} from '../local/event-bus.ts';
import { LocalIam } from '../local/iam.ts';

/**
 * The local event bus (issue 10): publish → delivery latency and events/s of `LocalEventBus`,
 * measured in one run.
 *
 * 1. In process: `bus.putEvents` with one rule matching every published event, whose target is an
 *    `invoke` that records the time and resolves at once, so what is timed is the bus itself
 *    (validation, envelope, the archive's append + fsync, pattern matching, dispatch with a
 *    structured clone). Sequential events (one entry per call, each awaited) give p50/p95/p99;
 *    bursts of 20 000 events (calls of 10 entries, one call at a time, then all issued at once)
 *    give events/s.
 * 2. Through the EventBridge API as functions use it: `startEventBridgeEndpoint` with LocalIam,
 *    `@aws-sdk/client-eventbridge` `PutEvents` signed with a registered principal's credentials
 *    (granted `events:PutEvents` on the bus), sequential single events, then 20 000 events in
 *    batches of 10, one call at a time (as `shared/adapters/eventbridge.ts` publishes) and with
 *    several calls in flight.
 *
 * The local bus has no switch for its archive: every accepted event is appended to
 * `archive.jsonl` and fsync'd before PutEvents returns, whatever the rules' `archive` flag. So
 * each scenario runs with the archive on the disk (the default: the runtime's data directory,
 * here the OS temp directory) and on tmpfs (`/dev/shm`), where fsync costs next to nothing:
 * the difference is what durability costs.
 *
 * The four scenarios run in 3 rounds, the order of the archive locations alternated (a shared,
 * drifting machine then weighs on both); the result gives the median over rounds of each figure.
 *
 * Latency is from the call to `putEvents` (or `client.send`) to the target's `invoke`; the bus
 * invokes targets before PutEvents answers, so the acknowledgement comes after the delivery and
 * is reported separately. `valid`: every event was delivered exactly once and no entry failed.
 *
 * `npx node bench/bus.ts [sequential] [burst] [rounds]` prints the JSON result.
 */

export interface BenchBusOptions {
  /** Timed sequential events per scenario (after 10 % as many warm-up ones). Default 3 000. */
  sequential?: number;
  /** Events of each throughput burst. Default 20 000. */
  burst?: number;
  /** PutEvents calls in flight in the concurrent API burst. Default 16. */
  apiConcurrency?: number;
  /** Rounds of the four scenarios, the archive locations' order alternated. Default 3. */
  rounds?: number;
}

const BUS = 'vector-platform-bench';
const SOURCE = 'vector-platform.bench';
const REGION = 'us-east-1';
const LEGACY = { p50Ms: 1, eventsPerSecond: 50_000 };

const manifest: Manifest = {
  service: 'bus-bench',
  eventSource: SOURCE,
  limits: {
    stage: { ratePerSecond: 10_000, burst: 5_000 },
    overallPerMinute: 1_000_000,
    perClientPerMinute: 1_000_000,
  },
  functions: {
    sink: {
      entry: 'bench/bus.ts#sink',
      description: "Rule target, implemented by the bench's invoke function",
      memoryMb: 128,
      timeoutSeconds: 5,
      access: [],
    },
  },
  routes: [],
  queues: {},
  rules: {
    migrationEvents: {
      description: 'Every migration event of the bench source',
      pattern: { source: [SOURCE], 'detail-type': [{ prefix: 'Migration' }] },
      function: 'sink',
      archive: true,
    },
  },
  notifications: [],
};

const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

function summary(times: number[]): { n: number; p50: number; p95: number; p99: number; max: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
  return { n: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: round(sorted.at(-1)!) };
}

/** Counts deliveries per sequence number and wakes whoever waits for a number or a total. */
class Deliveries {
  readonly counts = new Map<number, number>();
  readonly at = new Map<number, number>();
  total = 0;
  #waiting: { total: number; done: () => void } | undefined;

  record(event: BusEvent): void {
    const now = performance.now();
    const seq = (event.detail as { seq: number }).seq;
    this.counts.set(seq, (this.counts.get(seq) ?? 0) + 1);
    if (!this.at.has(seq)) this.at.set(seq, now);
    this.total++;
    if (this.#waiting && this.total >= this.#waiting.total) {
      this.#waiting.done();
      this.#waiting = undefined;
    }
  }

  /** Resolves once `total` deliveries have been seen in all (fails after `timeoutMs`). */
  async until(total: number, timeoutMs = 120_000): Promise<void> {
    if (this.total >= total) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((done) => {
        this.#waiting = { total, done };
      }),
      new Promise<never>((_, fail) => {
        timer = setTimeout(
          () => fail(new Error(`${this.total} deliveries after ${timeoutMs} ms, expected ${total}`)),
          timeoutMs,
        );
      }),
    ]);
    clearTimeout(timer);
  }

  /** Whether every number in [from, to) was delivered exactly once. */
  exactlyOnce(from: number, to: number): boolean {
    for (let seq = from; seq < to; seq++) if (this.counts.get(seq) !== 1) return false;
    return true;
  }
}

/** What both `bus.putEvents` and the SDK's `PutEvents` take. */
interface Entry {
  EventBusName: string;
  Source: string;
  DetailType: string;
  Detail: string;
}

const entry = (seq: number): Entry => ({
  EventBusName: BUS,
  Source: SOURCE,
  DetailType: 'MigrationCompleted',
  // A detail of the size the platform publishes (a migration's outcome).
  Detail: JSON.stringify({ seq, migrationId: `mig-${seq}`, collection: 'tasks', points: 5000, ok: true }),
});

type Publish = (entries: Entry[]) => Promise<number>;

/** One scenario: sequential latency, then bursts; returns figures and whether all was exactly once. */
async function scenario(
  publish: Publish,
  deliveries: Deliveries,
  insideBus: number[] | undefined,
  opts: { sequential: number; burst: number; concurrency: number[] },
): Promise<{ ok: boolean; result: ScenarioResult }> {
  let failedEntries = 0;
  let ok = true;
  const next = { seq: 0 };
  const first = next.seq;

  // Sequential: one event per call, each awaited, after a warm-up.
  const warmup = Math.max(100, Math.floor(opts.sequential / 10));
  const deliveryMs: number[] = [];
  const ackMs: number[] = [];
  for (let i = 0; i < warmup + opts.sequential; i++) {
    const seq = next.seq++;
    const before = deliveries.total;
    const t0 = performance.now();
    failedEntries += await publish([entry(seq)]);
    const t1 = performance.now();
    await deliveries.until(before + 1);
    const delivered = deliveries.at.get(seq);
    if (delivered === undefined) throw new Error(`event ${seq} was not delivered before PutEvents answered`);
    if (i >= warmup) {
      deliveryMs.push(delivered - t0);
      ackMs.push(t1 - t0);
    } else if (insideBus) {
      insideBus.length = 0;
    }
  }
  const insideBusMs = insideBus?.slice(0, opts.sequential);

  // Bursts: `burst` events in calls of 10 entries, `concurrency` calls in flight.
  const bursts: ScenarioResult['burst'] = {};
  for (const concurrency of opts.concurrency) {
    const start = next.seq;
    const calls: Entry[][] = [];
    for (let s = start; s < start + opts.burst; s += MAX_ENTRIES_PER_CALL) {
      calls.push(
        Array.from({ length: Math.min(MAX_ENTRIES_PER_CALL, start + opts.burst - s) }, (_, k) =>
          entry(s + k),
        ),
      );
    }
    next.seq += opts.burst;
    const expected = deliveries.total + opts.burst;
    const t0 = performance.now();
    let cursor = 0;
    const worker = async () => {
      while (cursor < calls.length) failedEntries += await publish(calls[cursor++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, calls.length) }, worker));
    const acknowledged = performance.now() - t0;
    await deliveries.until(expected);
    const seconds = (performance.now() - t0) / 1000;
    ok &&= deliveries.exactlyOnce(start, start + opts.burst);
    bursts[concurrency === Number.POSITIVE_INFINITY ? 'allAtOnce' : `inFlight${concurrency}`] = {
      calls: calls.length,
      seconds: round(seconds),
      eventsPerSecond: Math.round(opts.burst / seconds),
      lastAckMs: Math.round(acknowledged),
    };
  }
  ok &&= failedEntries === 0 && deliveries.exactlyOnce(first, next.seq);
  return {
    ok,
    result: {
      publishToDeliveryMs: summary(deliveryMs),
      publishToAckMs: summary(ackMs),
      ...(insideBusMs ? { insideBusPutEventsMs: summary(insideBusMs) } : {}),
      burst: bursts,
      failedEntries,
    },
  };
}

async function withBus<T>(
  archiveParent: string,
  run: (bus: LocalEventBus, deliveries: Deliveries, logs: string[]) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(archiveParent, 'bench-bus-'));
  const deliveries = new Deliveries();
  const logs: string[] = [];
  const bus = new LocalEventBus({
    manifest,
    busName: BUS,
    archiveDir: dir,
    region: REGION,
    log: (msg) => logs.push(msg),
    invoke: async (_fn, event) => {
      deliveries.record(event as BusEvent);
    },
  });
  await bus.start();
  try {
    return await run(bus, deliveries, logs);
  } finally {
    await bus.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

type Cell = 'inProcess' | 'api';
type ScenarioResult = {
  publishToDeliveryMs: ReturnType<typeof summary>;
  publishToAckMs: ReturnType<typeof summary>;
  /** API only: the time spent inside `bus.putEvents` (the rest is SDK, HTTP and IAM). */
  insideBusPutEventsMs?: ReturnType<typeof summary>;
  burst: Record<string, { eventsPerSecond: number; seconds: number; calls: number; lastAckMs: number }>;
  failedEntries: number;
};

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : round((sorted[mid - 1]! + sorted[mid]!) / 2);
};

/** Medians over rounds of each figure, with the per-round values of the headline ones. */
function combine(runs: ScenarioResult[]): Record<string, unknown> {
  const over = (pick: (r: ScenarioResult) => ReturnType<typeof summary>) => ({
    p50: median(runs.map((r) => pick(r).p50)),
    p95: median(runs.map((r) => pick(r).p95)),
    p99: median(runs.map((r) => pick(r).p99)),
    max: Math.max(...runs.map((r) => pick(r).max)),
    p50ByRound: runs.map((r) => pick(r).p50),
    eventsPerRound: runs[0]!.publishToDeliveryMs.n,
  });
  const burst: Record<string, unknown> = {};
  for (const key of Object.keys(runs[0]!.burst)) {
    const rates = runs.map((r) => r.burst[key]!.eventsPerSecond);
    burst[key] = {
      eventsPerSecond: Math.round(median(rates)),
      byRound: rates,
      calls: runs[0]!.burst[key]!.calls,
    };
  }
  return {
    publishToDeliveryMs: over((r) => r.publishToDeliveryMs),
    publishToAckMs: over((r) => r.publishToAckMs),
    ...(runs[0]!.insideBusPutEventsMs ? { insideBusPutEventsMs: over((r) => r.insideBusPutEventsMs!) } : {}),
    burst,
    failedEntries: runs.reduce((n, r) => n + r.failedEntries, 0),
  };
}

export async function benchBus(options: BenchBusOptions = {}): Promise<Record<string, unknown>> {
  const sequential = options.sequential ?? 3_000;
  const burst = options.burst ?? 20_000;
  const apiConcurrency = options.apiConcurrency ?? 16;
  const rounds = options.rounds ?? 3;
  const archives = { disk: tmpdir(), tmpfs: '/dev/shm' };
  type Archive = keyof typeof archives;

  let valid = true;
  const logLines: string[] = [];
  const runs: Record<`${Cell}.${Archive}`, ScenarioResult[]> = {
    'inProcess.disk': [],
    'inProcess.tmpfs': [],
    'api.disk': [],
    'api.tmpfs': [],
  };

  const inProcess = (archive: Archive) =>
    withBus(archives[archive], async (bus, deliveries, logs) => {
      const publish: Publish = async (entries) => (await bus.putEvents(entries)).FailedEntryCount;
      const { ok, result } = await scenario(publish, deliveries, undefined, {
        sequential,
        burst,
        concurrency: [1, Number.POSITIVE_INFINITY],
      });
      valid &&= ok && deliveries.total === deliveries.counts.size;
      logLines.push(...logs);
      return result;
    });

  const throughApi = (archive: Archive) =>
    withBus(archives[archive], async (bus, deliveries, logs) => {
      const iam = new LocalIam();
      const credentials = iam.register('bus-bench-publisher', [
        { actions: ['events:PutEvents'], resources: [bus.arn] },
      ]);
      // The time inside the bus, to tell it from the SDK, HTTP and IAM around it.
      const insideBus: number[] = [];
      const putEvents = bus.putEvents.bind(bus);
      bus.putEvents = async (entries) => {
        const t0 = performance.now();
        try {
          return await putEvents(entries);
        } finally {
          insideBus.push(performance.now() - t0);
        }
      };
      const endpoint = await startEventBridgeEndpoint(bus, { iam });
      const client = new EventBridgeClient({ region: REGION, endpoint: endpoint.url, credentials });
      try {
        const publish: Publish = async (entries) =>
          (await client.send(new PutEventsCommand({ Entries: entries }))).FailedEntryCount ?? entries.length;
        const { ok, result } = await scenario(publish, deliveries, insideBus, {
          sequential,
          burst,
          concurrency: [1, apiConcurrency],
        });
        valid &&= ok && deliveries.total === deliveries.counts.size;
        logLines.push(...logs);
        return result;
      } finally {
        client.destroy();
        await endpoint.close();
      }
    });

  // Rounds alternate the order of the archive locations, so that a drifting machine falls on both.
  for (let r = 0; r < rounds; r++) {
    const order: Archive[] = r % 2 === 0 ? ['disk', 'tmpfs'] : ['tmpfs', 'disk'];
    for (const archive of order) {
      runs[`inProcess.${archive}`].push(await inProcess(archive));
      runs[`api.${archive}`].push(await throughApi(archive));
    }
  }

  const results = Object.fromEntries(Object.entries(runs).map(([cell, r]) => [cell, combine(r)])) as Record<
    string,
    {
      publishToDeliveryMs: { p50: number };
      burst: Record<string, { eventsPerSecond: number }>;
    }
  >;
  const p50 = (cell: string) => results[cell]!.publishToDeliveryMs.p50;
  const rate = (cell: string, key: string) => results[cell]!.burst[key]!.eventsPerSecond;
  return {
    valid: valid && logLines.length === 0,
    rounds,
    defaultArchive: 'disk (every accepted event appended to archive.jsonl and fsync-ed; no switch)',
    event: { detailBytes: entry(0).Detail.length, rules: 1, matching: 'every event' },
    inProcess: { disk: results['inProcess.disk'], tmpfs: results['inProcess.tmpfs'] },
    api: { disk: results['api.disk'], tmpfs: results['api.tmpfs'], concurrency: apiConcurrency },
    legacyClaim: LEGACY,
    /** Ours over the legacy claim, archive on disk (the default). */
    comparison: {
      inProcessP50OverLegacy: round(p50('inProcess.disk') / LEGACY.p50Ms, 2),
      inProcessBurstOverLegacy: round(rate('inProcess.disk', 'allAtOnce') / LEGACY.eventsPerSecond, 3),
      apiP50OverLegacy: round(p50('api.disk') / LEGACY.p50Ms, 2),
      apiBurstOverLegacy: round(rate('api.disk', `inFlight${apiConcurrency}`) / LEGACY.eventsPerSecond, 3),
    },
    busLogs: logLines.slice(0, 5),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [sequential, burst, rounds] = process.argv.slice(2).map(Number);
  const result = await benchBus({
    ...(sequential ? { sequential } : {}),
    ...(burst ? { burst } : {}),
    ...(rounds ? { rounds } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
