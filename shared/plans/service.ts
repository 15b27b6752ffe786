import { createHash, randomUUID } from 'node:crypto';
import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import type { Embedder } from '../embeddings/embedder.ts';
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '../errors.ts';
import { once } from '../lazy.ts';
import type { ObjectStore, StateStore } from '../ports.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';
import type { Filter } from '../vectors/schemas.ts';
import { recordedEmbedding, VectorService } from '../vectors/service.ts';
import { PlanLease } from './lease.ts';
import { parsePlan } from './parser.ts';
import { planIdProblem, toUrlId } from './plan-id.ts';
import { MAX_PLAN_BYTES, type SearchTasksBody } from './schemas.ts';
import type {
  DeclaredProgress,
  FrontMatterMap,
  HeadingProgress,
  PlanDocument,
  PlanHeading,
  PlanTask,
} from './types.ts';

/**
 * Development plans as searchable tasks. A plan is parsed, each task embedded (its text with its
 * heading path) and stored as one point of the `roadmap_tasks` collection, keyed by the parser's
 * stable task id, with the task's fields as payload. Where a task sits (line, position, heading
 * and parent indexes, indentation) is not in its payload but in the plan's outline, kept through
 * the StateStore port with the title, front matter and headings: a line inserted at the top of a
 * plan then rewrites its outline, not every point below it.
 *
 * Re-indexing is incremental: the plan's stored points are read (two hashes each), then only
 * tasks whose embedded text changed are embedded; tasks whose other fields changed (a ticked box)
 * keep their stored vector; tasks that disappeared are deleted; the others are not written. The
 * plan is read, parsed and compared with what is stored before the first write, so bad input or
 * an incompatible collection changes nothing. A failure during the writes (Qdrant down) may leave the plan half updated;
 * posting it again converges, as every step compares against what is stored.
 *
 * Indexing and deleting a plan hold its lease (`lease.ts`) from before that comparison to their
 * last write: a second writer of the same plan meanwhile is refused (409) rather than interleaved.
 *
 * Adapters are built on first use: a function that never touches one needs no configuration
 * (nor access) for it; e.g. listing plans and reading progress need the state store alone.
 */

export const TASKS_COLLECTION = 'roadmap_tasks';

/**
 * State partitions: one summary item per plan (sort key: plan id), and its outline as two JSON
 * documents (headings; task positions) in chunks `<planId>#<revision>#<part>#<n>`.
 */
export const PLAN_PK = 'plan';
export const OUTLINE_PK = 'plan-outline';
/** UTF-16 units per outline chunk: at most ~300 KB of UTF-8, under DynamoDB's 400 KB item limit. */
const OUTLINE_CHUNK_UNITS = 100_000;
/** Points per upsert (and per embedder call), and ids per retrieve or delete. */
const WRITE_BATCH = 256;
const SCROLL_PAGE = 1000;
/** Longest embedded text: ~6000 estimated tokens, within every embedder's 8192. */
const MAX_EMBED_CHARS = 6000;

/** Payload fields with a Qdrant index: the plan and the search filters. */
const PAYLOAD_INDEXES: ReadonlyArray<[string, 'keyword' | 'integer']> = [
  ['planId', 'keyword'],
  ['status', 'keyword'],
  ['headingPath', 'keyword'],
  ['depth', 'integer'],
  ['priority', 'keyword'],
];

/** Hashes a re-index compares, stored in the payload; task views leave them out. */
const INTERNAL_FIELDS = ['embedHash', 'payloadHash'] as const;

export type PlanSource = { kind: 'body'; bytes: number } | { kind: 's3'; key: string; bytes: number };

/** What to index: markdown given inline (string or bytes), or an object of the exports bucket. */
export type IndexPlanRequest =
  | { planId: string; markdown: string | Uint8Array }
  | { planId: string; s3Key: string };

export interface TaskCounts {
  total: number;
  /** New task ids. */
  added: number;
  /** Same id, different content (text, status, hierarchy…). */
  changed: number;
  /** Stored ids the plan no longer has: deleted. */
  removed: number;
  /** Same id and content (possibly another line): not written. */
  unchanged: number;
}

