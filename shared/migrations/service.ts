import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import type { Embedder } from '../embeddings/embedder.ts';
import { validateTexts } from '../embeddings/validate.ts';
import { ConflictError, NotFoundError, UpstreamError, ValidationError } from '../errors.ts';
import { DETECT_HEAD_BYTES, detectFormat } from '../exports/detect.ts';
import type { ExportFormat } from '../exports/formats.ts';
import {
  checkDimension,
  type ExportPoint,
  type NormalizedRecord,
  parseChunk,
  type RecordReject,
  toPoint,
} from '../exports/records.ts';
import { type ChunkPlan, planChunks } from '../exports/scanner.ts';
import type { PointId } from '../ids.ts';
import type { DeadLetters, EventBus, ObjectStore, Queue, StateItem, StateStore } from '../ports.ts';
import { mapQdrantError, qdrantCall } from '../vectors/qdrant-errors.ts';
import { cosine, hasBit, withBit } from './bits.ts';
import {
  CHUNK_PREFIX,
  type ChunkMessage,
  ChunkMessageSchema,
  type ChunkPoints,
  type ChunkRecord,
  type Counts,
  type CreateMigrationBody,
  chunkPointsKey,
  chunkSk,
  INDEX_PK,
  indexSk,
  JOB_SK,
  type JobRecord,
  jobIdOf,
  jobPk,
  MAX_REJECTS_PER_CHUNK,
  MAX_REPORTED_DUPLICATES,
  MAX_REPORTED_REJECTS,
  reportKey,
} from './model.ts';

/**
 * The migration of an export into Qdrant, as a job: the planner splits the export into byte
 * ranges and fans them out; workers write their range into a fresh collection and record their
 * outcome; the worker that records the last chunk verifies the whole and switches the target alias.
 * Every step is idempotent (deterministic ids, conditional state writes), so any message may be
 * delivered twice and any step retried.
 */

export interface MigrationDeps {
  objects: ObjectStore;
  queue: Queue;
  bus: EventBus;
  state: StateStore;
  qdrant: QdrantClient;
  /** Built only when text must be embedded or a collection sized. */
  embedder: () => Embedder;
  eventSource: string;
  /** Receives of a message after which the queue dead-letters it. */
  maxReceiveCount: number;
  /** The queue's dead letters; only a redrive uses them (built lazily: only it may read them). */
  deadLetters?: () => DeadLetters;
  /** Waits before retrying a transient Qdrant failure inside a worker. */
  retryDelaysMs?: readonly number[];
  /** Points per upsert call. */
  upsertBatch?: number;
  now?: () => Date;
}

/** Minimum cosine between a source vector and the stored one for verification to pass. */
export const MIN_SAMPLE_COSINE = 0.999;
/** One record in this many is read back by verification (at least one per chunk). */
export const SAMPLE_EVERY = 100;
const DEFAULT_UPSERT_BATCH = 128;
const DEFAULT_RETRY_DELAYS_MS = [250, 1000, 4000];
/** Chunks read while looking for the first vector (beyond, an export is taken as text only). */
const SIZE_PROBE_CHUNKS = 8;
const STATE_CONCURRENCY = 16;
const MAX_CAS_ATTEMPTS = 50;
/** Chunks listed in a job view. */
const MAX_LISTED_CHUNKS = 1000;

/** A planning failure that retrying cannot fix: the job is recorded as failed with this reason. */
class PlanError extends Error {}

export interface ChunkResult {
  records: number;
  /** Every accepted record's point id and offset, superseded duplicates included. */
  accepted: Array<[PointId, number]>;
  /** What is upserted: one point per id, the chunk's last occurrence. */
  points: Array<ExportPoint & { vector: number[]; offset: number }>;
  rejects: RecordReject[];
}

/** A job as the API shows it: without the bookkeeping bitmaps. */
export type PublicJob = Omit<JobRecord, 'doneBits' | 'failedBits'>;

export function publicJob(job: JobRecord): PublicJob {
  const { doneBits: _done, failedBits: _failed, ...rest } = job;
  return rest;
}

export interface JobView extends PublicJob {
  chunkList: Array<Pick<ChunkRecord, 'index' | 'status' | 'plannedRecords' | 'counts' | 'error'>>;
}

export interface MigrationReport {
  jobId: string;
  key: string;
  etag: string;
  format?: ExportFormat;
  target: string;
  collection: string;
  dryRun: boolean;
  status: 'completed' | 'failed';
  reason?: string;
  counts: Counts & { points: number; plannedRecords: number; rejectRatio: number; rejectThreshold: number };
  rejects: { total: number; listed: RecordReject[] };
  duplicates: { ids: number; occurrences: number; listed: Array<{ id: PointId; offsets: number[] }> };
  verification: {
    countsMatch: boolean;
    pointsInCollection?: number;
    sampled: number;
    minCosine?: number;
    mismatches: Array<{ id: PointId; offset: number; reason: string }>;
    passed: boolean;
  };
  alias?: { name: string; collection: string; previous?: string };
  timings: { startedAt?: string; completedAt: string; seconds: number; recordsPerSecond: number };
}

export class MigrationService {
  readonly #d: MigrationDeps;

  constructor(deps: MigrationDeps) {
    this.#d = deps;
  }

  #now(): string {
    return (this.#d.now?.() ?? new Date()).toISOString();
  }

