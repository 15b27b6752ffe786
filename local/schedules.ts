import { randomUUID } from 'node:crypto';
import type { Manifest, ScheduleDecl } from '../infra/manifest.ts';
import { LOCAL_ACCOUNT_ID } from './iam.ts';

/**
 * The manifest's schedules on timers: each function is invoked every `rateMinutes` with its
 * constant input, or EventBridge's "Scheduled Event". Runs are missed while the runtime is
 * stopped, so each schedule also runs once at start (a catch-up run). A failed run is logged;
 * the next one comes at its time, as with a schedule rule whose retries are spent.
 */

type Invoke = (fnName: string, event: unknown) => Promise<unknown>;

export interface LocalSchedulerOptions {
  manifest: Manifest;
  invoke: Invoke;
  region: string;
  log: (message: string) => void;
  /** Interval between runs instead of each schedule's rate (tests). */
  intervalMs?: number;
}

export class LocalScheduler {
  readonly #opts: LocalSchedulerOptions;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Set<Promise<void>>();

  constructor(opts: LocalSchedulerOptions) {
    this.#opts = opts;
  }

  start(): void {
    for (const [name, decl] of Object.entries(this.#opts.manifest.schedules ?? {})) {
      if (!Object.hasOwn(this.#opts.manifest.functions, decl.function)) {
        throw new Error(`schedule ${name}: function "${decl.function}" is not declared in the manifest`);
      }
      this.#run(name, decl);
      const every = this.#opts.intervalMs ?? decl.rateMinutes * 60_000;
      this.#timers.push(setInterval(() => this.#run(name, decl), every));
    }
  }

  /** Stops the timers and waits for the runs in progress. */
  async stop(): Promise<void> {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    await Promise.allSettled([...this.#running]);
  }

  #run(name: string, decl: ScheduleDecl): void {
    const { region, log } = this.#opts;
    const event = decl.input ?? {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: LOCAL_ACCOUNT_ID,
      time: new Date().toISOString(),
      region,
      resources: [`arn:aws:events:${region}:${LOCAL_ACCOUNT_ID}:rule/${name}`],
      detail: {},
    };
    const run = this.#opts
      .invoke(decl.function, event)
      .then(
        () => undefined,
        (err: unknown) => log(`[schedule] ${name} → ${decl.function} failed: ${(err as Error).message}`),
      )
      .finally(() => this.#running.delete(run));
    this.#running.add(run);
  }
}