export interface PlanSummary {
  /** URL id (`plans~a.md`). */
  id: string;
  planId: string;
  title: string | null;
  source: PlanSource;
  /** SHA-256 (hex) of the indexed bytes. */
  sha256: string;
  indexedAt: string;
  counts: { tasks: number; headings: number };
  progress: HeadingProgress;
}

export interface IndexReport extends PlanSummary {
  /** True when the plan was not indexed before. */
  created: boolean;
  collection: string;
  tasks: TaskCounts;
  /** Texts sent to the embedder. */
  embedded: number;
}

/** Where a task sits in its plan: kept in the plan's outline, not in the task's payload. */
export type PositionField = 'index' | 'line' | 'headingIndex' | 'parentIndex' | 'indent';

/** A task as stored in the collection (and answered by a search): its fields but its position. */
export type StoredTaskView = Omit<PlanTask, PositionField> & { planId: string };

/** A task with its position, as `GET /plans/{id}` answers it. */
export type TaskView = PlanTask & { planId: string };

export interface PlanView extends PlanSummary {
  frontMatter: FrontMatterMap | null;
  encoding: PlanDocument['encoding'];
  lineEnding: PlanDocument['lineEnding'];
  lineCount: number;
  declaredProgress: DeclaredProgress[];
  mojibake: { repairedLines: number; ambiguousLines: number };
  headings: PlanHeading[];
  /** The tasks at positions [offset, offset + limit), in document order. */
  tasks: TaskView[];
  page: { offset: number; limit: number; total: number; nextOffset: number | null };
}

export interface ProgressView {
  id: string;
  planId: string;
  title: string | null;
  indexedAt: string;
  /** The whole plan: computed from every task, declared as the plan's own claim. */
  totals: HeadingProgress;
  headings: Array<
    Pick<PlanHeading, 'id' | 'index' | 'level' | 'title' | 'number' | 'line' | 'path' | 'progress'>
  >;
  /**
   * Headings that declare a progress, by how the computed one compares: equal, ahead (more done
   * than declared), behind, or not computable (no task under the heading).
   */
  declared: { headings: number; agreeing: number; ahead: number; behind: number; withoutTasks: number };
}

export interface TaskHit {
  /** null only if a score overflowed float32, which the cosine task vectors cannot. */
  score: number | null;
  task: StoredTaskView;
  /** The task's heading path, outermost first. */
  path: readonly string[];
  plan: { id: string; planId: string; title: string | null };
}

/** Each adapter is built by its function on first use, and once per service. */
export interface PlanServiceOptions {
  qdrant: () => QdrantClient;
  /** Called only to embed (index, search): reads never build one. */
  embedder: () => Embedder;
  state: () => StateStore;
  /** The exports bucket, for plans given by S3 key. */
  objects: () => ObjectStore;
  collection?: string;
}

/** The summary item of a plan. */
interface PlanRecord extends Omit<PlanSummary, 'id'> {
  collection: string;
  embedding: { model: string; dimensions: number };
  encoding: PlanDocument['encoding'];
  lineEnding: PlanDocument['lineEnding'];
  lineCount: number;
  mojibake: { repairedLines: number; ambiguousLines: number };
  /** Where the outline is (its chunk counts per part); `hash` spares rewriting an equal one. */
  outline: { revision: string; hash: string; chunks: Record<OutlinePart, number> };
}

type OutlinePart = 'headings' | 'tasks';

/** What `GET /plans/{id}` and `/progress` need beyond the record; headings without their path. */
interface HeadingsOutline {
  frontMatter: FrontMatterMap | null;
  declaredProgress: DeclaredProgress[];
  headings: Array<Omit<PlanHeading, 'path'>>;
}

/** The tasks in document order (`index` = position in the arrays), column by column. */
interface TasksOutline {
  ids: string[];
  line: number[];
  headingIndex: Array<number | null>;
  parentIndex: Array<number | null>;
  indent: number[];
}

type TaskPayload = StoredTaskView & { id: string; embedHash: string; payloadHash: string };

