import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import type { Manifest, RuleDecl } from '../infra/manifest.ts';
import { compilePattern } from '../shared/events/pattern.ts';
import { AwsJsonError, awsJsonServer } from './aws-json.ts';
import { JSON_DENIALS, LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import { closeNow, listen } from './listen.ts';

/**
 * The local stand-in for the platform's EventBridge custom bus: PutEvents with EventBridge's
 * validation and envelope, the manifest's rules matched with EventBridge pattern semantics, each
 * matching rule's target reached asynchronously (its function invoked with the event, or the
 * event sent to its queue as the message body; at least once, retried with backoff, then
 * recorded as failed), every event archived to an fsync'd JSON-lines file, and archive replay.
 * `startEventBridgeEndpoint` serves it over the AWS JSON 1.1 protocol so that the unchanged
 * `@aws-sdk/client-eventbridge` can talk to it.
 */

/** EventBridge's limit on one PutEvents entry (and on a whole request). */
export const MAX_ENTRY_BYTES = 256 * 1024;
export const MAX_ENTRIES_PER_CALL = 10;
/** Like the CDK rule targets (`retryAttempts: 4`): the first attempt and four retries. */
const DELIVERY_ATTEMPTS = 5;
const RETRY_BASE_MS = 100;

export interface PutEventsEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  Resources?: string[];
  Time?: Date | string;
}

export interface PutEventsResult {
  FailedEntryCount: number;
  Entries: Array<{ EventId?: string; ErrorCode?: string; ErrorMessage?: string }>;
}

/** An event as EventBridge delivers it to a target. */
export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
  /** Set on events re-delivered by a replay. */
  'replay-name'?: string;
}

type Invoke = (fnName: string, event: unknown) => Promise<unknown>;
/** Sends one message to a manifest queue (by its manifest name). */
export type SendToQueue = (queue: string, body: string) => Promise<void>;

interface CompiledRule {
  name: string;
  decl: RuleDecl;
  matches: (event: Record<string, unknown>) => boolean;
}

/** What an archive line must hold to be replayed; anything else (a torn last line) is skipped. */
const ArchivedEventSchema = z.object({
  version: z.literal('0'),
  id: z.string().min(1),
  'detail-type': z.string(),
  source: z.string(),
  account: z.string(),
  time: z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'not a timestamp'),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.record(z.string(), z.unknown()),
});

/** EventBridge event times: ISO 8601 to the second (`2024-05-01T10:00:00Z`). */
function toEventTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Opens a JSON-lines file for appending. A crash in the middle of an append can leave a torn last
 * line: it is closed with a newline so that it stays one unreadable line (skipped by replay)
 * instead of corrupting the next event appended after it.
 */
async function openJsonLines(path: string): Promise<FileHandle> {
  const file = await open(path, 'a+');
  const { size } = await file.stat();
  if (size > 0) {
    const last = Buffer.alloc(1);
    await file.read(last, 0, 1, size - 1);
    if (last[0] !== 0x0a) {
      await file.appendFile('\n');
      await file.datasync();
    }
  }
  return file;
}

export class LocalEventBus {
  readonly name: string;
  readonly region: string;
  readonly arn: string;
  readonly #manifest: Manifest;
  readonly #archiveDir: string;
  readonly #invoke: Invoke;
  readonly #sendToQueue: SendToQueue | undefined;
  readonly #log: (msg: string) => void;
  #rules: CompiledRule[] = [];
  /** The rules declared on the account's default bus (`bus: 'default'`): AWS services' events. */
  #serviceRules: CompiledRule[] = [];
  #archive: FileHandle | undefined;
  #failed: FileHandle | undefined;
  /** Appends are serialised so that lines never interleave and fsyncs follow their writes. */
  #writes: Promise<void> = Promise.resolve();
  readonly #deliveries = new Set<Promise<void>>();

  constructor(opts: {
    manifest: Manifest;
    busName: string;
    archiveDir: string;
    invoke: Invoke;
    /** How events reach the rules that target a queue; required when the manifest has such rules. */
    sendToQueue?: SendToQueue;
    log?: (msg: string) => void;
    /** Region of the ARNs and of the events' `region`; defaults to AWS_REGION, then us-east-1. */
    region?: string;
  }) {
    this.#manifest = opts.manifest;
    this.name = opts.busName;
    this.#archiveDir = opts.archiveDir;
    this.#invoke = opts.invoke;
    this.#sendToQueue = opts.sendToQueue;
    this.#log = opts.log ?? ((msg) => process.stderr.write(`${msg}\n`));
    this.region = opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    this.arn = `arn:aws:events:${this.region}:${LOCAL_ACCOUNT_ID}:event-bus/${this.name}`;
  }

