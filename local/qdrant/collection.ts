import { join } from 'node:path';
import { comparePointIds, type PointId } from './ids.ts';
import {
  type Distance,
  passesThreshold,
  preprocessVector,
  reportedScore,
  type SearchKernel,
  searchRows,
  vectorNorm,
} from './kernels.ts';
import {
  deletePayloadKey,
  hasValueAt,
  overwritePayload,
  type Payload,
  type PayloadSelector,
  selectPayload,
  setOwn,
  setPayload,
} from './payload.ts';
import { readSnapshot, WAL_FILE, type WalRecord, WriteAheadLog, writeSnapshot } from './storage.ts';
import { type TextOptions, textOptions } from './text.ts';

/**
 * One collection: its points in memory (all vectors in one contiguous Float32Array, one row per
 * point, so that a search is a single pass over one buffer) and its durability (write-ahead log
 * plus snapshot, see storage.ts). Every write is planned against the current state, logged and
 * fsync'd, then applied; writes to a collection are serialized, reads never wait.
 */

export interface PointRecord {
  id: PointId;
  payload: Payload;
  /** Operation id of the last write that touched the point. */
  version: number;
  row: number;
}

export type PointPredicate = (point: { id: PointId; payload: Payload }) => boolean;

export interface CollectionOptions {
  kernel: SearchKernel;
  /** Threads of the native search kernel (0 = one per core). */
  threads: number;
  /** The log is folded into a new snapshot once it is at least this large (and ≥ ¼ of the snapshot). */
  compactionBytes: number;
}

export interface PointOutput {
  id: PointId;
  payload?: Payload;
  vector?: number[] | Record<string, never>;
}

export interface ScoredPointOutput extends PointOutput {
  version: number;
  score: number;
}

/** `with_vector`: everything, nothing, or a list of vector names (the unnamed vector is ""). */
export type VectorSelector = boolean | string[];

export interface UpsertPoint {
  id: PointId;
  /** Raw values, length already checked against the collection's dimension. */
  vector: ArrayLike<number>;
  payload: Payload;
}

export type UpdateMode = 'upsert' | 'insert_only' | 'update_only';

export interface QueryInput {
  /** A raw query vector, or the id of a stored point whose vector to use (that point is excluded). */
  nearest?: ArrayLike<number> | { id: PointId };
  filter: PointPredicate | null;
  limit: number;
  offset: number;
  scoreThreshold?: number;
  withPayload: PayloadSelector;
  withVector: VectorSelector;
}

/** A write reached a collection that was deleted (or the engine closed) while it waited. */
export class CollectionClosedError extends Error {}

export class PointNotFoundError extends Error {
  readonly pointId: PointId;
  constructor(id: PointId) {
    super(`No point with id ${id} found`);
    this.pointId = id;
  }
}

const MIN_CAPACITY = 64;

export class Collection {
  readonly directory: string;
  readonly dim: number;
  readonly distance: Distance;
  private readonly options: CollectionOptions;

  private rows: Float32Array;
  private count = 0;
  private records: PointRecord[] = [];
  private readonly byId = new Map<PointId, PointRecord>();
  /** Upper bound of every stored row's L2 norm (never lowered until the next load). */
  private maxRowNorm = 0;
  /** Records in id order, rebuilt lazily after ids are added or removed. */
  private sorted: PointRecord[] | null = null;
  private schema: Record<string, unknown> = {};
  private lastOpId = -1;

  private wal!: WriteAheadLog;
  private snapshotBytes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(directory: string, dim: number, distance: Distance, options: CollectionOptions) {
    this.directory = directory;
    this.dim = dim;
    this.distance = distance;
    this.options = options;
    this.rows = new Float32Array(MIN_CAPACITY * dim);
  }