/** The hashes a re-index compares, as stored. */
interface StoredHashes {
  payloadHash: unknown;
  embedHash: unknown;
}

const sha256 = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');

/** The text embedded for a task: its text, then its heading path for context. */
export function embeddingText(task: Pick<PlanTask, 'text' | 'headingPath'>): string {
  const path = task.headingPath.filter((title) => title !== '').join(' › ');
  const text = task.text.trim();
  const joined = text !== '' && path !== '' ? `${text} — ${path}` : text || path || 'untitled task';
  if (joined.length <= MAX_EMBED_CHARS) return joined;
  const cut = joined.slice(0, MAX_EMBED_CHARS);
  // A cut between the halves of a surrogate pair would leave a lone surrogate.
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** A task's payload: its fields but its position, its plan, and the hashes a re-index compares. */
function taskPayload(task: PlanTask, planId: string): TaskPayload {
  const { index, line, headingIndex, parentIndex, indent, ...fields } = task;
  const content = { ...fields, planId };
  return { ...content, embedHash: sha256(embeddingText(task)), payloadHash: sha256(JSON.stringify(content)) };
}

function toStoredTaskView(payload: Record<string, unknown>): StoredTaskView {
  const view = { ...payload };
  for (const field of INTERNAL_FIELDS) delete view[field];
  return view as unknown as StoredTaskView;
}

function tasksOutline(tasks: readonly PlanTask[]): TasksOutline {
  return {
    ids: tasks.map((t) => t.id),
    line: tasks.map((t) => t.line),
    headingIndex: tasks.map((t) => t.headingIndex),
    parentIndex: tasks.map((t) => t.parentIndex),
    indent: tasks.map((t) => t.indent),
  };
}

/** Splits a string into chunks of at most `size` UTF-16 units, never inside a surrogate pair. */
function chunkString(text: string, size: number): string[] {
  const chunks: string[] = [];
  for (let start = 0; start < text.length; ) {
    let end = Math.min(start + size, text.length);
    if (end < text.length && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
    chunks.push(text.slice(start, end));
    start = end;
  }
  return chunks;
}

function outlinePrefix(planId: string, revision: string, part: OutlinePart): string {
  return `${planId}#${revision}#${part}#`;
}

function planNotFound(planId: string): NotFoundError {
  return new NotFoundError(`plan "${planId}" is not indexed`, [{ field: 'id', reason: 'no such plan' }]);
}

function isMissingCollection(err: unknown): boolean {
  return err instanceof NotFoundError && err.issues.some((issue) => issue.field === 'collection');
}

function summaryOf(record: PlanRecord): PlanSummary {
  return {
    id: toUrlId(record.planId),
    planId: record.planId,
    title: record.title,
    source: record.source,
    sha256: record.sha256,
    indexedAt: record.indexedAt,
    counts: record.counts,
    progress: record.progress,
  };
}

function withPaths(headings: HeadingsOutline['headings']): PlanHeading[] {
  const out: PlanHeading[] = [];
  for (const heading of headings) {
    const parent = heading.parentIndex === null ? undefined : out[heading.parentIndex];
    out.push({ ...heading, path: parent ? [...parent.path, heading.title] : [heading.title] });
  }
  return out;
}

export class PlanService {
  readonly #qdrantClient: () => QdrantClient;
  readonly #vectorService: () => VectorService;
  readonly #embedder: () => Embedder;
  readonly #stateStore: () => StateStore;
  readonly #objects: () => ObjectStore;
  readonly #collection: string;

  constructor(options: PlanServiceOptions) {
    this.#collection = options.collection ?? TASKS_COLLECTION;
    this.#qdrantClient = once(options.qdrant);
    this.#embedder = options.embedder;
    this.#stateStore = once(options.state);
    this.#objects = once(options.objects);
    this.#vectorService = once(
      () =>
        new VectorService({
          qdrant: this.#qdrantClient(),
          embedder: options.embedder,
          defaultCollection: this.#collection,
        }),
    );
  }

  get #qdrant(): QdrantClient {
    return this.#qdrantClient();
  }

  get #vectors(): VectorService {
    return this.#vectorService();
  }

  get #state(): StateStore {
    return this.#stateStore();
  }

  get collection(): string {
    return this.#collection;
  }

  /** Parses a plan and brings its tasks in the collection, and its outline in the state, up to date. */
  async indexPlan(request: IndexPlanRequest): Promise<IndexReport> {
    const { planId } = request;
    const problem = planIdProblem(planId);
    if (problem !== undefined) throw ValidationError.field('planId', problem);
    const { content, source } = await this.#read(request);
    const doc = parsePlan(content, { planId });
    const embedding = await this.#ensureCollection();
    const lease = await PlanLease.acquire(this.#state, planId, 'planId');
    return lease.around(() => this.#index(doc, content, source, embedding, lease));
  }

  /** Brings the stored plan up to `doc`, holding the plan's lease. */
  async #index(
    doc: PlanDocument,
    content: string | Uint8Array,
    source: PlanSource,
    embedding: { model: string; dimensions: number },
    lease: PlanLease,
  ): Promise<IndexReport> {
    const { planId } = doc;
    const collection = this.#collection;
    // Reads and comparisons: nothing below changes stored data until the first upsert.
    const [stored, previous] = await Promise.all([
      this.#storedTasks(planId),
      this.#state.get<PlanRecord>(PLAN_PK, planId),
    ]);
    const created = previous === undefined && stored.size === 0;
    const counts: TaskCounts = { total: doc.tasks.length, added: 0, changed: 0, removed: 0, unchanged: 0 };
    const toEmbed: TaskPayload[] = [];
    const toRewrite: TaskPayload[] = [];
    for (const task of doc.tasks) {
      const payload = taskPayload(task, planId);
      const before = stored.get(payload.id);
      stored.delete(payload.id);
      if (before === undefined) {
        counts.added++;
        toEmbed.push(payload);
      } else if (before.payloadHash === payload.payloadHash) counts.unchanged++;
      else {
        counts.changed++;
        (before.embedHash === payload.embedHash ? toRewrite : toEmbed).push(payload);
      }
    }
    const removedIds = [...stored.keys()];
    counts.removed = removedIds.length;

    const parts: Record<OutlinePart, string> = {
      headings: JSON.stringify({
        frontMatter: doc.frontMatter,
        declaredProgress: doc.declaredProgress,
        headings: doc.headings.map(({ path, ...heading }) => heading),
      } satisfies HeadingsOutline),
      tasks: JSON.stringify(tasksOutline(doc.tasks)),
    };
    const outlineHash = sha256(`${parts.headings}\n${parts.tasks}`);
    // An outline found incomplete (chunks lost to an interrupted or, before leases, concurrent
    // index) is written again, or the plan would stay unreadable.
    const keepOutline =
      previous?.value.outline.hash === outlineHash && (await this.#outlineComplete(previous.value));
    const chunks: Record<OutlinePart, string[]> = keepOutline
      ? { headings: [], tasks: [] }
      : {
          headings: chunkString(parts.headings, OUTLINE_CHUNK_UNITS),
          tasks: chunkString(parts.tasks, OUTLINE_CHUNK_UNITS),
        };
    const record: PlanRecord = {
      planId,
      title: doc.title,
      source,
      sha256: sha256(content),
      indexedAt: new Date().toISOString(),
      counts: { tasks: doc.tasks.length, headings: doc.headings.length },
      progress: doc.progress,
      collection,
      embedding,
      encoding: doc.encoding,
      lineEnding: doc.lineEnding,
      lineCount: doc.lineCount,
      mojibake: {
        repairedLines: doc.mojibake.repairedLines.length,
        ambiguousLines: doc.mojibake.ambiguousLines.length,
      },
      outline: keepOutline
        ? previous!.value.outline
        : {
            revision: randomUUID().slice(0, 8),
            hash: outlineHash,
            chunks: { headings: chunks.headings.length, tasks: chunks.tasks.length },
          },
    };

    // Writes: points first, then the outline, then the record that points at it. Batches bound
    // the memory a large plan needs (vectors are fetched and embedded one batch at a time).
    for (let start = 0; start < toEmbed.length; start += WRITE_BATCH) {
      const batch = toEmbed.slice(start, start + WRITE_BATCH);
      await lease.keep();
      await this.#vectors.upsert({
        collection,
        points: batch.map((payload) => ({
          id: payload.id,
          text: embeddingText(payload),
          payload: { ...payload },
        })),
        wait: true,
      });
    }
    for (let start = 0; start < toRewrite.length; start += WRITE_BATCH) {
      const batch = toRewrite.slice(start, start + WRITE_BATCH);
      await lease.keep();
      const vectors = await this.#vectorsOf(batch.map((payload) => payload.id));
      await this.#vectors.upsert({
        collection,
        points: batch.map((payload) => ({
          id: payload.id,
          vector: vectors.get(payload.id)!,
          payload: { ...payload },
        })),
        wait: true,
      });
    }
    for (let start = 0; start < removedIds.length; start += WRITE_BATCH) {
      await lease.keep();
      await this.#vectors.deletePoints({ collection, ids: removedIds.slice(start, start + WRITE_BATCH) });
    }
    await lease.keep();
    if (!keepOutline) {
      for (const part of ['headings', 'tasks'] as const) {
        const prefix = outlinePrefix(planId, record.outline.revision, part);
        for (const [n, text] of chunks[part].entries()) {
          await this.#state.put(OUTLINE_PK, `${prefix}${String(n).padStart(4, '0')}`, { text });
        }
      }
    }
    await lease.keep();
    await this.#state.put(PLAN_PK, planId, record);
    // Every other revision: the previous one, and any left by an interrupted index.
    if (!keepOutline) await this.#deleteOutlines(planId, record.outline.revision);

    return {
      ...summaryOf(record),
      created,
      collection,
      tasks: counts,
      embedded: toEmbed.length,
    };
  }

  /** Every indexed plan, ordered by plan id. */
  async listPlans(): Promise<{ plans: PlanSummary[] }> {
    const items = await this.#state.list<PlanRecord>(PLAN_PK);
    return { plans: items.map((item) => summaryOf(item.value)) };
  }

  /** A plan: its summary, outline, and one page of its tasks in document order. */
  async getPlan(planId: string, page: { offset: number; limit: number }): Promise<PlanView> {
    const { record, outline, tasks: positions } = await this.#readPlan(planId, true);
    const tasks = await this.#taskPage(positions!, page.offset, page.limit);
    const total = record.counts.tasks;
    const next = page.offset + page.limit;
    return {
      ...summaryOf(record),
      frontMatter: outline.frontMatter,
      encoding: record.encoding,
      lineEnding: record.lineEnding,
      lineCount: record.lineCount,
      declaredProgress: outline.declaredProgress,
      mojibake: record.mojibake,
      headings: withPaths(outline.headings),
      tasks,
      page: { offset: page.offset, limit: page.limit, total, nextOffset: next < total ? next : null },
    };
  }

  /** Declared against computed progress for every heading, and for the whole plan. */
  async progress(planId: string): Promise<ProgressView> {
    const { record, outline } = await this.#readPlan(planId, false);
    const headings = withPaths(outline.headings).map(
      ({ id, index, level, title, number, line, path, progress }) => ({
        id,
        index,
        level,
        title,
        number,
        line,
        path,
        progress,
      }),
    );
    const declared = { headings: 0, agreeing: 0, ahead: 0, behind: 0, withoutTasks: 0 };
    for (const { progress } of headings) {
      if (progress.declared === null) continue;
      declared.headings++;
      if (progress.drift === null) declared.withoutTasks++;
      else if (progress.drift === 0) declared.agreeing++;
      else if (progress.drift > 0) declared.ahead++;
      else declared.behind++;
    }
    return {
      id: toUrlId(planId),
      planId,
      title: record.title,
      indexedAt: record.indexedAt,
      totals: record.progress,
      headings,
      declared,
    };
  }

  /** Removes a plan's points, outline and record. */
  async deletePlan(planId: string): Promise<{ id: string; planId: string; deleted: { tasks: number } }> {
    const lease = await PlanLease.acquire(this.#state, planId, 'id');
    return lease.around(() => this.#delete(planId));
  }

  async #delete(planId: string): Promise<{ id: string; planId: string; deleted: { tasks: number } }> {
    const record = await this.#state.get<PlanRecord>(PLAN_PK, planId);
    let tasks = 0;
    try {
      ({ deleted: tasks } = await this.#vectors.deletePoints({
        collection: this.#collection,
        filter: this.#planFilter(planId),
      }));
    } catch (err) {
      if (!isMissingCollection(err)) throw err;
    }
    if (record === undefined && tasks === 0) throw planNotFound(planId);
    await this.#deleteOutlines(planId);
    await this.#state.delete(PLAN_PK, planId);
    return { id: toUrlId(planId), planId, deleted: { tasks } };
  }

  /** Tasks nearest to a text, filtered; none when no plan was ever indexed. */
  async searchTasks(body: SearchTasksBody): Promise<{ results: TaskHit[] }> {
    const must: Array<Record<string, unknown>> = [];
    const anyOf = (key: string, values: readonly unknown[]) =>
      must.push({ key, match: values.length === 1 ? { value: values[0] } : { any: values } });
    if (body.plan) anyOf('planId', body.plan);
    if (body.status) anyOf('status', body.status);
    if (body.priority) anyOf('priority', body.priority);
    if (body.heading !== undefined) anyOf('headingPath', [body.heading]);
    if (typeof body.depth === 'number') anyOf('depth', [body.depth]);
    else if (body.depth) must.push({ key: 'depth', range: body.depth });
    let hits: Awaited<ReturnType<VectorService['search']>>['results'];
    try {
      ({ results: hits } = await this.#vectors.search({
        collection: this.#collection,
        text: body.text,
        ...(must.length > 0 ? { filter: { must } } : {}),
        limit: body.limit,
        offset: body.offset,
        ...(body.scoreThreshold !== undefined ? { scoreThreshold: body.scoreThreshold } : {}),
        withPayload: true,
        withVector: false,
      }));
    } catch (err) {
      if (isMissingCollection(err)) return { results: [] };
      throw err;
    }
    const planIds = [...new Set(hits.map((hit) => String(hit.payload?.planId)))];
    const records = await Promise.all(planIds.map((id) => this.#state.get<PlanRecord>(PLAN_PK, id)));
    const titles = new Map(planIds.map((id, i) => [id, records[i]?.value.title ?? null]));
    return {
      results: hits.map((hit) => {
        const task = toStoredTaskView(hit.payload ?? {});
        return {
          score: hit.score,
          task,
          path: task.headingPath,
          plan: { id: toUrlId(task.planId), planId: task.planId, title: titles.get(task.planId) ?? null },
        };
      }),
    };
  }

  /** The plan's bytes and where they came from; 404 or 413 before anything is parsed. */
  async #read(request: IndexPlanRequest): Promise<{ content: string | Uint8Array; source: PlanSource }> {
    if ('markdown' in request) {
      const bytes =
        typeof request.markdown === 'string'
          ? Buffer.byteLength(request.markdown, 'utf8')
          : request.markdown.byteLength;
      checkPlanSize('markdown', bytes);
      if (bytes === 0) throw ValidationError.field('markdown', 'must not be empty');
      return { content: request.markdown, source: { kind: 'body', bytes } };
    }
    const key = request.s3Key;
    const objects = this.#objects();
    const head = await objects.head(key);
    if (head === undefined) {
      throw new NotFoundError(`s3Key: no object "${key}" in the exports bucket`, [
        { field: 's3Key', reason: 'no such object in the exports bucket' },
      ]);
    }
    checkPlanSize('s3Key', head.size);
    const content = await objects.get(key);
    // The object may have been replaced since the head.
    checkPlanSize('s3Key', content.byteLength);
    if (content.byteLength === 0) throw ValidationError.field('s3Key', 'the object is empty');
    return { content, source: { kind: 's3', key, bytes: content.byteLength } };
  }

  /**
   * The tasks collection, created on first use for the configured embedder (its model recorded in
   * the collection metadata, as `POST /vectors/collections` does) with the filter fields indexed.
   * A collection of another model is refused: vectors of two models are not comparable.
   */
  async #ensureCollection(): Promise<{ model: string; dimensions: number }> {
    const collection = this.#collection;
    const embedder = this.#embedder();
    const read = () => qdrantCall({ collection }, () => this.#qdrant.getCollection(collection));
    let info: Schemas['CollectionInfo'];
    try {
      info = await read();
    } catch (err) {
      if (!isMissingCollection(err)) throw err;
      try {
        await this.#vectors.createCollection({ name: collection, distance: 'Cosine' });
      } catch (createErr) {
        // Created meanwhile by a concurrent first index.
        if (!(createErr instanceof ConflictError)) throw createErr;
      }
      info = await read();
    }
    const recorded = recordedEmbedding(info);
    if (recorded?.model !== embedder.model || recorded.dimensions !== embedder.dimensions) {
      const holds = recorded
        ? `embeddings of model "${recorded.model}" (${recorded.dimensions} dimensions)`
        : 'no embedding model';
      throw new ConflictError(
        `collection "${collection}" holds ${holds}, but the configured embedder is "${embedder.model}" (${embedder.dimensions} dimensions)`,
        [{ field: 'collection', reason: `"${collection}" holds ${holds}` }],
      );
    }
    const indexed = info.payload_schema ?? {};
    for (const [field, schema] of PAYLOAD_INDEXES) {
      if (Object.hasOwn(indexed, field)) continue;
      await qdrantCall({ collection }, () =>
        this.#qdrant.createPayloadIndex(collection, { field_name: field, field_schema: schema, wait: true }),
      );
    }
    return { model: embedder.model, dimensions: embedder.dimensions };
  }

  #planFilter(planId: string): Filter {
    return { must: [{ key: 'planId', match: { value: planId } }] };
  }

  /** The plan's stored points by id: the hashes a re-index compares. */
  async #storedTasks(planId: string): Promise<Map<string, StoredHashes>> {
    const stored = new Map<string, StoredHashes>();
    const collection = this.#collection;
    let offset: Schemas['ExtendedPointId'] | undefined;
    do {
      const page = await qdrantCall({ collection }, () =>
        this.#qdrant.scroll(collection, {
          filter: this.#planFilter(planId) as Schemas['Filter'],
          limit: SCROLL_PAGE,
          with_payload: ['payloadHash', 'embedHash'],
          with_vector: false,
          ...(offset === undefined ? {} : { offset }),
        }),
      );
      for (const point of page.points) {
        stored.set(String(point.id), {
          payloadHash: point.payload?.payloadHash,
          embedHash: point.payload?.embedHash,
        });
      }
      offset = (page.next_page_offset ?? undefined) as Schemas['ExtendedPointId'] | undefined;
    } while (offset !== undefined);
    return stored;
  }

  /** Stored vectors of points (at most one write batch) that keep theirs while their payload is rewritten. */
  async #vectorsOf(ids: string[]): Promise<Map<string, number[]>> {
    const collection = this.#collection;
    const records = await qdrantCall({ collection }, () =>
      this.#qdrant.retrieve(collection, { ids, with_payload: false, with_vector: true }),
    );
    const vectors = new Map<string, number[]>();
    for (const record of records) {
      if (Array.isArray(record.vector)) vectors.set(String(record.id), record.vector as number[]);
    }
    const missing = ids.find((id) => !vectors.has(id));
    if (missing !== undefined) {
      throw new ConflictError(
        `task ${missing} was deleted while its plan was being indexed; post the plan again`,
        [{ field: 'planId', reason: `task ${missing} was deleted meanwhile` }],
      );
    }
    return vectors;
  }

  /** The tasks at positions [offset, offset + limit): their points, with their positions. */
  async #taskPage(positions: TasksOutline, offset: number, limit: number): Promise<TaskView[]> {
    const ids = positions.ids.slice(offset, offset + limit);
    if (ids.length === 0) return [];
    const collection = this.#collection;
    const byId = new Map<string, Record<string, unknown>>();
    try {
      for (let start = 0; start < ids.length; start += SCROLL_PAGE) {
        const records = await qdrantCall({ collection }, () =>
          this.#qdrant.retrieve(collection, {
            ids: ids.slice(start, start + SCROLL_PAGE),
            with_payload: true,
            with_vector: false,
          }),
        );
        for (const record of records) byId.set(String(record.id), record.payload ?? {});
      }
    } catch (err) {
      if (isMissingCollection(err)) return [];
      throw err;
    }
    const tasks: TaskView[] = [];
    for (const [i, id] of ids.entries()) {
      const payload = byId.get(id);
      // Absent only while a failed re-index awaits its retry: the page skips it.
      if (payload === undefined) continue;
      const index = offset + i;
      tasks.push({
        ...toStoredTaskView(payload),
        index,
        line: positions.line[index]!,
        headingIndex: positions.headingIndex[index] ?? null,
        parentIndex: positions.parentIndex[index] ?? null,
        indent: positions.indent[index]!,
      });
    }
    return tasks;
  }

  /**
   * The record and outline of a plan (the task positions too when asked); read again once if a
   * concurrent re-index replaced the outline meanwhile.
   */
  async #readPlan(
    planId: string,
    withTasks: boolean,
  ): Promise<{ record: PlanRecord; outline: HeadingsOutline; tasks?: TasksOutline }> {
    for (let attempt = 0; ; attempt++) {
      const item = await this.#state.get<PlanRecord>(PLAN_PK, planId);
      if (item === undefined) throw planNotFound(planId);
      const record = item.value;
      const [outline, tasks] = await Promise.all([
        this.#readPart<HeadingsOutline>(record, 'headings'),
        withTasks ? this.#readPart<TasksOutline>(record, 'tasks') : undefined,
      ]);
      if (outline !== undefined && (!withTasks || tasks !== undefined)) {
        return { record, outline, ...(tasks ? { tasks } : {}) };
      }
      if (attempt > 0) {
        throw new ConflictError(`plan "${planId}" is being re-indexed; retry`, [
          { field: 'id', reason: 'its outline is being replaced' },
        ]);
      }
    }
  }

  /** Whether every chunk of the record's outline is stored. */
  async #outlineComplete(record: PlanRecord): Promise<boolean> {
    for (const part of ['headings', 'tasks'] as const) {
      const chunks = await this.#state.list<unknown>(OUTLINE_PK, {
        prefix: outlinePrefix(record.planId, record.outline.revision, part),
      });
      if (chunks.length !== record.outline.chunks[part]) return false;
    }
    return true;
  }

  /** One part of a plan's outline, or undefined when its chunks are not all there. */
  async #readPart<T>(record: PlanRecord, part: OutlinePart): Promise<T | undefined> {
    const chunks = await this.#state.list<{ text: string }>(OUTLINE_PK, {
      prefix: outlinePrefix(record.planId, record.outline.revision, part),
    });
    if (chunks.length !== record.outline.chunks[part]) return undefined;
    return JSON.parse(chunks.map((c) => c.value.text).join('')) as T;
  }

  /** Deletes the plan's outline chunks, all of them or all but one revision's. */
  async #deleteOutlines(planId: string, keepRevision?: string): Promise<void> {
    const keep = keepRevision === undefined ? undefined : `${planId}#${keepRevision}#`;
    const chunks = await this.#state.list<unknown>(OUTLINE_PK, { prefix: `${planId}#` });
    for (const chunk of chunks) {
      if (keep === undefined || !chunk.sk.startsWith(keep)) await this.#state.delete(OUTLINE_PK, chunk.sk);
    }
  }
}

function checkPlanSize(field: string, bytes: number): void {
  if (bytes > MAX_PLAN_BYTES) {
    throw new PayloadTooLargeError(
      `${field}: the plan is ${bytes} bytes; the limit is ${MAX_PLAN_BYTES} bytes`,
      [{ field, reason: `over ${MAX_PLAN_BYTES} bytes` }],
    );
  }
}
