import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Manifest } from '../infra/manifest.ts';
import { uuidV5 } from '../shared/ids.ts';
import { LOCAL_ACCOUNT_ID } from './iam.ts';
import type { ConsumerGate } from './queues.ts';

/**
 * The local Lambda event source mappings: one per manifest queue that has a consumer, as the CDK
 * stack declares them, switched on and off with UpdateEventSourceMapping (`lambda.ts`) and obeyed
 * by the queue pollers (`queues.ts`, through `ConsumerGate`). Their UUIDs are derived from the
 * service and queue names, so functions' environments name the same mappings across restarts;
 * whether each is enabled is kept in `<dataDir>/lambda/event-source-mappings.json`, so a manager
 * stopped stays stopped after a restart.
 *
 * States, as Lambda reports them, say what the queue's poller does, not only what was asked:
 * `Disabling` from the update until the poller has stopped receiving (it finishes the receive in
 * progress, at most a second, and starts no batch after it), then `Disabled`; `Enabling` until
 * the poller receives again (at once), then `Enabled`. Before the pollers start (the runtime's
 * start), a mapping is `Enabling` or `Disabling`.
 */

/** The namespace of the local mappings' UUIDv5s (fixed: changing it renames every mapping). */
const MAPPING_NAMESPACE = 'a3c1f0e2-6b7d-5e48-9f20-7c1d2e3f4a5b';

export type MappingState = 'Enabled' | 'Enabling' | 'Disabled' | 'Disabling';

export function eventSourceMappingUuid(service: string, queue: string): string {
  return uuidV5(`${service}/${queue}`, MAPPING_NAMESPACE);
}

export function eventSourceMappingArn(region: string, uuid: string): string {
  return `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:event-source-mapping:${uuid}`;
}

export interface EventSourceMapping {
  uuid: string;
  arn: string;
  queue: string;
  /** The consumer's manifest key. */
  consumer: string;
  eventSourceArn: string;
  batchSize: number;
  maxBatchingWindowSeconds: number;
  maxConcurrency: number;
  enabled: boolean;
  state: MappingState;
  lastModified: Date;
}

/** The file: each mapping's switch by UUID. */
const StoredSchema = z.record(
  z.string(),
  z.object({ queue: z.string(), enabled: z.boolean(), lastModified: z.string() }),
);

interface Entry {
  readonly mapping: Omit<EventSourceMapping, 'enabled' | 'state' | 'lastModified'>;
  enabled: boolean;
  /** What the poller last acted on (see `ConsumerGate.acknowledge`); undefined before it started. */
  acknowledged: boolean | undefined;
  lastModified: Date;
  /** Resolved at the next change of `enabled`. */
  change: { promise: Promise<void>; resolve: () => void };
}

function newChange(): Entry['change'] {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export class EventSourceMappings implements ConsumerGate {
  readonly #file: string;
  readonly #byUuid = new Map<string, Entry>();
  readonly #byQueue = new Map<string, Entry>();
  /** Saves are serialised: the file always holds the last one. */
  #saving: Promise<void> = Promise.resolve();

  private constructor(file: string, entries: Entry[]) {
    this.#file = file;
    for (const entry of entries) {
      this.#byUuid.set(entry.mapping.uuid, entry);
      this.#byQueue.set(entry.mapping.queue, entry);
    }
  }

  /** The manifest's mappings, each enabled unless the file says it was disabled. */
  static async open(opts: {
    manifest: Manifest;
    region: string;
    /** `<dataDir>/lambda/event-source-mappings.json`. */
    file: string;
    /** Each queue's ARN, by manifest queue name. */
    queueArns: Readonly<Record<string, string>>;
  }): Promise<EventSourceMappings> {
    const stored = await readStored(opts.file);
    const entries: Entry[] = [];
    for (const [queue, decl] of Object.entries(opts.manifest.queues)) {
      if (!decl.consumer) continue;
      const eventSourceArn = opts.queueArns[queue];
      if (!eventSourceArn) throw new Error(`queue ${queue} has not been created (see createLocalQueues)`);
      const uuid = eventSourceMappingUuid(opts.manifest.service, queue);
      const saved = stored[uuid];
      const enabled = saved?.enabled ?? true;
      entries.push({
        mapping: {
          uuid,
          arn: eventSourceMappingArn(opts.region, uuid),
          queue,
          consumer: decl.consumer,
          eventSourceArn,
          batchSize: decl.batchSize,
          maxBatchingWindowSeconds: decl.maxBatchingWindowSeconds,
          maxConcurrency: decl.maxConcurrency,
        },
        enabled,
        acknowledged: undefined,
        lastModified: saved ? new Date(saved.lastModified) : new Date(),
        change: newChange(),
      });
    }
    return new EventSourceMappings(opts.file, entries);
  }

  /** Every mapping, by queue name. */
  uuids(): Record<string, string> {
    return Object.fromEntries([...this.#byQueue].map(([queue, e]) => [queue, e.mapping.uuid]));
  }

  get(uuid: string): EventSourceMapping | undefined {
    const entry = this.#byUuid.get(uuid);
    return entry && view(entry);
  }

  /** Switches a mapping (saved before it answers); the poller follows. Undefined: no such mapping. */
  async setEnabled(uuid: string, enabled: boolean): Promise<EventSourceMapping | undefined> {
    const entry = this.#byUuid.get(uuid);
    if (!entry) return undefined;
    const changed = entry.enabled !== enabled;
    entry.enabled = enabled;
    entry.lastModified = new Date();
    await this.#save();
    if (changed) {
      const { resolve } = entry.change;
      entry.change = newChange();
      resolve();
    }
    return view(entry);
  }

  isEnabled(queue: string): boolean {
    return this.#byQueue.get(queue)?.enabled ?? true;
  }

  changed(queue: string): Promise<void> {
    return this.#byQueue.get(queue)?.change.promise ?? new Promise(() => {});
  }

  acknowledge(queue: string, enabled: boolean): void {
    const entry = this.#byQueue.get(queue);
    if (entry) entry.acknowledged = enabled;
  }

  /** Writes a new file beside the old one, then renames it over: a crash leaves one or the other. */
  #save(): Promise<void> {
    const content = Object.fromEntries(
      [...this.#byUuid].map(([uuid, e]) => [
        uuid,
        { queue: e.mapping.queue, enabled: e.enabled, lastModified: e.lastModified.toISOString() },
      ]),
    );
    const save = this.#saving.then(async () => {
      await mkdir(dirname(this.#file), { recursive: true });
      const temp = `${this.#file}.${process.pid}.tmp`;
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.#file);
    });
    this.#saving = save.catch(() => undefined);
    return save;
  }
}

function view(entry: Entry): EventSourceMapping {
  const state: MappingState = entry.enabled
    ? entry.acknowledged === true
      ? 'Enabled'
      : 'Enabling'
    : entry.acknowledged === false
      ? 'Disabled'
      : 'Disabling';
  return { ...entry.mapping, enabled: entry.enabled, state, lastModified: entry.lastModified };
}

async function readStored(file: string): Promise<z.infer<typeof StoredSchema>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = StoredSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}