  /** Loads the snapshot (if any) and replays the log. */
  static async open(
    directory: string,
    dim: number,
    distance: Distance,
    options: CollectionOptions,
  ): Promise<Collection> {
    const collection = new Collection(directory, dim, distance, options);
    const snapshot = await readSnapshot(directory, (count) => growCapacity(MIN_CAPACITY, count));
    if (snapshot !== undefined) {
      if (snapshot.dim !== dim)
        throw new Error(`${directory}: snapshot dimension ${snapshot.dim}, expected ${dim}`);
      collection.rows = snapshot.rows;
      collection.count = snapshot.count;
      collection.lastOpId = snapshot.lastOpId;
      collection.schema = snapshot.payloadSchema;
      collection.snapshotBytes = snapshot.bytes;
      for (let row = 0; row < snapshot.count; row++) {
        const record: PointRecord = {
          id: snapshot.ids[row]!,
          payload: snapshot.payloads[row]!,
          version: snapshot.versions[row]!,
          row,
        };
        collection.records.push(record);
        collection.byId.set(record.id, record);
        collection.maxRowNorm = Math.max(collection.maxRowNorm, vectorNorm(collection.rows, row * dim, dim));
      }
    }
    const snapshotOpId = collection.lastOpId;
    collection.wal = await WriteAheadLog.open(join(directory, WAL_FILE), (record) => {
      if (record.opId > snapshotOpId) collection.apply(record);
    });
    return collection;
  }

  get pointsCount(): number {
    return this.count;
  }

  get payloadSchema(): Record<string, { data_type: string; params?: unknown; points: number }> {
    const out: Record<string, { data_type: string; params?: unknown; points: number }> = {};
    for (const [field, schema] of Object.entries(this.schema)) {
      let points = 0;
      for (let row = 0; row < this.count; row++) if (hasValueAt(this.records[row]!.payload, field)) points++;
      setOwn(
        out,
        field,
        typeof schema === 'string'
          ? { data_type: schema, points }
          : { data_type: (schema as { type: string }).type, params: schema, points },
      );
    }
    return out;
  }

  /** The options of the text index on `field`, if it has one (full-text filters tokenize as it does). */
  textIndex = (field: string): TextOptions | undefined =>
    Object.hasOwn(this.schema, field) ? textOptions(this.schema[field]) : undefined;

  /* ---------------------------------------------------------------- writes -------------- */

  /** Runs `task` after every earlier write of this collection, one at a time. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new CollectionClosedError('collection is closed');
      return task();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Logs then applies one planned write; returns its operation id. */
  private commit(plan: (opId: number) => WalRecord): Promise<number> {
    return this.exclusive(async () => {
      const record = plan(this.lastOpId + 1);
      await this.wal.append(record);
      this.apply(record);
      await this.maybeCompact();
      return record.opId;
    });
  }

  upsert(
    points: UpsertPoint[],
    mode: UpdateMode = 'upsert',
    updateFilter: PointPredicate | null = null,
  ): Promise<number> {
    return this.commit((opId) => {
      // Later points of the same request see the earlier ones, as if applied one by one.
      const present = new Set<PointId>();
      const chosen: UpsertPoint[] = [];
      for (const point of points) {
        const existing = this.byId.get(point.id);
        const exists = existing !== undefined || present.has(point.id);
        if (mode === 'insert_only' && exists) continue;
        if (mode === 'update_only' && !exists) continue;
        if (
          updateFilter !== null &&
          existing !== undefined &&
          !present.has(point.id) &&
          !updateFilter(existing)
        ) {
          continue;
        }
        present.add(point.id);
        chosen.push(point);
      }
      const vectors = new Float32Array(chosen.length * this.dim);
      for (let i = 0; i < chosen.length; i++) {
        vectors.set(preprocessVector(this.distance, chosen[i]!.vector), i * this.dim);
      }
      return {
        kind: 'upsert',
        opId,
        ids: chosen.map((point) => point.id),
        payloads: chosen.map((point) => point.payload),
        vectors,
      };
    });
  }

  /** Deletes the listed ids (unknown ones are ignored) or every point matching `filter`. */
  deletePoints(selector: { ids: PointId[] } | { filter: PointPredicate }): Promise<number> {
    return this.commit((opId) => ({ kind: 'delete', opId, ids: this.resolve(selector, false) }));
  }

  setPayload(
    selector: { ids: PointId[]; filter?: PointPredicate } | { filter: PointPredicate },
    payload: Payload,
    key?: string,
  ): Promise<number> {
    return this.commit((opId) => ({
      kind: 'set_payload',
      opId,
      ids: this.resolve(selector, true),
      payload,
      ...(key === undefined ? {} : { key }),
    }));
  }

