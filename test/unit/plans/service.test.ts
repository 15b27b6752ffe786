import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { createEmbedder, type Embedder } from '#shared/embeddings/index.ts';
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '#shared/errors.ts';
import { MAX_PLAN_BYTES, SearchTasksBodySchema } from '#shared/plans/schemas.ts';
import {
  embeddingText,
  OUTLINE_PK,
  PLAN_PK,
  PlanService,
  TASKS_COLLECTION,
  type TaskView,
} from '#shared/plans/service.ts';
import type { ObjectStore } from '#shared/ports.ts';
import { parseWith } from '#shared/validation.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';
import { VectorService } from '#shared/vectors/service.ts';
import { Contract, recordExchanges, SPEC_PATH } from '../qdrant/openapi.ts';

/** The plan service against the embedded Qdrant-compatible server and a file state store. */

/** Records every text it is asked to embed, then embeds with the offline embedder. */
class CountingEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  readonly inner: Embedder;
  inputs: string[] = [];
  calls = 0;
  constructor(inner: Embedder, model = inner.model) {
    this.inner = inner;
    this.model = model;
    this.dimensions = inner.dimensions;
  }
  async embed(texts: string[]): Promise<number[][]> {
    this.calls++;
    this.inputs.push(...texts);
    return this.inner.embed(texts);
  }
  reset(): void {
    this.inputs = [];
    this.calls = 0;
  }
}

class MemoryObjects implements ObjectStore {
  readonly objects = new Map<string, Uint8Array>();
  async put(key: string, body: string | Uint8Array): Promise<void> {
    this.objects.set(key, typeof body === 'string' ? Buffer.from(body) : body);
  }
  async get(key: string): Promise<Uint8Array> {
    const body = this.objects.get(key);
    if (!body) throw new NotFoundError(`no object ${key}`);
    return body;
  }
  async stream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const body = await this.get(key);
    return (async function* () {
      yield body;
    })();
  }
  async head(key: string): Promise<{ size: number } | undefined> {
    const body = this.objects.get(key);
    return body && { size: body.byteLength };
  }
  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
  async ping(): Promise<void> {}
}

const PLAN = `---
title: Mail platform
owner: team-a
---
# Mail platform roadmap
Progression: 30%

## Phase 1: Delivery
Progression: 50%
- [x] **1.1** Configure the SMTP relay for outgoing email P1 (2h) #mail
  - [x] **1.1.1** Write the retry policy for bounced messages
  - [ ] **1.1.2** Rotate the DKIM signing keys
- [ ] **1.2** Add a dashboard for delivery metrics P2

## Phase 2: Migration
- [ ] **2.1** Migrate the legacy task vectors to Qdrant P0 #vectors
- [ ] **2.2** Verify the migrated points against the export
- [~] **2.3** Archive the old PowerShell exporter
`;

/** One task's text changed, one box ticked, one leaf removed, one task added. */
const EDITED = PLAN.replace('delivery metrics P2', 'delivery metrics and bounce alerts P2')
  .replace('- [ ] **2.2**', '- [x] **2.2**')
  .replace('  - [ ] **1.1.2** Rotate the DKIM signing keys\n', '')
  .concat('- [ ] **2.4** Document the migration runbook\n');

let dataDir: string;
let server: QdrantServer;
let state: FileStateStore;
let embedder: CountingEmbedder;
let objects: MemoryObjects;
let recorder: ReturnType<typeof recordExchanges>;

function service(collection = TASKS_COLLECTION, withEmbedder: Embedder = embedder): PlanService {
  return new PlanService({
    qdrant: () => getQdrantClient({ url: server.url }),
    embedder: () => withEmbedder,
    state: () => state,
    objects: () => objects,
    collection,
  });
}