  // ---------------------------------------------------------------- planner

  /**
   * Creates (or finds) the job for an export and plans it: the same object version and settings
   * always give the same job, so this is safe to call again for a re-notified upload. A job left in
   * `planning` by an interrupted planner is planned again; every planning step tolerates a repeat.
   */
  async start(input: CreateMigrationBody): Promise<{ job: JobRecord; created: boolean }> {
    const { state, objects } = this.#d;
    const head = await objects.head(input.key);
    if (!head) {
      throw new NotFoundError(`export "${input.key}" does not exist`, [
        { field: 'key', reason: 'no such object in the exports bucket' },
      ]);
    }
    const etag = (head.etag ?? '').replaceAll('"', '');
    const id = jobIdOf({ key: input.key, etag, target: input.collection, dryRun: input.dryRun });
    const existing = await state.get<JobRecord>(jobPk(id), JOB_SK);
    if (existing?.value.status === 'running' && !existing.value.dispatched) {
      const open = (await this.#chunks(id)).filter((c) => c.status !== 'done');
      return { job: await this.#dispatch(existing.value, open), created: false };
    }
    if (existing && existing.value.status !== 'planning') return { job: existing.value, created: false };

    const now = this.#now();
    const job: JobRecord = existing?.value ?? {
      id,
      key: input.key,
      etag,
      size: head.size,
      ...(input.format ? { format: input.format } : {}),
      target: input.collection,
      collection: `${input.collection}__${id}`,
      dryRun: input.dryRun,
      rejectThreshold: input.rejectThreshold,
      chunkBytes: input.chunkBytes,
      status: 'planning',
      plannedRecords: 0,
      chunks: { total: 0, done: 0, failed: 0 },
      doneBits: '',
      failedBits: '',
      counts: { records: 0, written: 0, rejected: 0 },
      planRejects: [],
      createdAt: now,
      updatedAt: now,
    };
    if (!existing) {
      try {
        await state.put(jobPk(id), JOB_SK, job, { expectedVersion: 0 });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        // Another planner created it a moment ago: that one plans.
        return { job: (await this.#job(id)).value, created: false };
      }
    }
    // Rewritten by a resumed planner too (same item): a job is listed even if the first attempt died here.
    await state.put(INDEX_PK, indexSk(job.createdAt, id), { id });
    try {
      return { job: await this.#plan(job), created: !existing };
    } catch (err) {
      if (!(err instanceof PlanError)) throw err; // transient: the job stays in `planning` for a retry
      const failed = await this.#fail(id, err.message, ['planning']);
      return { job: failed ?? (await this.#job(id)).value, created: !existing };
    }
  }

  async #plan(job: JobRecord): Promise<JobRecord> {
    const { objects } = this.#d;
    if (job.size === 0) throw new PlanError('the export is empty');
    let format = job.format;
    if (!format) {
      const head = await objects.get(job.key, { start: 0, end: Math.min(job.size, DETECT_HEAD_BYTES) - 1 });
      const detected = detectFormat(head);
      if ('error' in detected)
        throw new PlanError(`the export's format is not recognised: ${detected.error}`);
      format = detected.format;
    }

    const scan = planChunks(await objects.stream(job.key), { format, targetChunkBytes: job.chunkBytes });
    const chunks: ChunkPlan[] = [];
    let step = await scan.next();
    while (!step.done) {
      chunks.push(step.value);
      step = await scan.next();
    }
    const summary = step.value;
    if (summary.error) {
      throw new PlanError(
        `the export is malformed at byte ${summary.error.offset}: ${summary.error.message} (${summary.records} records before it)`,
      );
    }
    if (summary.bytes !== job.size) {
      throw new PlanError(
        `read ${summary.bytes} bytes but the object has ${job.size}: it changed while being planned`,
      );
    }
    if (chunks.length === 0) throw new PlanError('the export holds no records');
    const planRejects: RecordReject[] = summary.oversized.samples.map((s) => ({
      offset: s.offset,
      reason: `the record is ${s.bytes} bytes, more than a worker takes`,
    }));

    const vectorSize = await this.#vectorSize(job, format, chunks, summary.metadata);
    if (!job.dryRun) await this.#createCollection(job, vectorSize);

    await forEachLimit(chunks, STATE_CONCURRENCY, async (chunk) => {
      const item: ChunkRecord = {
        index: chunk.index,
        start: chunk.start,
        end: chunk.end,
        plannedRecords: chunk.records,
        status: 'pending',
      };
      try {
        await this.#d.state.put(jobPk(job.id), chunkSk(chunk.index), item, { expectedVersion: 0 });
      } catch (err) {
        // Written by an earlier attempt, and maybe already done by a worker: left as it is.
        if (!(err instanceof ConflictError)) throw err;
      }
    });

    const startedAt = this.#now();
    const running = await this.#update(job.id, (j) =>
      j.status !== 'planning'
        ? undefined
        : {
            ...j,
            format,
            vectorSize,
            status: 'running',
            plannedRecords: summary.records + summary.oversized.count,
            chunks: { total: chunks.length, done: 0, failed: 0 },
            counts: { records: summary.oversized.count, written: 0, rejected: summary.oversized.count },
            planRejects,
            startedAt,
          },
    );
    if (!running) return (await this.#job(job.id)).value;
    return this.#dispatch(running, chunks);
  }

  /**
   * Sends one message per chunk, then marks the job dispatched. A planner that died between its
   * `running` write and this is resumed by the next `start` of the same job, which sends again
   * the chunks not yet recorded (workers take a repeated message in their stride).
   */
  async #dispatch(job: JobRecord, chunks: ReadonlyArray<Pick<ChunkPlan, 'index' | 'start' | 'end'>>) {
    await this.#d.queue.send(
      chunks.map((c) => ({
        body: { jobId: job.id, chunkIndex: c.index, start: c.start, end: c.end } satisfies ChunkMessage,
      })),
    );
    const dispatched = await this.#update(job.id, (j) =>
      j.dispatched ? undefined : { ...j, dispatched: true },
    );
    if (!dispatched) return (await this.#job(job.id)).value;
    await this.#publish('MigrationStarted', {
      jobId: job.id,
      key: job.key,
      target: job.target,
      collection: job.collection,
      format: job.format,
      chunks: job.chunks.total,
      records: job.plannedRecords,
      dryRun: job.dryRun,
    });
    return dispatched;
  }

  /** The metadata's `vectorDimension`, else the first vector found, else the embedder's size. */
  async #vectorSize(
    job: JobRecord,
    format: ExportFormat,
    chunks: ChunkPlan[],
    metadata: Record<string, unknown> | undefined,
  ): Promise<number> {
    const declared = metadata?.vectorDimension ?? metadata?.vector_dimension;
    if (typeof declared === 'number' && Number.isSafeInteger(declared) && declared > 0) return declared;
    for (const chunk of chunks.slice(0, SIZE_PROBE_CHUNKS)) {
      const bytes = await this.#d.objects.get(job.key, { start: chunk.start, end: chunk.end - 1 });
      const { records } = parseChunk(bytes, { format, startOffset: chunk.start });
      const withVector = records.find((r) => r.vector !== undefined);
      if (withVector) return withVector.vector!.length;
    }
    return this.#d.embedder().dimensions;
  }

  async #createCollection(job: JobRecord, size: number): Promise<void> {
    const { qdrant } = this.#d;
    // Found now rather than after every chunk is written: the alias switch could never happen.
    const { collections } = await qdrantCall({}, () => qdrant.getCollections());
    if (collections.some((c) => c.name === job.target)) {
      throw new PlanError(
        `a collection is named "${job.target}", so no alias can take that name: migrate into another target, or rename or delete that collection`,
      );
    }
    const embedder = this.#d.embedder();
    // Recorded like the vector API records it, so text can be searched through the alias later.
    const embedding =
      size === embedder.dimensions ? { model: embedder.model, dimensions: embedder.dimensions } : undefined;
    try {
      await qdrantCall({ field: 'collection' }, () =>
        qdrant.createCollection(job.collection, {
          vectors: { size, distance: 'Cosine' },
          metadata: { ...(embedding ? { embedding } : {}), migration: { jobId: job.id, key: job.key } },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // Created by an earlier attempt of this planner: it must be the collection this job needs.
      const info = await qdrantCall({ collection: job.collection }, () =>
        qdrant.getCollection(job.collection),
      );
      const existing = (info.config.params.vectors as { size?: unknown } | undefined)?.size;
      if (existing !== size) {
        throw new PlanError(`collection "${job.collection}" exists with vectors of ${String(existing)}`);
      }
    }
  }

  // ---------------------------------------------------------------- worker

  /**
   * One chunk: fetch its range, parse, validate, embed text-only records, upsert, record the outcome
   * once. A chunk already recorded is not written again. On the message's last allowed receive a
   * failure marks the chunk failed before it is thrown (and the message dead-lettered).
   */
  async processChunk(message: ChunkMessage, receiveCount: number): Promise<void> {
    const { state } = this.#d;
    const job = await state.get<JobRecord>(jobPk(message.jobId), JOB_SK);
    if (!job) throw new NotFoundError(`migration ${message.jobId} does not exist`);
    const chunk = await state.get<ChunkRecord>(jobPk(message.jobId), chunkSk(message.chunkIndex));
    if (!chunk) throw new NotFoundError(`migration ${message.jobId} has no chunk ${message.chunkIndex}`);
    if (chunk.value.start !== message.start || chunk.value.end !== message.end) {
      throw new ConflictError(`chunk ${message.chunkIndex}: the message's range differs from the plan`);
    }
    if (chunk.value.status === 'done') {
      // Recorded before: only make sure it was counted (a worker may have stopped in between).
      await this.#count(job.value.id, chunk.value);
      return;
    }
    if (job.value.status !== 'running') return; // failed or finished meanwhile: nothing to add

    try {
      await this.#processOpenChunk(job.value, chunk);
    } catch (err) {
      // Whatever failed (S3, Qdrant, the state store), the last allowed receive settles the chunk
      // as failed before its message goes to the dead-letter queue: the job never hangs `running`.
      if (receiveCount >= this.#d.maxReceiveCount) await this.#failChunk(job.value, chunk.value, err);
      throw err;
    }
  }

  async #processOpenChunk(job: JobRecord, chunk: StateItem<ChunkRecord>): Promise<void> {
    const { state } = this.#d;
    const started = Date.now();
    // A newer upload under the same key is another job: this one must not read its bytes.
    const head = await this.#d.objects.head(job.key);
    if ((head?.etag ?? '').replaceAll('"', '') !== job.etag) {
      await this.#failChunk(
        job,
        chunk.value,
        new Error('the export changed or vanished since it was planned'),
      );
      return;
    }
    const result = await this.#readChunk(job, chunk.value);
    await this.#write(job, result.points);
    const sample = result.points
      .filter((_, i) => i % SAMPLE_EVERY === 0)
      .map((p) => ({ id: p.id, offset: p.offset, vector: p.vector }));
    const pointsFile: ChunkPoints = { points: result.accepted, sample };
    await this.#d.objects.put(
      chunkPointsKey(job.id, chunk.value.index),
      JSON.stringify(pointsFile),
      'application/json',
    );
    const done: ChunkRecord = {
      ...chunk.value,
      status: 'done',
      counts: { records: result.records, written: result.accepted.length, rejected: result.rejects.length },
      rejects: result.rejects.slice(0, MAX_REJECTS_PER_CHUNK),
      ms: Date.now() - started,
    };
    delete done.error;
    try {
      await state.put(jobPk(job.id), chunkSk(chunk.value.index), done, { expectedVersion: chunk.version });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // A duplicate delivery recorded it first: count it (idempotently), never twice.
      const now = await state.get<ChunkRecord>(jobPk(job.id), chunkSk(chunk.value.index));
      if (now?.value.status === 'done') await this.#count(job.id, now.value);
      return;
    }
    await this.#count(job.id, done);
  }

  /** Parses and validates a chunk and embeds its text-only records; duplicates within it: last wins. */
  async #readChunk(job: JobRecord, chunk: Pick<ChunkRecord, 'start' | 'end'>): Promise<ChunkResult> {
    const bytes = await this.#d.objects.get(job.key, { start: chunk.start, end: chunk.end - 1 });
    const parsed = parseChunk(bytes, { format: job.format!, startOffset: chunk.start });
    const size = job.vectorSize!;
    const rejects = [...parsed.rejects];
    const valid: NormalizedRecord[] = [];
    for (const record of parsed.records) {
      const reason = checkDimension(record, size);
      if (reason) rejects.push({ offset: record.offset, reason, sourceId: record.sourceId });
      else valid.push(record);
    }
    const needText = valid.filter((r) => r.vector === undefined);
    let embedded = new Map<NormalizedRecord, number[] | null>();
    if (needText.length > 0) {
      const embedder = this.#d.embedder();
      if (embedder.dimensions !== size) {
        for (const r of needText) {
          rejects.push({
            offset: r.offset,
            sourceId: r.sourceId,
            reason: `text-only record, but the embedder "${embedder.model}" makes ${embedder.dimensions} dimensions and the collection has ${size}`,
          });
        }
      } else {
        embedded = await embedTexts(embedder, needText, rejects, job.dryRun);
      }
    }
    const accepted: Array<[PointId, number]> = [];
    const byId = new Map<PointId, ExportPoint & { vector: number[]; offset: number }>();
    for (const record of valid) {
      if (record.vector === undefined && !embedded.has(record)) continue; // rejected above
      // A text-only record keeps its text in the payload, under its own field name.
      const point = toPoint(record);
      accepted.push([point.id, record.offset]);
      const vector = record.vector ?? embedded.get(record);
      if (!vector) continue; // a dry run's text record: checked, not embedded
      byId.delete(point.id); // re-inserted: the map keeps the winners in document order
      byId.set(point.id, { id: point.id, payload: point.payload, vector, offset: record.offset });
    }
    rejects.sort((a, b) => a.offset - b.offset);
    return {
      records: parsed.records.length + parsed.rejects.length,
      accepted,
      points: [...byId.values()],
      rejects,
    };
  }