  overwritePayload(
    selector: { ids: PointId[]; filter?: PointPredicate } | { filter: PointPredicate },
    payload: Payload,
    key?: string,
  ): Promise<number> {
    return this.commit((opId) => ({
      kind: 'overwrite_payload',
      opId,
      ids: this.resolve(selector, true),
      payload,
      ...(key === undefined ? {} : { key }),
    }));
  }

  deletePayload(
    selector: { ids: PointId[]; filter?: PointPredicate } | { filter: PointPredicate },
    keys: string[],
  ): Promise<number> {
    return this.commit((opId) => ({ kind: 'delete_payload', opId, ids: this.resolve(selector, true), keys }));
  }

  clearPayload(selector: { ids: PointId[] } | { filter: PointPredicate }): Promise<number> {
    return this.commit((opId) => ({ kind: 'clear_payload', opId, ids: this.resolve(selector, true) }));
  }

  createIndex(field: string, schema: unknown): Promise<number> {
    return this.commit((opId) => ({ kind: 'create_index', opId, field, schema }));
  }

  deleteIndex(field: string): Promise<number> {
    return this.commit((opId) => ({ kind: 'delete_index', opId, field }));
  }

  /**
   * The ids a write applies to: the listed ones (all must exist when `mustExist`), narrowed by
   * the filter when both are given, or every point matching the filter.
   */
  private resolve(selector: { ids?: PointId[]; filter?: PointPredicate }, mustExist: boolean): PointId[] {
    const { ids, filter } = selector;
    if (ids === undefined) {
      const out: PointId[] = [];
      for (let row = 0; row < this.count; row++) {
        const record = this.records[row]!;
        if (filter!(record)) out.push(record.id);
      }
      return out;
    }
    const out: PointId[] = [];
    const seen = new Set<PointId>();
    for (const id of ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      const record = this.byId.get(id);
      if (record === undefined) {
        if (mustExist) throw new PointNotFoundError(id);
        continue;
      }
      if (filter === undefined || filter(record)) out.push(id);
    }
    return out;
  }

  /** Applies a logged write to memory; deterministic, so replay rebuilds the same state. */
  private apply(record: WalRecord): void {
    switch (record.kind) {
      case 'upsert':
        record.ids.forEach((id, i) => {
          this.put(
            id,
            record.vectors.subarray(i * this.dim, (i + 1) * this.dim),
            record.payloads[i]!,
            record.opId,
          );
        });
        break;
      case 'delete':
        for (const id of record.ids) this.remove(id);
        break;
      case 'set_payload':
        this.forEachRecord(record.ids, record.opId, (point) =>
          setPayload(point.payload, record.payload, record.key),
        );
        break;
      case 'overwrite_payload':
        this.forEachRecord(record.ids, record.opId, (point) => {
          point.payload = overwritePayload(point.payload, record.payload, record.key);
        });
        break;
      case 'delete_payload':
        this.forEachRecord(record.ids, record.opId, (point) => {
          for (const key of record.keys) deletePayloadKey(point.payload, key);
        });
        break;
      case 'clear_payload':
        this.forEachRecord(record.ids, record.opId, (point) => {
          point.payload = {};
        });
        break;
      case 'create_index':
        // Own property: a field named `__proto__` must not replace the prototype.
        setOwn(this.schema, record.field, record.schema);
        break;
      case 'delete_index':
        delete this.schema[record.field];
        break;
    }
    this.lastOpId = record.opId;
  }

  private forEachRecord(ids: PointId[], opId: number, change: (record: PointRecord) => void): void {
    for (const id of ids) {
      const record = this.byId.get(id);
      if (record === undefined) continue;
      change(record);
      record.version = opId;
    }
  }

  private put(id: PointId, vector: Float32Array, payload: Payload, opId: number): void {
    let record = this.byId.get(id);
    if (record === undefined) {
      if ((this.count + 1) * this.dim > this.rows.length) {
        const grown = new Float32Array(growCapacity(this.rows.length / this.dim, this.count + 1) * this.dim);
        grown.set(this.rows.subarray(0, this.count * this.dim));
        this.rows = grown;
      }
      record = { id, payload, version: opId, row: this.count };
      this.records[this.count] = record;
      this.count++;
      this.byId.set(id, record);
      this.sorted = null;
    } else {
      record.payload = payload;
      record.version = opId;
    }
    this.rows.set(vector, record.row * this.dim);
    this.maxRowNorm = Math.max(this.maxRowNorm, vectorNorm(vector));
  }