  /** Validates every rule (pattern and target), then opens the archive files. */
  async start(): Promise<void> {
    if (this.#archive) throw new Error(`event bus ${this.name} is already started`);
    const compiled = Object.entries(this.#manifest.rules).map(([name, decl]) => {
      if (decl.queue !== undefined) {
        if (!Object.hasOwn(this.#manifest.queues, decl.queue)) {
          throw new Error(`rule ${name}: target queue "${decl.queue}" is not declared in the manifest`);
        }
        if (!this.#sendToQueue)
          throw new Error(`rule ${name}: targets queue "${decl.queue}", but the bus has no sendToQueue`);
      } else if (!Object.hasOwn(this.#manifest.functions, decl.function)) {
        throw new Error(`rule ${name}: target function "${decl.function}" is not declared in the manifest`);
      }
      try {
        return { name, decl, matches: compilePattern(decl.pattern) };
      } catch (err) {
        throw new Error(`rule ${name}: ${(err as Error).message}`);
      }
    });
    this.#rules = compiled.filter((r) => r.decl.bus === undefined);
    this.#serviceRules = compiled.filter((r) => r.decl.bus === 'default');
    await mkdir(this.#archiveDir, { recursive: true });
    this.#archive = await openJsonLines(join(this.#archiveDir, 'archive.jsonl'));
    this.#failed = await openJsonLines(join(this.#archiveDir, 'failed.jsonl'));
  }

  /** Resolves once every delivery started so far (retries included) has ended. */
  async settled(): Promise<void> {
    while (this.#deliveries.size > 0) await Promise.allSettled([...this.#deliveries]);
  }

  /**
   * An event an AWS service puts on the account's default bus (the local Step Functions' status
   * changes), delivered to the rules declared there; neither archived nor replayable, as the
   * platform's archive is its own bus's. Returns how many rules matched.
   */
  putServiceEvent(event: BusEvent): number {
    return this.#route(event, this.#serviceRules);
  }

  /** Waits for every pending delivery (retries included), then closes the archive files. */
  async stop(): Promise<void> {
    await this.settled();
    await this.#writes;
    await this.#archive?.close();
    await this.#failed?.close();
    this.#archive = undefined;
    this.#failed = undefined;
  }

  /** The manifest's rules as ListRules describes them. */
  listRules(): Array<{
    Name: string;
    Arn: string;
    EventPattern: string;
    State: 'ENABLED';
    Description: string;
    EventBusName: string;
  }> {
    return Object.entries(this.#manifest.rules)
      .filter(([, decl]) => decl.bus === undefined)
      .map(([name, decl]) => ({
        Name: name,
        Arn: `arn:aws:events:${this.region}:${LOCAL_ACCOUNT_ID}:rule/${this.name}/${name}`,
        EventPattern: JSON.stringify(decl.pattern),
        State: 'ENABLED' as const,
        Description: decl.description,
        EventBusName: this.name,
      }))
      .sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /** Whether `nameOrArn` designates this bus (EventBridge accepts either). */
  isThisBus(nameOrArn: string): boolean {
    return nameOrArn === this.name || nameOrArn === this.arn;
  }

  /**
   * EventBridge PutEvents: each entry is validated on its own and fails with an ErrorCode and
   * ErrorMessage instead of failing the call. Accepted events are archived durably (fsync) before
   * the call returns, then delivered asynchronously to every matching rule.
   */
  async putEvents(entries: PutEventsEntry[]): Promise<PutEventsResult> {
    const archive = this.#archive;
    if (!archive) throw new Error(`event bus ${this.name} is not started`);
    if (entries.length > MAX_ENTRIES_PER_CALL) {
      const ErrorMessage = `PutEvents takes at most ${MAX_ENTRIES_PER_CALL} entries per call, got ${entries.length}`;
      return {
        FailedEntryCount: entries.length,
        Entries: entries.map(() => ({ ErrorCode: 'InvalidArgument', ErrorMessage })),
      };
    }
    const results: PutEventsResult['Entries'] = [];
    const accepted: BusEvent[] = [];
    const now = new Date();
    for (const entry of entries) {
      const outcome = this.#toEvent(entry, now);
      if ('ErrorCode' in outcome) {
        results.push(outcome);
      } else if (outcome.event) {
        accepted.push(outcome.event);
        results.push({ EventId: outcome.event.id });
      } else {
        results.push({ EventId: outcome.id });
      }
    }
    if (accepted.length > 0) {
      try {
        await this.#append(archive, accepted);
      } catch (err) {
        // Not durable, so not accepted: the caller sees a retryable failure, as on AWS.
        this.#log(`event bus ${this.name}: archive write failed: ${errorMessage(err)}`);
        const failedIds = new Set(accepted.map((e) => e.id));
        for (const [i, r] of results.entries()) {
          if (r.EventId && failedIds.has(r.EventId)) {
            results[i] = { ErrorCode: 'InternalFailure', ErrorMessage: 'The event could not be stored.' };
          }
        }
        return { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results };
      }
      for (const event of accepted) this.#route(event, this.#rules);
    }
    return { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results };
  }

  /**
   * Re-delivers the archived events whose time is within [from, to] (`from` is taken to the
   * second, as event times are) to the rules they match, or only to `rule`; like an EventBridge
   * archive replay, replayed events carry `replay-name` and are not archived again.
   * Returns how many events were re-delivered (to at least one rule).
   */
  async replay(opts: { from?: Date; to?: Date; rule?: string }): Promise<number> {
    if (!this.#archive) throw new Error(`event bus ${this.name} is not started`);
    let targets = this.#rules;
    if (opts.rule !== undefined) {
      targets = this.#rules.filter((r) => r.name === opts.rule);
      if (targets.length === 0)
        throw new Error(`replay: rule "${opts.rule}" is not declared in the manifest`);
    }
    const from = opts.from ? Math.floor(opts.from.getTime() / 1000) * 1000 : Number.NEGATIVE_INFINITY;
    const to = opts.to ? opts.to.getTime() : Number.POSITIVE_INFINITY;
    const replayName = `local-replay-${toEventTime(new Date()).replace(/[-:]/g, '')}-${randomUUID().slice(0, 8)}`;
    await this.#writes;
    const lines = createInterface({
      input: createReadStream(join(this.#archiveDir, 'archive.jsonl'), 'utf8'),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    let replayed = 0;
    let lineNo = 0;
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      let parsed: ReturnType<typeof ArchivedEventSchema.safeParse>;
      try {
        parsed = ArchivedEventSchema.safeParse(JSON.parse(line));
      } catch {
        this.#log(`event bus ${this.name}: archive line ${lineNo} is not JSON, skipped`);
        continue;
      }
      if (!parsed.success) {
        this.#log(`event bus ${this.name}: archive line ${lineNo} is not an event, skipped`);
        continue;
      }
      const time = Date.parse(parsed.data.time);
      if (time < from || time > to) continue;
      const event: BusEvent = { ...parsed.data, 'replay-name': replayName };
      if (this.#route(event, targets) > 0) replayed++;
    }
    return replayed;
  }

  /** Validates one entry; `event` is undefined for an entry sent to another (the default) bus. */
  #toEvent(
    entry: PutEventsEntry,
    now: Date,
  ): { ErrorCode: string; ErrorMessage: string } | { event: BusEvent } | { event: undefined; id: string } {
    const invalid = (param: string, reason: string) => ({
      ErrorCode: 'InvalidArgument',
      ErrorMessage: `Parameter ${param} is not valid. Reason: ${reason}`,
    });
    if (typeof entry.Source !== 'string' || entry.Source === '')
      return invalid('Source', 'Source is a required argument.');
    if (typeof entry.DetailType !== 'string' || entry.DetailType === '') {
      return invalid('DetailType', 'DetailType is a required argument.');
    }
    if (typeof entry.Detail !== 'string' || entry.Detail === '')
      return invalid('Detail', 'Detail is a required argument.');
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed: it must be a JSON object.' };
    }
    const resources = entry.Resources ?? [];
    if (!Array.isArray(resources) || resources.some((r) => typeof r !== 'string')) {
      return invalid('Resources', 'Resources must be a list of strings.');
    }
    let time = now;
    if (entry.Time !== undefined) {
      time = entry.Time instanceof Date ? entry.Time : new Date(entry.Time);
      if (Number.isNaN(time.getTime())) return invalid('Time', 'Time must be an RFC 3339 timestamp.');
    }
    // Entry size as EventBridge computes it: 14 bytes for Time, then the UTF-8 strings.
    const size =
      (entry.Time !== undefined ? 14 : 0) +
      utf8Bytes(entry.Source) +
      utf8Bytes(entry.DetailType) +
      utf8Bytes(entry.Detail) +
      resources.reduce((n, r) => n + utf8Bytes(r), 0);
    if (size > MAX_ENTRY_BYTES) {
      return invalid('Entry', `the entry is ${size} bytes, more than the ${MAX_ENTRY_BYTES}-byte limit.`);
    }
    const busName = entry.EventBusName;
    if (busName === undefined || busName === '' || busName === 'default') {
      // EventBridge puts it on the account's default bus, where no platform rule listens.
      const id = randomUUID();
      this.#log(
        `event bus ${this.name}: event ${id} (${entry.Source} / ${entry.DetailType}) went to the default bus, ` +
          `which has no rules: set EventBusName to "${this.name}"`,
      );
      return { event: undefined, id };
    }
    if (!this.isThisBus(busName)) return invalid('EventBusName', `Event bus ${busName} does not exist.`);
    return {
      event: {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType,
        source: entry.Source,
        account: LOCAL_ACCOUNT_ID,
        time: toEventTime(time),
        region: this.region,
        resources: [...resources],
        detail: detail as Record<string, unknown>,
      },
    };
  }

  #append(file: FileHandle, records: unknown[]): Promise<void> {
    const text = records.map((r) => `${JSON.stringify(r)}\n`).join('');
    const write = this.#writes.then(async () => {
      await file.appendFile(text, 'utf8');
      await file.datasync();
    });
    // The chain must survive a failed write so that later appends still run.
    this.#writes = write.catch(() => undefined);
    return write;
  }

  /** Starts one asynchronous delivery per matching rule; returns how many rules matched. */
  #route(event: BusEvent, rules: CompiledRule[]): number {
    let matched = 0;
    for (const rule of rules) {
      if (!rule.matches(event as unknown as Record<string, unknown>)) continue;
      matched++;
      const delivery = this.#deliver(rule, event).finally(() => this.#deliveries.delete(delivery));
      this.#deliveries.add(delivery);
    }
    return matched;
  }

  /** One delivery attempt to the rule's target. */
  async #reach(decl: RuleDecl, event: BusEvent): Promise<void> {
    // The whole event, as the message body: what a Lambda target would receive.
    if (decl.queue !== undefined) await this.#sendToQueue!(decl.queue, JSON.stringify(event));
    // Each target gets its own copy, as each Lambda invocation gets its own payload.
    else await this.#invoke(decl.function, structuredClone(event));
  }

  async #deliver(rule: CompiledRule, event: BusEvent): Promise<void> {
    const target = rule.decl.queue === undefined ? rule.decl.function : `queue ${rule.decl.queue}`;
    let lastError: unknown;
    for (let attempt = 1; attempt <= DELIVERY_ATTEMPTS; attempt++) {
      try {
        await this.#reach(rule.decl, event);
        return;
      } catch (err) {
        lastError = err;
        if (attempt < DELIVERY_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS * 2 ** (attempt - 1)));
        }
      }
    }
    const reason = errorMessage(lastError);
    this.#log(
      `event bus ${this.name}: rule ${rule.name} → ${target} failed ${DELIVERY_ATTEMPTS} times ` +
        `for event ${event.id}: ${reason}`,
    );
    const failed = this.#failed;
    if (!failed) return;
    const record = {
      failedAt: new Date().toISOString(),
      rule: rule.name,
      ...(rule.decl.queue === undefined ? { function: rule.decl.function } : { queue: rule.decl.queue }),
      attempts: DELIVERY_ATTEMPTS,
      error: reason,
      event,
    };
    await this.#append(failed, [record]).catch((err: unknown) => {
      this.#log(
        `event bus ${this.name}: could not record failed delivery of ${event.id}: ${errorMessage(err)}`,
      );
    });
  }
}

