import {
  createEventBus,
  createMigrationQueue,
  createObjectStore,
  createStateStore,
} from '../adapters/index.ts';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { getQdrantClient } from '../vectors/clients.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';

/** Readiness: each dependency pinged at once, each with its own outcome and latency. */

export type CheckName = 'qdrant' | 'exportsBucket' | 'migrationsQueue' | 'eventBus' | 'stateStore';

export type CheckResult =
  | { status: 'ok'; latencyMs: number }
  | { status: 'error'; latencyMs: number; reason: string };

export interface StatusReport {
  status: 'ok' | 'degraded';
  checks: Record<string, CheckResult>;
}

/** A check slower than this counts as failed, so the status call itself answers in time. */
export const CHECK_TIMEOUT_MS = 3_000;

/**
 * A failure's reason as shown to callers: typed errors carry safe messages; anything else is
 * reduced to its name or code (a raw message may hold an endpoint or a path).
 */
function reasonOf(err: unknown): string {
  if (err instanceof AppError) return err.message;
  // A resource this deployment was not given (`Invalid configuration: EXPORTS_BUCKET is not set`).
  if (err instanceof Error && err.message.startsWith('Invalid configuration:')) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.name : 'unknown failure';
}

class CheckTimeout extends Error {}

async function timed(check: () => Promise<void>, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    // A check that throws synchronously (e.g. a resource not configured) fails like any other.
    await Promise.race([Promise.resolve().then(check), timeout]);
    return { status: 'ok', latencyMs: elapsed() };
  } catch (err) {
    const reason =
      err instanceof Error && err.message.startsWith('timed out after') ? err.message : reasonOf(err);
    return { status: 'error', latencyMs: elapsed(), reason };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check concurrently; the report is `ok` only when all are. */
export async function runChecks(
  checks: Record<string, () => Promise<void>>,
  timeoutMs: number = CHECK_TIMEOUT_MS,
): Promise<StatusReport> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => timed(checks[name]!, timeoutMs)));
  return {
    status: results.every((r) => r.status === 'ok') ? 'ok' : 'degraded',
    checks: Object.fromEntries(names.map((name, i) => [name, results[i]!])),
  };
}

/** The platform's dependencies, as configured. */
export function platformChecks(config: Config): Record<CheckName, () => Promise<void>> {
  return {
    qdrant: async () => {
      await qdrantCall({}, () => getQdrantClient(config.qdrant).getCollections());
    },
    exportsBucket: () => createObjectStore(config).ping(),
    migrationsQueue: () => createMigrationQueue(config).ping(),
    eventBus: () => createEventBus(config).ping(),
    stateStore: () => createStateStore(config).ping(),
  };
}