  /** Removes a point by moving the last row into its slot: rows stay contiguous, no tombstones. */
  private remove(id: PointId): void {
    const record = this.byId.get(id);
    if (record === undefined) return;
    const last = this.count - 1;
    if (record.row !== last) {
      const moved = this.records[last]!;
      this.rows.copyWithin(record.row * this.dim, last * this.dim, (last + 1) * this.dim);
      moved.row = record.row;
      this.records[record.row] = moved;
    }
    this.records.length = last;
    this.count = last;
    this.byId.delete(id);
    this.sorted = null;
  }

  /**
   * Folds the log into a new snapshot when it has grown. The write that triggers it is already
   * durable in the log, so a failed compaction does not fail that write: the log is kept (and
   * replayed at the next start) and compaction is tried again after a later write.
   */
  private async maybeCompact(): Promise<void> {
    const size = this.wal.size;
    if (size < this.options.compactionBytes || size * 4 < this.snapshotBytes) return;
    try {
      this.snapshotBytes = await writeSnapshot(this.directory, {
        lastOpId: this.lastOpId,
        dim: this.dim,
        count: this.count,
        ids: this.records.map((record) => record.id),
        versions: this.records.map((record) => record.version),
        payloads: this.records.map((record) => record.payload),
        rows: this.rows,
        payloadSchema: this.schema,
      });
    } catch {
      return;
    }
    await this.wal.clear();
  }

  /** Waits for pending writes, then releases the log. Further writes fail. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      this.closed = true;
      await this.wal.close();
    });
  }

  /* ---------------------------------------------------------------- reads --------------- */

  private output(record: PointRecord, withPayload: PayloadSelector, withVector: VectorSelector): PointOutput {
    return this.attach({ id: record.id }, record, withPayload, withVector);
  }

  /** Adds the selected payload and vector of `record` to `target`. */
  private attach<T extends PointOutput>(
    target: T,
    record: PointRecord,
    withPayload: PayloadSelector,
    withVector: VectorSelector,
  ): T {
    const payload = selectPayload(record.payload, withPayload);
    if (payload !== undefined) target.payload = payload;
    if (withVector === true || (Array.isArray(withVector) && withVector.includes(''))) {
      target.vector = toJsonVector(this.rows, record.row * this.dim, this.dim);
    } else if (Array.isArray(withVector)) {
      target.vector = {};
    }
    return target;
  }

  /** Points by id, in request order, skipping unknown and repeated ids. */
  retrieve(ids: PointId[], withPayload: PayloadSelector, withVector: VectorSelector): PointOutput[] {
    const seen = new Set<PointId>();
    const out: PointOutput[] = [];
    for (const id of ids) {
      const record = this.byId.get(id);
      if (record === undefined || seen.has(id)) continue;
      seen.add(id);
      out.push(this.output(record, withPayload, withVector));
    }
    return out;
  }

  getPoint(id: PointId): PointOutput {
    const record = this.byId.get(id);
    if (record === undefined) throw new PointNotFoundError(id);
    return this.output(record, true, true);
  }

  private sortedRecords(): PointRecord[] {
    if (this.sorted === null) {
      this.sorted = this.records.slice(0, this.count).sort((a, b) => comparePointIds(a.id, b.id));
    }
    return this.sorted;
  }

  /** Records in id order from `offset` (inclusive) that match `filter`; up to `limit + 1` of them. */
  private scan(filter: PointPredicate | null, offset: PointId | undefined, limit: number): PointRecord[] {
    const sorted = this.sortedRecords();
    let start = 0;
    if (offset !== undefined) {
      let high = sorted.length;
      while (start < high) {
        const mid = (start + high) >> 1;
        if (comparePointIds(sorted[mid]!.id, offset) < 0) start = mid + 1;
        else high = mid;
      }
    }
    const out: PointRecord[] = [];
    for (let i = start; i < sorted.length && out.length <= limit; i++) {
      const record = sorted[i]!;
      if (filter === null || filter(record)) out.push(record);
    }
    return out;
  }