// ---------------------------------------------------------------------------------------------
// AWS JSON 1.1 endpoint (the EventBridge wire protocol), for the SDK with an endpoint override.

const MAX_REQUEST_BYTES = 1024 * 1024;

/** The SDK sends timestamps as epoch seconds; other clients may send RFC 3339 strings. */
const RequestEntrySchema = z.object({
  Source: z.string().optional(),
  DetailType: z.string().optional(),
  Detail: z.string().optional(),
  EventBusName: z.string().optional(),
  Resources: z.array(z.string()).optional(),
  Time: z.union([z.number(), z.string()]).optional(),
  TraceHeader: z.string().optional(),
});
const PutEventsRequestSchema = z.object({
  Entries: z.array(RequestEntrySchema).min(1).max(MAX_ENTRIES_PER_CALL),
  EndpointId: z.string().optional(),
});
const DescribeEventBusRequestSchema = z.object({ Name: z.string().optional() });
const ListRulesRequestSchema = z.object({
  EventBusName: z.string().optional(),
  NamePrefix: z.string().optional(),
  NextToken: z.string().optional(),
  Limit: z.number().int().min(1).max(100).optional(),
});

function parseRequest<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'request';
  throw new AwsJsonError('ValidationException', `1 validation error detected: ${where}: ${issue.message}`);
}