/** Stored points of a plan, by their task's explicit id. */
async function storedPoints(planId: string, collection = TASKS_COLLECTION) {
  const { points } = await getQdrantClient({ url: server.url }).scroll(collection, {
    filter: { must: [{ key: 'planId', match: { value: planId } }] },
    limit: 1000,
    with_payload: true,
    with_vector: true,
  });
  return new Map(points.map((p) => [String(p.payload?.explicitId), p]));
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-plans-'));
  server = await startQdrantServer({ dataDir: join(dataDir, 'qdrant'), port: 0 });
  recorder = recordExchanges(() => server.url);
  state = new FileStateStore({ dir: join(dataDir, 'state') });
  objects = new MemoryObjects();
  embedder = new CountingEmbedder(
    createEmbedder({
      provider: 'local',
      model: LOCAL_EMBEDDING_MODEL,
      dimensions: LOCAL_EMBEDDING_DIMENSIONS,
    }),
  );
});

afterAll(async () => {
  recorder?.restore();
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('indexing a plan', () => {
  it('stores one point per task, keyed by its stable id, with the task fields as payload', async () => {
    embedder.reset();
    const report = await service().indexPlan({ planId: 'plans/mail.md', markdown: PLAN });

    expect(report).toMatchObject({
      id: 'plans~mail.md',
      planId: 'plans/mail.md',
      title: 'Mail platform',
      created: true,
      collection: TASKS_COLLECTION,
      tasks: { total: 7, added: 7, changed: 0, removed: 0, unchanged: 0 },
      embedded: 7,
      counts: { tasks: 7, headings: 3 },
      source: { kind: 'body', bytes: Buffer.byteLength(PLAN) },
    });
    expect(embedder.inputs).toHaveLength(7);
    const points = await storedPoints('plans/mail.md');
    expect(points.size).toBe(7);
    const relay = points.get('1.1')!;
    expect(relay.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(relay.payload).toMatchObject({
      planId: 'plans/mail.md',
      text: 'Configure the SMTP relay for outgoing email P1 (2h) #mail',
      status: 'done',
      headingPath: ['Mail platform roadmap', 'Phase 1: Delivery'],
      depth: 0,
      priority: 'P1',
      estimate: { raw: '2h', minutes: 120 },
      tags: ['mail'],
      contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(points.get('1.1.1')!.payload).toMatchObject({ depth: 1, parentId: relay.id });
    // Where a task sits is kept in the plan's outline, so that moving it rewrites no point.
    for (const field of ['index', 'line', 'headingIndex', 'parentIndex', 'indent']) {
      expect(relay.payload).not.toHaveProperty(field);
    }
  });

  it('embeds a task as its text with its heading path for context', () => {
    expect(embeddingText({ text: 'Rotate the keys', headingPath: ['Roadmap', 'Phase 1: Delivery'] })).toBe(
      'Rotate the keys — Roadmap › Phase 1: Delivery',
    );
    expect(embeddingText({ text: '', headingPath: ['Roadmap'] })).toBe('Roadmap');
    expect(embeddingText({ text: '  ', headingPath: [] })).toBe('untitled task');
    const long = embeddingText({ text: `${'x'.repeat(5999)}😀 tail`, headingPath: [] });
    expect(long.length).toBeLessThanOrEqual(6000);
    expect(long.endsWith('x')).toBe(true);
  });

  it('creates the collection for the configured embedder, its model recorded, filter fields indexed', async () => {
    const info = await getQdrantClient({ url: server.url }).getCollection(TASKS_COLLECTION);
    expect(info.config.metadata).toMatchObject({
      embedding: { model: LOCAL_EMBEDDING_MODEL, dimensions: LOCAL_EMBEDDING_DIMENSIONS },
    });
    expect(Object.keys(info.payload_schema ?? {}).sort()).toEqual(
      ['depth', 'headingPath', 'planId', 'priority', 'status'].sort(),
    );
  });

  it('re-indexes an unchanged plan without embedding or writing anything but its record', async () => {
    const outlineBefore = await state.list(OUTLINE_PK, { prefix: 'plans/mail.md#' });
    embedder.reset();
    const report = await service().indexPlan({ planId: 'plans/mail.md', markdown: PLAN });
    expect(report).toMatchObject({
      created: false,
      tasks: { total: 7, added: 0, changed: 0, removed: 0, unchanged: 7 },
      embedded: 0,
    });
    expect(embedder.calls).toBe(0);
    // The same outline is kept, not written again.
    expect(await state.list(OUTLINE_PK, { prefix: 'plans/mail.md#' })).toEqual(outlineBefore);
  });

  it('re-embeds only what changed: a new text and a new task; a ticked box keeps its vector', async () => {
    const before = await storedPoints('plans/mail.md');
    embedder.reset();
    const report = await service().indexPlan({ planId: 'plans/mail.md', markdown: EDITED });

    expect(report.tasks).toEqual({ total: 7, added: 1, changed: 2, removed: 1, unchanged: 4 });
    expect(report.embedded).toBe(2);
    expect(embedder.inputs).toEqual([
      'Add a dashboard for delivery metrics and bounce alerts P2 — Mail platform roadmap › Phase 1: Delivery',
      'Document the migration runbook — Mail platform roadmap › Phase 2: Migration',
    ]);
    const after = await storedPoints('plans/mail.md');
    expect([...after.keys()].sort()).toEqual(['1.1', '1.1.1', '1.2', '2.1', '2.2', '2.3', '2.4']);
    // Same ids for the same explicit ids; the dashboard task has a new vector, the ticked one not.
    expect(after.get('1.2')!.id).toBe(before.get('1.2')!.id);
    expect(after.get('1.2')!.vector).not.toEqual(before.get('1.2')!.vector);
    expect(after.get('2.2')!.payload).toMatchObject({ status: 'done' });
    expect(after.get('2.2')!.vector).toEqual(before.get('2.2')!.vector);
    // Moved up one line (the removed task's), otherwise unchanged: not written.
    expect(after.get('2.1')).toEqual(before.get('2.1'));
    expect(report.progress).toMatchObject({ total: 7, done: 3, computed: 43, declared: 30, drift: 13 });
  });

  it('writes no point when lines inserted above push every task down, and answers their new lines', async () => {
    const before = await storedPoints('plans/mail.md');
    embedder.reset();
    const shifted = EDITED.replace('Progression: 30%\n', 'Progression: 30%\n\nA paragraph.\n');
    const report = await service().indexPlan({ planId: 'plans/mail.md', markdown: shifted });
    expect(report.tasks).toEqual({ total: 7, added: 0, changed: 0, removed: 0, unchanged: 7 });
    expect(embedder.calls).toBe(0);
    expect(await storedPoints('plans/mail.md')).toEqual(before);
    const view = await service().getPlan('plans/mail.md', { offset: 0, limit: 100 });
    expect(view.tasks.map((t) => [t.explicitId, t.index, t.line])).toEqual([
      ['1.1', 0, 12],
      ['1.1.1', 1, 13],
      ['1.2', 2, 14],
      ['2.1', 3, 17],
      ['2.2', 4, 18],
      ['2.3', 5, 19],
      ['2.4', 6, 20],
    ]);
    expect(view.tasks[1]).toMatchObject({ parentIndex: 0, headingIndex: 1, indent: 2, depth: 1 });
  });

  it('accepts a plan without tasks, removing the tasks of its previous version', async () => {
    await service().indexPlan({ planId: 'plans/empty-later.md', markdown: PLAN });
    const report = await service().indexPlan({
      planId: 'plans/empty-later.md',
      markdown: '# Nothing to do\n',
    });
    expect(report).toMatchObject({
      tasks: { total: 0, added: 0, removed: 7 },
      counts: { tasks: 0, headings: 1 },
      progress: { total: 0, computed: null },
    });
    expect((await storedPoints('plans/empty-later.md')).size).toBe(0);
    expect((await service().getPlan('plans/empty-later.md', { offset: 0, limit: 10 })).tasks).toEqual([]);
  });
});

describe('bad input changes nothing', () => {
  it('refuses an oversized, empty or misnamed plan before any write', async () => {
    const before = await service().getPlan('plans/mail.md', { offset: 0, limit: 100 });
    const points = await storedPoints('plans/mail.md');
    const attempts = [
      { planId: 'plans/mail.md', markdown: `- [ ] ${'x'.repeat(MAX_PLAN_BYTES)}` },
      { planId: 'plans/mail.md', markdown: '' },
      { planId: 'plans/mail.md', markdown: new Uint8Array(0) },
      { planId: '../plans/mail.md', markdown: PLAN },
    ];
    const errors = await Promise.all(
      attempts.map((a) =>
        service()
          .indexPlan(a)
          .catch((e: unknown) => e),
      ),
    );
    expect(errors[0]).toBeInstanceOf(PayloadTooLargeError);
    expect(errors[0]).toMatchObject({ issues: [{ field: 'markdown' }] });
    expect(errors[1]).toBeInstanceOf(ValidationError);
    expect(errors[2]).toBeInstanceOf(ValidationError);
    expect(errors[3]).toMatchObject({ issues: [{ field: 'planId', reason: expect.stringContaining('..') }] });
    expect(await service().getPlan('plans/mail.md', { offset: 0, limit: 100 })).toEqual(before);
    expect(await storedPoints('plans/mail.md')).toEqual(points);
  });

  it('refuses a tasks collection made for another embedding model, before any write', async () => {
    const other = new CountingEmbedder(embedder.inner, 'another-model');
    await new VectorService({
      qdrant: getQdrantClient({ url: server.url }),
      embedder: () => other,
      defaultCollection: 'other_tasks',
    }).createCollection({ name: 'other_tasks', distance: 'Cosine' });
    embedder.reset();
    const error = await service('other_tasks')
      .indexPlan({ planId: 'plans/other.md', markdown: PLAN })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain('"another-model"');
    expect(embedder.calls).toBe(0);
    expect(await state.get(PLAN_PK, 'plans/other.md')).toBeUndefined();
    expect((await getQdrantClient({ url: server.url }).count('other_tasks')).count).toBe(0);
  });
});

describe('plans in the exports bucket', () => {
  it('indexes a plan given by its S3 key', async () => {
    await objects.put('plans/s3-plan.md', PLAN);
    const report = await service().indexPlan({ planId: 'from-s3.md', s3Key: 'plans/s3-plan.md' });
    expect(report).toMatchObject({
      source: { kind: 's3', key: 'plans/s3-plan.md', bytes: Buffer.byteLength(PLAN) },
      tasks: { added: 7 },
    });
  });

  it('answers 404 for a missing object and 413 for an oversized one, naming s3Key', async () => {
    await objects.put('plans/huge.md', new Uint8Array(MAX_PLAN_BYTES + 1));
    const missing = await service()
      .indexPlan({ planId: 'x.md', s3Key: 'plans/none.md' })
      .catch((e: unknown) => e);
    const huge = await service()
      .indexPlan({ planId: 'x.md', s3Key: 'plans/huge.md' })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ issues: [{ field: 's3Key' }] });
    expect(huge).toBeInstanceOf(PayloadTooLargeError);
    expect(huge).toMatchObject({ issues: [{ field: 's3Key' }] });
  });
});

describe('reading plans', () => {
  it('pages the tasks of a plan in document order, with its headings and front matter', async () => {
    await service().indexPlan({ planId: 'plans/read.md', markdown: PLAN });
    const first = await service().getPlan('plans/read.md', { offset: 0, limit: 3 });
    expect(first).toMatchObject({
      id: 'plans~read.md',
      title: 'Mail platform',
      frontMatter: { title: 'Mail platform', owner: 'team-a' },
      lineEnding: 'lf',
      page: { offset: 0, limit: 3, total: 7, nextOffset: 3 },
    });
    expect(first.headings.map((h) => h.path)).toEqual([
      ['Mail platform roadmap'],
      ['Mail platform roadmap', 'Phase 1: Delivery'],
      ['Mail platform roadmap', 'Phase 2: Migration'],
    ]);
    expect(first.tasks.map((t) => t.explicitId)).toEqual(['1.1', '1.1.1', '1.1.2']);
    const last = await service().getPlan('plans/read.md', { offset: 6, limit: 3 });
    expect(last.tasks.map((t: TaskView) => t.explicitId)).toEqual(['2.3']);
    expect(last.page.nextOffset).toBeNull();
    expect(last.tasks[0]).not.toHaveProperty('embedHash');
  });

  it('reports declared against computed progress per heading and in total', async () => {
    const progress = await service().progress('plans/read.md');
    expect(progress.totals).toMatchObject({ total: 7, done: 2, computed: 29, declared: 30, drift: -1 });
    expect(progress.headings.map((h) => [h.title, h.progress.computed, h.progress.declared])).toEqual([
      ['Mail platform roadmap', 29, 30],
      ['Phase 1: Delivery', 50, 50],
      ['Phase 2: Migration', 0, null],
    ]);
    expect(progress.declared).toEqual({ headings: 2, agreeing: 1, ahead: 0, behind: 1, withoutTasks: 0 });
  });

  it('lists the indexed plans by plan id', async () => {
    const { plans } = await service().listPlans();
    expect(plans.map((p) => p.planId)).toEqual([
      'from-s3.md',
      'plans/empty-later.md',
      'plans/mail.md',
      'plans/read.md',
    ]);
    expect(plans.find((p) => p.planId === 'plans/read.md')).toMatchObject({
      id: 'plans~read.md',
      counts: { tasks: 7, headings: 3 },
    });
  });

  it('answers 404 for a plan never indexed', async () => {
    await expect(service().getPlan('plans/nope.md', { offset: 0, limit: 1 })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(service().progress('plans/nope.md')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('stores a large outline in chunks under the item size limit and reads it back whole', async () => {
    const sections = Array.from(
      { length: 3000 },
      (_, i) => `## Section ${i} about the delivery pipeline and its many moving parts\n- [ ] task ${i}\n`,
    );
    await service().indexPlan({ planId: 'plans/big.md', markdown: `# Big\n${sections.join('')}` });
    const chunks = await state.list(OUTLINE_PK, { prefix: 'plans/big.md#' });
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expect(Buffer.byteLength(JSON.stringify(chunk))).toBeLessThan(350_000);
    const view = await service().getPlan('plans/big.md', { offset: 2990, limit: 100 });
    expect(view.headings).toHaveLength(3001);
    expect(view.headings[3000]!.path).toEqual([
      'Big',
      'Section 2999 about the delivery pipeline and its many moving parts',
    ]);
    expect(view.tasks.map((t) => t.text)).toEqual(Array.from({ length: 10 }, (_, i) => `task ${2990 + i}`));
    await service().deletePlan('plans/big.md');
  });
});

describe('searching tasks', () => {
  const search = (body: Record<string, unknown>) =>
    service().searchTasks(parseWith(SearchTasksBodySchema, body, ''));

  it('finds tasks by the words of their text and heading, with the task, its path and its plan', async () => {
    const { results } = await search({
      text: 'migrate legacy vectors into qdrant',
      plan: 'plans/read.md',
      limit: 3,
    });
    expect(results[0]).toMatchObject({
      task: { explicitId: '2.1', planId: 'plans/read.md' },
      path: ['Mail platform roadmap', 'Phase 2: Migration'],
      plan: { id: 'plans~read.md', planId: 'plans/read.md', title: 'Mail platform' },
    });
    expect(results[0]!.score).toBeGreaterThan(results[1]!.score!);
  });

  it('filters by plan (plan id or URL id), status, heading, depth and priority', async () => {
    const ids = async (body: Record<string, unknown>) =>
      (await search({ text: 'delivery migration email export', limit: 50, ...body })).results.map(
        (r) => `${r.task.planId}:${r.task.explicitId}`,
      );
    expect((await ids({ plan: 'plans~read.md' })).sort()).toEqual(
      ['1.1', '1.1.1', '1.1.2', '1.2', '2.1', '2.2', '2.3'].map((id) => `plans/read.md:${id}`),
    );
    expect((await ids({ plan: 'plans/read.md', status: 'done' })).sort()).toEqual([
      'plans/read.md:1.1',
      'plans/read.md:1.1.1',
    ]);
    expect((await ids({ plan: 'plans/read.md', status: ['in_progress', 'done'], depth: 0 })).sort()).toEqual([
      'plans/read.md:1.1',
      'plans/read.md:2.3',
    ]);
    expect(
      await ids({ plan: 'plans/read.md', heading: 'Phase 2: Migration', priority: ['P0', 'P2'] }),
    ).toEqual(['plans/read.md:2.1']);
    expect((await ids({ plan: ['plans/read.md', 'from-s3.md'], depth: { gte: 1 } })).sort()).toEqual([
      'from-s3.md:1.1.1',
      'from-s3.md:1.1.2',
      'plans/read.md:1.1.1',
      'plans/read.md:1.1.2',
    ]);
  });

  it('drops results under the score threshold', async () => {
    const all = await search({ text: 'retry policy for bounced messages', plan: 'plans/read.md', limit: 7 });
    const threshold = (all.results[0]!.score! + all.results[1]!.score!) / 2;
    const strict = await search({
      text: 'retry policy for bounced messages',
      plan: 'plans/read.md',
      scoreThreshold: threshold,
    });
    expect(strict.results.map((r) => r.task.explicitId)).toEqual(['1.1.1']);
  });

  it('answers no result before any plan was indexed', async () => {
    const body = parseWith(SearchTasksBodySchema, { text: 'anything' }, '');
    expect(await service('never_created').searchTasks(body)).toEqual({ results: [] });
  });
});

describe('deleting a plan', () => {
  it('removes its points, outline and record, and is 404 afterwards', async () => {
    const deleted = await service().deletePlan('plans/read.md');
    expect(deleted).toEqual({ id: 'plans~read.md', planId: 'plans/read.md', deleted: { tasks: 7 } });
    expect((await storedPoints('plans/read.md')).size).toBe(0);
    expect(await state.get(PLAN_PK, 'plans/read.md')).toBeUndefined();
    expect(await state.list(OUTLINE_PK, { prefix: 'plans/read.md#' })).toEqual([]);
    await expect(service().deletePlan('plans/read.md')).rejects.toBeInstanceOf(NotFoundError);
    // Other plans are untouched.
    expect((await storedPoints('plans/mail.md')).size).toBe(7);
  });
});

describe.skipIf(!existsSync(SPEC_PATH))(
  `the plan service speaks Qdrant's published API (skipped when ${SPEC_PATH} is absent)`,
  () => {
    it('sent only requests, and got only answers, that Qdrant 1.19 documents', () => {
      const contract = new Contract();
      const paths = new Set(
        recorder.exchanges.map(
          (e) => `${e.method} ${e.path.replace(/\/collections\/[^/]+/, '/collections/{name}')}`,
        ),
      );
      expect([...paths]).toEqual(
        expect.arrayContaining([
          'POST /collections/{name}/points/scroll',
          'PUT /collections/{name}/index',
          'POST /collections/{name}/points',
          'POST /collections/{name}/points/query',
        ]),
      );
      expect(recorder.exchanges.flatMap((exchange) => contract.check(exchange))).toEqual([]);
    });
  },
);