  scroll(input: {
    filter: PointPredicate | null;
    offset?: PointId;
    limit: number;
    withPayload: PayloadSelector;
    withVector: VectorSelector;
  }): { points: PointOutput[]; next_page_offset: PointId | null } {
    const found = this.scan(input.filter, input.offset, input.limit);
    const next = found.length > input.limit ? found.pop()!.id : null;
    return {
      points: found.map((record) => this.output(record, input.withPayload, input.withVector)),
      next_page_offset: next,
    };
  }

  countPoints(filter: PointPredicate | null): number {
    if (filter === null) return this.count;
    let n = 0;
    for (let row = 0; row < this.count; row++) if (filter(this.records[row]!)) n++;
    return n;
  }

  /** Exact nearest-neighbour query (or, without a query, points in id order with score 0). */
  query(input: QueryInput): ScoredPointOutput[] {
    const { limit, offset } = input;
    // Qdrant's field order; scores are float32, printed as the shortest decimal.
    const scored = (record: PointRecord, score: number): ScoredPointOutput =>
      this.attach(
        { id: record.id, version: record.version, score: shortestFloat32(score) },
        record,
        input.withPayload,
        input.withVector,
      );
    if (input.nearest === undefined) {
      return this.scan(input.filter, undefined, offset + limit - 1)
        .slice(offset, offset + limit)
        .map((record) => scored(record, 0));
    }
    let query: Float32Array;
    let excluded: PointRecord | undefined;
    if ('id' in input.nearest) {
      excluded = this.byId.get(input.nearest.id);
      if (excluded === undefined) throw new PointNotFoundError(input.nearest.id);
      query = this.rows.slice(excluded.row * this.dim, (excluded.row + 1) * this.dim);
    } else {
      query = preprocessVector(this.distance, input.nearest);
    }
    let accept: Uint8Array | null = null;
    let acceptCount = this.count;
    if (input.filter !== null || excluded !== undefined) {
      accept = new Uint8Array(this.count);
      acceptCount = 0;
      for (let row = 0; row < this.count; row++) {
        const record = this.records[row]!;
        if (record === excluded || (input.filter !== null && !input.filter(record))) continue;
        accept[row] = 1;
        acceptCount++;
      }
    }
    const best = searchRows({
      distance: this.distance,
      rows: this.rows,
      count: this.count,
      dim: this.dim,
      query,
      need: offset + limit,
      accept,
      acceptCount,
      idOf: (row) => this.records[row]!.id,
      maxRowNorm: this.maxRowNorm,
      kernel: this.options.kernel,
      threads: this.options.threads,
    });
    const out: ScoredPointOutput[] = [];
    for (let i = offset; i < best.length; i++) {
      const score = reportedScore(this.distance, best[i]!.score);
      if (input.scoreThreshold !== undefined && !passesThreshold(this.distance, score, input.scoreThreshold))
        break;
      out.push(scored(this.records[best[i]!.row]!, score));
    }
    return out;
  }
}

function growCapacity(current: number, needed: number): number {
  let capacity = Math.max(MIN_CAPACITY, current);
  while (capacity < needed) capacity = Math.ceil(capacity * 1.5);
  return capacity;
}

/**
 * Float32 values as the shortest decimals that read back as the same float32, which is how
 * Qdrant prints vectors (0.1 stays 0.1 instead of 0.10000000149011612).
 */
export function toJsonVector(rows: Float32Array, offset: number, dim: number): number[] {
  const out = new Array<number>(dim);
  for (let i = 0; i < dim; i++) out[i] = shortestFloat32(rows[offset + i]!);
  return out;
}

export function shortestFloat32(value: number): number {
  if (Number.isInteger(value) || !Number.isFinite(value)) return value;
  // Computed values (normalized vectors, embeddings) mostly need 8 or 9 digits: try those first.
  const eight = Number(value.toPrecision(8));
  if (Math.fround(eight) !== value) return Number(value.toPrecision(9));
  let best = Number(value.toPrecision(7));
  if (Math.fround(best) !== value) return eight;
  // If p digits read back exactly, so do p + 1: binary search for the fewest.
  let low = 1;
  let high = 7;
  while (low < high) {
    const middle = (low + high) >> 1;
    const candidate = Number(value.toPrecision(middle));
    if (Math.fround(candidate) === value) {
      best = candidate;
      high = middle;
    } else {
      low = middle + 1;
    }
  }
  return best;
}