async function handleOperation(bus: LocalEventBus, operation: string, body: unknown): Promise<unknown> {
  switch (operation) {
    case 'PutEvents': {
      const request = parseRequest(PutEventsRequestSchema, body);
      return bus.putEvents(
        request.Entries.map(({ Time, TraceHeader: _trace, ...entry }) => ({
          ...entry,
          ...(Time === undefined ? {} : { Time: typeof Time === 'number' ? new Date(Time * 1000) : Time }),
        })),
      );
    }
    case 'DescribeEventBus': {
      const name = parseRequest(DescribeEventBusRequestSchema, body).Name ?? 'default';
      if (!bus.isThisBus(name))
        throw new AwsJsonError('ResourceNotFoundException', `Event bus ${name} does not exist.`);
      return { Name: bus.name, Arn: bus.arn };
    }
    case 'ListRules': {
      const request = parseRequest(ListRulesRequestSchema, body);
      const busName = request.EventBusName ?? 'default';
      // The platform's rules live on its custom bus; the default bus has none.
      if (busName !== 'default' && !bus.isThisBus(busName)) {
        throw new AwsJsonError('ResourceNotFoundException', `Event bus ${busName} does not exist.`);
      }
      const all = busName === 'default' ? [] : bus.listRules();
      const rules = all.filter((r) => r.Name.startsWith(request.NamePrefix ?? ''));
      const start = request.NextToken === undefined ? 0 : Number.parseInt(request.NextToken, 10);
      if (!Number.isInteger(start) || start < 0 || start > rules.length) {
        throw new AwsJsonError('ValidationException', 'The NextToken is not valid.');
      }
      const end = start + (request.Limit ?? 100);
      return { Rules: rules.slice(start, end), ...(end < rules.length ? { NextToken: String(end) } : {}) };
    }
    default:
      throw new AwsJsonError('UnknownOperationException', `Unknown operation ${operation}`);
  }
}

/** Serves `bus` over EventBridge's AWS JSON 1.1 protocol on loopback (port 0 = a free port). */
export async function startEventBridgeEndpoint(
  bus: LocalEventBus,
  opts: { host?: string; port?: number; iam?: LocalIam },
): Promise<{ url: string; close(): Promise<void> }> {
  const server = awsJsonServer({
    maxRequestBytes: MAX_REQUEST_BYTES,
    dispatch: async (target, body, req, raw) => {
      const [service, operation] = target.split('.', 2);
      if (service !== 'AWSEvents' || !operation) {
        throw new AwsJsonError('UnknownOperationException', 'Expected X-Amz-Target: AWSEvents.<Operation>');
      }
      const request = { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body: raw };
      const denial = await opts.iam?.authorize(request, `events:${operation}`, bus.arn);
      if (denial) throw new AwsJsonError(JSON_DENIALS[denial.reason], denial.message);
      return handleOperation(bus, operation, body);
    },
  });
  return {
    url: await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0),
    close: () => closeNow(server),
  };
}