  /** Upserts in batches, waiting for each; transient Qdrant failures are retried with backoff. */
  async #write(job: JobRecord, points: ChunkResult['points']): Promise<void> {
    if (job.dryRun) return;
    const batch = this.#d.upsertBatch ?? DEFAULT_UPSERT_BATCH;
    for (let i = 0; i < points.length; i += batch) {
      const slice = points.slice(i, i + batch).map(({ id, vector, payload }) => ({ id, vector, payload }));
      await this.#retrying(job.collection, () =>
        this.#d.qdrant.upsert(job.collection, { wait: true, points: slice }),
      );
    }
  }

  async #retrying<T>(collection: string, call: () => Promise<T>): Promise<T> {
    const delays = this.#d.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const mapped = mapQdrantError(err, { collection, field: 'points' });
        const delay = delays[attempt];
        if (!(mapped instanceof UpstreamError && mapped.retryable) || delay === undefined) throw mapped;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async #failChunk(job: JobRecord, chunk: ChunkRecord, err: unknown): Promise<void> {
    const reason = err instanceof Error ? err.message : String(err);
    const sk = chunkSk(chunk.index);
    const current = await this.#d.state.get<ChunkRecord>(jobPk(job.id), sk);
    // Recorded meanwhile by a duplicate delivery that succeeded: that outcome stands.
    if (!current || current.value.status === 'done') return;
    try {
      await this.#d.state.put(
        jobPk(job.id),
        sk,
        { ...current.value, status: 'failed', error: reason } satisfies ChunkRecord,
        {
          expectedVersion: current.version,
        },
      );
    } catch (conflict) {
      if (!(conflict instanceof ConflictError)) throw conflict;
      return;
    }
    const updated = await this.#update(job.id, (j) =>
      hasBit(j.failedBits, chunk.index) || hasBit(j.doneBits, chunk.index)
        ? undefined
        : {
            ...j,
            failedBits: withBit(j.failedBits, chunk.index, true),
            chunks: { ...j.chunks, failed: j.chunks.failed + 1 },
          },
    );
    if (!updated) return;
    await this.#publish('MigrationChunkFailed', { jobId: job.id, chunkIndex: chunk.index, reason });
    if (settled(updated)) await this.finalize(job.id);
  }

  /** Adds a recorded chunk to the job's counts, once; the chunk that completes the job finalizes it. */
  async #count(jobId: string, chunk: ChunkRecord): Promise<void> {
    const counts = chunk.counts!;
    const updated = await this.#update(jobId, (j) =>
      hasBit(j.doneBits, chunk.index)
        ? undefined
        : {
            ...j,
            doneBits: withBit(j.doneBits, chunk.index, true),
            chunks: { ...j.chunks, done: j.chunks.done + 1 },
            counts: {
              records: j.counts.records + counts.records,
              written: j.counts.written + counts.written,
              rejected: j.counts.rejected + counts.rejected,
            },
          },
    );
    if (updated) {
      await this.#publish('MigrationChunkCompleted', {
        jobId,
        chunkIndex: chunk.index,
        ...counts,
        done: updated.chunks.done,
        total: updated.chunks.total,
      });
    }
    const job = updated ?? (await this.#job(jobId)).value;
    if (settled(job) && (job.status === 'running' || job.status === 'finalizing')) await this.finalize(jobId);
  }

  // ---------------------------------------------------------------- completion

  /**
   * Verifies a job whose chunks are all recorded and switches its alias, or fails it. Safe to run
   * again (a retried message): the alias switch is one atomic call and the final state is written
   * conditionally, so events are published once.
   */
  async finalize(jobId: string): Promise<JobRecord> {
    const claimed = await this.#update(jobId, (j) =>
      j.status === 'running' && settled(j) ? { ...j, status: 'finalizing' } : undefined,
    );
    const job = claimed ?? (await this.#job(jobId)).value;
    if (job.status !== 'finalizing') return job;

    const chunkItems = await this.#chunks(jobId);
    const rejects = [
      ...job.planRejects,
      ...chunkItems.flatMap((c) => c.rejects ?? []).slice(0, MAX_REPORTED_REJECTS),
    ].sort((a, b) => a.offset - b.offset);
    if (job.chunks.failed > 0) {
      const failed = chunkItems.filter((c) => c.status === 'failed').map((c) => c.index);
      return this.#conclude(job, {
        reason: `${failed.length} chunk(s) failed after every retry (${failed.slice(0, 20).join(', ')}): redrive them`,
        rejects,
      });
    }

    // Every point written, by id: the same id in several records is a duplicate, and the last
    // occurrence in the export wins (rewritten here, as parallel workers finish in any order).
    const occurrences = new Map<PointId, number[]>();
    const samples: ChunkPoints['sample'] = [];
    await forEachLimit(chunkItems, 8, async (chunk) => {
      const file = JSON.parse(
        new TextDecoder().decode(await this.#d.objects.get(chunkPointsKey(jobId, chunk.index))),
      ) as ChunkPoints;
      for (const [id, offset] of file.points) {
        const list = occurrences.get(id);
        if (list) list.push(offset);
        else occurrences.set(id, [offset]);
      }
      samples.push(...file.sample);
    });
    const duplicates = [...occurrences]
      .filter(([, offsets]) => offsets.length > 1)
      .map(([id, offsets]) => ({ id, offsets: offsets.sort((a, b) => a - b) }))
      .sort((a, b) => a.offsets[0]! - b.offsets[0]!);
    const winners = new Map(duplicates.map((d) => [d.id, d.offsets.at(-1)!]));
    // A superseded occurrence's vector is not what the collection holds: not a valid sample.
    const sample = samples.filter((s) => (winners.get(s.id) ?? s.offset) === s.offset);
    const rewritten = await this.#rewriteWinners(job, chunkItems, winners);
    sample.push(...rewritten.slice(0, 10));

    // Verification.
    const { counts } = job;
    const countsMatch =
      counts.records === counts.written + counts.rejected && counts.records === job.plannedRecords;
    const verification: MigrationReport['verification'] = {
      countsMatch,
      sampled: 0,
      mismatches: [],
      passed: false,
    };
    if (!job.dryRun) {
      const { count } = await qdrantCall({ collection: job.collection }, () =>
        this.#d.qdrant.count(job.collection, { exact: true }),
      );
      verification.pointsInCollection = count;
      await this.#verifySample(job, sample, verification);
    }
    const rejectRatio = counts.records === 0 ? 1 : counts.rejected / counts.records;
    const reasons: string[] = [];
    if (!countsMatch) {
      reasons.push(
        `counts do not add up: ${counts.records} records read, ${counts.written} written, ${counts.rejected} rejected, ${job.plannedRecords} planned`,
      );
    }
    if (
      verification.pointsInCollection !== undefined &&
      verification.pointsInCollection !== occurrences.size
    ) {
      reasons.push(
        `the collection holds ${verification.pointsInCollection} points, ${occurrences.size} distinct ids were written`,
      );
    }
    if (verification.mismatches.length > 0) {
      reasons.push(`${verification.mismatches.length} sampled point(s) differ from the export`);
    }
    if (rejectRatio > job.rejectThreshold) {
      reasons.push(
        `${(rejectRatio * 100).toFixed(2)}% of records were rejected, above the threshold of ${(job.rejectThreshold * 100).toFixed(2)}%`,
      );
    }
    verification.passed = reasons.length === 0;
    return this.#conclude(job, {
      ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
      rejects,
      duplicates,
      points: occurrences.size,
      verification,
      rejectRatio,
    });
  }

  /** Rewrites the last occurrence of each duplicated id; answers the rewritten points. */
  async #rewriteWinners(
    job: JobRecord,
    chunks: ChunkRecord[],
    winners: Map<PointId, number>,
  ): Promise<Array<{ id: PointId; offset: number; vector: number[] }>> {
    if (winners.size === 0) return [];
    const offsets = new Set(winners.values());
    const out: Array<{ id: PointId; offset: number; vector: number[] }> = [];
    for (const chunk of chunks) {
      const inChunk = [...offsets].filter((o) => o >= chunk.start && o < chunk.end);
      if (inChunk.length === 0) continue;
      const { points } = await this.#readChunk(job, chunk);
      const chosen = points.filter((p) => winners.get(p.id) === p.offset);
      await this.#write(job, chosen);
      out.push(...chosen.map((p) => ({ id: p.id, offset: p.offset, vector: p.vector })));
    }
    return out;
  }

  async #verifySample(
    job: JobRecord,
    sample: Array<{ id: PointId; offset: number; vector: number[] }>,
    verification: MigrationReport['verification'],
  ): Promise<void> {
    let min = 1;
    for (let i = 0; i < sample.length; i += 100) {
      const part = sample.slice(i, i + 100);
      const stored = await qdrantCall({ collection: job.collection }, () =>
        this.#d.qdrant.retrieve(job.collection, {
          ids: part.map((s) => s.id),
          with_vector: true,
          with_payload: false,
        }),
      );
      const byId = new Map(stored.map((p) => [typeof p.id === 'bigint' ? Number(p.id) : p.id, p.vector]));
      for (const s of part) {
        const vector = byId.get(s.id);
        if (!Array.isArray(vector) || typeof vector[0] !== 'number') {
          verification.mismatches.push({ id: s.id, offset: s.offset, reason: 'missing from the collection' });
          continue;
        }
        const similarity = cosine(s.vector, vector as number[]);
        min = Math.min(min, similarity);
        if (similarity < MIN_SAMPLE_COSINE) {
          verification.mismatches.push({
            id: s.id,
            offset: s.offset,
            reason: `cosine ${similarity.toFixed(6)} to the source vector`,
          });
        }
      }
    }
    verification.sampled = sample.length;
    if (sample.length > 0) verification.minCosine = min;
  }

  async #conclude(
    job: JobRecord,
    outcome: {
      reason?: string;
      rejects: RecordReject[];
      duplicates?: Array<{ id: PointId; offsets: number[] }>;
      points?: number;
      verification?: MigrationReport['verification'];
      rejectRatio?: number;
    },
  ): Promise<JobRecord> {
    const completedAt = this.#now();
    let alias: MigrationReport['alias'];
    let reason = outcome.reason;
    if (reason === undefined && !job.dryRun) {
      try {
        const previous = await this.#switchAlias(job);
        alias = { name: job.target, collection: job.collection, ...(previous ? { previous } : {}) };
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        reason = err.message;
      }
    }
    const status = reason === undefined ? 'completed' : 'failed';
    const seconds = job.startedAt ? (Date.parse(completedAt) - Date.parse(job.startedAt)) / 1000 : 0;
    const duplicates = outcome.duplicates ?? [];
    const report: MigrationReport = {
      jobId: job.id,
      key: job.key,
      etag: job.etag,
      ...(job.format ? { format: job.format } : {}),
      target: job.target,
      collection: job.collection,
      dryRun: job.dryRun,
      status,
      ...(reason ? { reason } : {}),
      counts: {
        ...job.counts,
        points: outcome.points ?? 0,
        plannedRecords: job.plannedRecords,
        rejectRatio:
          outcome.rejectRatio ?? (job.counts.records ? job.counts.rejected / job.counts.records : 0),
        rejectThreshold: job.rejectThreshold,
      },
      rejects: { total: job.counts.rejected, listed: outcome.rejects.slice(0, MAX_REPORTED_REJECTS) },
      duplicates: {
        ids: duplicates.length,
        occurrences: duplicates.reduce((n, d) => n + d.offsets.length, 0),
        listed: duplicates.slice(0, MAX_REPORTED_DUPLICATES),
      },
      verification: outcome.verification ?? { countsMatch: false, sampled: 0, mismatches: [], passed: false },
      ...(alias ? { alias } : {}),
      timings: {
        ...(job.startedAt ? { startedAt: job.startedAt } : {}),
        completedAt,
        seconds,
        recordsPerSecond: seconds > 0 ? Math.round(job.counts.records / seconds) : job.counts.records,
      },
    };
    const key = reportKey(job.id);
    await this.#d.objects.put(key, JSON.stringify(report, null, 2), 'application/json');
    const final = await this.#update(job.id, (j) =>
      j.status !== 'finalizing'
        ? undefined
        : {
            ...j,
            status,
            reportKey: key,
            completedAt,
            ...(alias?.previous ? { previousCollection: alias.previous } : {}),
            ...(reason ? { error: reason } : {}),
          },
    );
    if (!final) return (await this.#job(job.id)).value;
    await this.#publish(status === 'completed' ? 'MigrationCompleted' : 'MigrationFailed', {
      jobId: job.id,
      target: job.target,
      collection: job.collection,
      dryRun: job.dryRun,
      reportKey: key,
      ...job.counts,
      ...(reason ? { reason } : {}),
    });
    return final;
  }

  /**
   * Points the alias at `collection` in one atomic Qdrant call (delete + create); answers the
   * collection it pointed at before, if any. A real collection named like the alias is a conflict.
   */
  async #switchAlias(job: JobRecord): Promise<string | undefined> {
    const { qdrant } = this.#d;
    const { target: alias, collection } = job;
    const [{ aliases }, { collections }] = await Promise.all([
      qdrantCall({}, () => qdrant.getAliases()),
      qdrantCall({}, () => qdrant.getCollections()),
    ]);
    if (collections.some((c) => c.name === alias)) {
      throw new ConflictError(
        `a collection is named "${alias}", so no alias can take that name: rename or delete it, then migrate again`,
      );
    }
    const current = aliases.find((a) => a.alias_name === alias)?.collection_name;
    // Switched by an earlier attempt of this conclusion: the collection it replaced was saved first.
    if (current === collection) return job.previousCollection;
    const previous = current;
    if (previous) {
      // Saved before the switch, so that a retry after it still knows where rollback goes.
      await this.#update(job.id, (j) =>
        j.status === 'finalizing' ? { ...j, previousCollection: previous } : undefined,
      );
    }
    const actions: Schemas['AliasOperations'][] = [
      ...(previous ? [{ delete_alias: { alias_name: alias } }] : []),
      { create_alias: { collection_name: collection, alias_name: alias } },
    ];
    await qdrantCall({ field: 'alias' }, () => qdrant.updateCollectionAliases({ actions }));
    return previous;
  }

  // ---------------------------------------------------------------- API

  async get(jobId: string): Promise<JobView> {
    const job = (await this.#job(jobId)).value;
    const chunks = await this.#chunks(jobId, MAX_LISTED_CHUNKS);
    return {
      ...publicJob(job),
      chunkList: chunks.map((c) => ({
        index: c.index,
        status: c.status,
        plannedRecords: c.plannedRecords,
        ...(c.counts ? { counts: c.counts } : {}),
        ...(c.error ? { error: c.error } : {}),
      })),
    };
  }

  /** The latest jobs first. */
  async list(limit: number): Promise<PublicJob[]> {
    const latest = await this.#d.state.list<{ id: string }>(INDEX_PK, { limit });
    const jobs = await Promise.all(
      latest.map((i) => this.#d.state.get<JobRecord>(jobPk(i.value.id), JOB_SK)),
    );
    return jobs.flatMap((j) => (j ? [publicJob(j.value)] : []));
  }

  /** Points the alias back at the collection it served before this migration switched it. */
  async rollback(jobId: string): Promise<JobRecord> {
    const job = (await this.#job(jobId)).value;
    if (job.status !== 'completed' || job.dryRun) {
      throw new ConflictError(
        `migration ${jobId} is ${job.dryRun ? 'a dry run' : job.status}: only a completed migration can be rolled back`,
      );
    }
    if (!job.previousCollection) {
      throw new ConflictError(
        `migration ${jobId} created alias "${job.target}": there is no earlier collection to go back to`,
      );
    }
    const { qdrant } = this.#d;
    const { aliases } = await qdrantCall({}, () => qdrant.getAliases());
    const current = aliases.find((a) => a.alias_name === job.target)?.collection_name;
    if (current !== job.collection) {
      throw new ConflictError(
        `alias "${job.target}" now points to "${current ?? 'nothing'}", not to this migration's collection`,
      );
    }
    const previous = job.previousCollection;
    await qdrantCall({ collection: previous }, () => qdrant.getCollection(previous));
    await qdrantCall({ field: 'alias' }, () =>
      qdrant.updateCollectionAliases({
        actions: [
          { delete_alias: { alias_name: job.target } },
          { create_alias: { collection_name: previous, alias_name: job.target } },
        ],
      }),
    );
    const rolled = await this.#update(jobId, (j) =>
      j.status === 'completed' ? { ...j, status: 'rolled-back' } : undefined,
    );
    await this.#publish('MigrationRolledBack', { jobId, target: job.target, collection: previous });
    return rolled ?? (await this.#job(jobId)).value;
  }

  /**
   * Sends again the chunks of a job that are not counted (failed ones are reset to pending), then
   * deletes the job's dead letters: they are stale once their chunks are sent again, and would
   * keep the dead-letter alarm raised.
   */
  async redrive(jobId: string): Promise<{ job: JobRecord; resent: number[]; deadLettersRemoved: number }> {
    const job = (await this.#job(jobId)).value;
    // Every chunk recorded but the conclusion never written (its message dead-lettered): conclude now.
    if (job.status === 'finalizing') {
      return {
        job: await this.finalize(jobId),
        resent: [],
        deadLettersRemoved: await this.#removeDeadLetters(jobId),
      };
    }
    if (job.status !== 'running' && !(job.status === 'failed' && job.chunks.failed > 0)) {
      throw new ConflictError(`migration ${jobId} is ${job.status}: it has no chunks to redrive`);
    }
    const chunks = await this.#chunks(jobId);
    // Not counted into the job: failed, never delivered, or recorded but not counted (a worker
    // stopped in between; its message, delivered again, only counts it).
    const open = chunks.filter((c) => !hasBit(job.doneBits, c.index));
    for (const c of open.filter((c) => c.status === 'failed')) {
      const reset: ChunkRecord = { ...c, status: 'pending' };
      delete reset.error;
      await this.#d.state.put(jobPk(jobId), chunkSk(c.index), reset);
    }
    const updated = await this.#update(jobId, (j) => {
      let failedBits = j.failedBits;
      for (const c of open) failedBits = withBit(failedBits, c.index, false);
      const next: JobRecord = {
        ...j,
        status: j.status === 'failed' ? 'running' : j.status,
        failedBits,
        chunks: { ...j.chunks, failed: 0 },
      };
      delete next.error;
      return next;
    });
    await this.#d.queue.send(
      open.map((c) => ({
        body: { jobId, chunkIndex: c.index, start: c.start, end: c.end } satisfies ChunkMessage,
      })),
    );
    return {
      job: updated ?? job,
      resent: open.map((c) => c.index),
      deadLettersRemoved: await this.#removeDeadLetters(jobId),
    };
  }

  async #removeDeadLetters(jobId: string): Promise<number> {
    const deadLetters = this.#d.deadLetters?.();
    if (!deadLetters) return 0;
    return deadLetters.remove((body) => ChunkMessageSchema.safeParse(body).data?.jobId === jobId);
  }

  // ---------------------------------------------------------------- state

  async #job(jobId: string) {
    const item = await this.#d.state.get<JobRecord>(jobPk(jobId), JOB_SK);
    if (!item) {
      throw new NotFoundError(`migration ${jobId} does not exist`, [
        { field: 'id', reason: 'no such migration' },
      ]);
    }
    return item;
  }

  async #chunks(jobId: string, limit?: number): Promise<ChunkRecord[]> {
    const items = await this.#d.state.list<ChunkRecord>(jobPk(jobId), {
      prefix: CHUNK_PREFIX,
      ...(limit ? { limit } : {}),
    });
    return items.map((i) => i.value);
  }

  /** Read-modify-write of the job item with optimistic concurrency; `undefined` from `change` = no write. */
  async #update(
    jobId: string,
    change: (job: JobRecord) => JobRecord | undefined,
  ): Promise<JobRecord | undefined> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.#job(jobId);
      const next = change(current.value);
      if (!next) return undefined;
      next.updatedAt = this.#now();
      try {
        await this.#d.state.put(jobPk(jobId), JOB_SK, next, { expectedVersion: current.version });
        return next;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * (attempt + 1)));
      }
    }
    throw new UpstreamError(`migration ${jobId}: the job item stayed contended`, { retryable: true });
  }

  async #fail(jobId: string, reason: string, from: JobRecord['status'][]): Promise<JobRecord | undefined> {
    const failed = await this.#update(jobId, (j) =>
      from.includes(j.status)
        ? { ...j, status: 'failed', error: reason, completedAt: this.#now() }
        : undefined,
    );
    if (failed) {
      await this.#publish('MigrationFailed', { jobId, target: failed.target, key: failed.key, reason });
    }
    return failed;
  }

  async #publish(detailType: string, detail: Record<string, unknown>): Promise<void> {
    await this.#d.bus.publish([{ source: this.#d.eventSource, detailType, detail }]);
  }
}

/** Every chunk is either counted or failed for good. */
function settled(job: JobRecord): boolean {
  return job.chunks.total > 0 && job.chunks.done + job.chunks.failed === job.chunks.total;
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const run = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

/**
 * The vectors of text-only records. A text the embedders refuse (empty, over the token limit)
 * rejects its record alone, found before any call. A dry run checks the texts but embeds nothing:
 * its records are accepted with no vector (`null`).
 */
async function embedTexts(
  embedder: Embedder,
  records: NormalizedRecord[],
  rejects: RecordReject[],
  dryRun: boolean,
): Promise<Map<NormalizedRecord, number[] | null>> {
  const bad = new Map<number, string>();
  for (const [i, r] of records.entries()) {
    try {
      validateTexts([r.text]);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      bad.set(i, err.issues[0]?.reason ?? err.message);
    }
  }
  const good = records.filter((_, i) => !bad.has(i));
  for (const [i, reason] of bad) {
    const r = records[i]!;
    rejects.push({ offset: r.offset, sourceId: r.sourceId, reason: `text: ${reason}` });
  }
  const out = new Map<NormalizedRecord, number[] | null>();
  if (dryRun || good.length === 0) {
    for (const r of good) out.set(r, null);
    return out;
  }
  const vectors = await embedder.embed(good.map((r) => r.text!));
  for (const [i, r] of good.entries()) out.set(r, vectors[i]!);
  return out;
}
