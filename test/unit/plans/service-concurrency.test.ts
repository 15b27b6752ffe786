import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { createEmbedder, type Embedder } from '#shared/embeddings/index.ts';
import { ConflictError } from '#shared/errors.ts';
import { LEASE_PK } from '#shared/plans/lease.ts';
import { OUTLINE_PK, PlanService } from '#shared/plans/service.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';

/**
 * Writers of one plan against each other: concurrent indexes, an index interrupted midway, a
 * lease left by a writer that died. Each service has its own state store instance on one folder,
 * as separate function instances would.
 */

let dataDir: string;
let server: QdrantServer;

const local = createEmbedder({
  provider: 'local',
  model: LOCAL_EMBEDDING_MODEL,
  dimensions: LOCAL_EMBEDDING_DIMENSIONS,
});

function service(embedder: Embedder = local): PlanService {
  return new PlanService({
    qdrant: () => getQdrantClient({ url: server.url }),
    embedder: () => embedder,
    state: () => new FileStateStore({ dir: join(dataDir, 'state') }),
    objects: () => {
      throw new Error('no object store in these tests');
    },
  });
}

const state = () => new FileStateStore({ dir: join(dataDir, 'state') });

/** A plan of `n` tasks with explicit ids `<major>.1` … `<major>.n`. */
function plan(major: number, n: number): string {
  const tasks = Array.from(
    { length: n },
    (_, i) => `- [ ] **${major}.${i + 1}** step ${i + 1} of part ${major}`,
  );
  return `# Plan\n## Part ${major}\n${tasks.join('\n')}\n`;
}

/** The explicit ids of a plan's stored points, sorted. */
async function storedIds(planId: string): Promise<string[]> {
  const ids: string[] = [];
  let offset: string | number | undefined;
  do {
    const page = await getQdrantClient({ url: server.url }).scroll('roadmap_tasks', {
      filter: { must: [{ key: 'planId', match: { value: planId } }] },
      limit: 1000,
      with_payload: ['explicitId'],
      ...(offset === undefined ? {} : { offset }),
    });
    ids.push(...page.points.map((p) => String(p.payload?.explicitId)));
    offset = (page.next_page_offset ?? undefined) as string | number | undefined;
  } while (offset !== undefined);
  return ids.sort();
}

const idsOf = (major: number, n: number) => Array.from({ length: n }, (_, i) => `${major}.${i + 1}`).sort();

/** The plan reads back whole, with every task of exactly one of the given versions. */
async function expectReadableAs(planId: string, versions: string[][]): Promise<string[]> {
  const view = await service().getPlan(planId, { offset: 0, limit: 5000 });
  const stored = await storedIds(planId);
  expect(versions).toContainEqual(stored);
  expect(view.tasks.map((t) => t.explicitId).sort()).toEqual(stored);
  expect((await service().progress(planId)).totals.total).toBe(stored.length);
  return stored;
}

function expectBusy(err: unknown, planId: string, field: string): void {
  expect(err).toBeInstanceOf(ConflictError);
  expect((err as ConflictError).message).toContain(`"${planId}"`);
  expect((err as ConflictError).issues).toEqual([
    { field, reason: expect.stringContaining('another request') },
  ]);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-plans-concurrency-'));
  server = await startQdrantServer({ dataDir: join(dataDir, 'qdrant'), port: 0 });
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('concurrent writers of one plan', () => {
  it('indexes two versions posted at once one after the other or refuses one (409): never a mix', async () => {
    const planId = 'race/two-versions.md';
    const outcomes = await Promise.allSettled([
      service().indexPlan({ planId, markdown: plan(1, 60) }),
      service().indexPlan({ planId, markdown: plan(2, 60) }),
    ]);
    expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
    for (const o of outcomes) if (o.status === 'rejected') expectBusy(o.reason, planId, 'planId');
    await expectReadableAs(planId, [idsOf(1, 60), idsOf(2, 60)]);
  });

  it('leaves a plan readable after identical posts at once, and a later post still works', async () => {
    const planId = 'race/identical.md';
    const outcomes = await Promise.allSettled(
      Array.from({ length: 4 }, () => service().indexPlan({ planId, markdown: plan(3, 20) })),
    );
    for (const o of outcomes) if (o.status === 'rejected') expectBusy(o.reason, planId, 'planId');
    await expectReadableAs(planId, [idsOf(3, 20)]);
    await service().indexPlan({ planId, markdown: plan(4, 5) });
    await expectReadableAs(planId, [idsOf(4, 5)]);
  });

  it('refuses to index or delete a plan while another request holds its lease, changing nothing', async () => {
    const planId = 'race/leased.md';
    await service().indexPlan({ planId, markdown: plan(5, 3) });
    const lease = await state().get(LEASE_PK, planId);
    await state().put(
      LEASE_PK,
      planId,
      { expiresAt: Date.now() + 60_000 },
      { expectedVersion: lease!.version },
    );
    expectBusy(
      await service()
        .indexPlan({ planId, markdown: plan(6, 3) })
        .catch((e: unknown) => e),
      planId,
      'planId',
    );
    expectBusy(
      await service()
        .deletePlan(planId)
        .catch((e: unknown) => e),
      planId,
      'id',
    );
    await expectReadableAs(planId, [idsOf(5, 3)]);
  });
});

describe('an interrupted index', () => {
  it('is taken over once the lease of a writer that died expires, and converges to one version', async () => {
    const planId = 'crash/expired-lease.md';
    await service().indexPlan({ planId, markdown: plan(7, 10) });
    // What a writer killed midway leaves: its lease (expired by now) and an outline revision that
    // no record points at.
    const lease = await state().get(LEASE_PK, planId);
    await state().put(LEASE_PK, planId, { expiresAt: Date.now() - 1 }, { expectedVersion: lease!.version });
    await state().put(OUTLINE_PK, `${planId}#deadbeef#tasks#0000`, { text: '{}' });
    await service().indexPlan({ planId, markdown: plan(8, 10) });
    await expectReadableAs(planId, [idsOf(8, 10)]);
    expect((await state().list(OUTLINE_PK, { prefix: `${planId}#deadbeef#` })).length).toBe(0);
  });

  it('leaves a mix that the next index of the plan replaces by exactly its version', async () => {
    const planId = 'crash/half-written.md';
    await service().indexPlan({ planId, markdown: plan(9, 10) });
    // The second embedding batch fails: the first batch of the new version is written by then.
    let calls = 0;
    const failing: Embedder = {
      model: local.model,
      dimensions: local.dimensions,
      embed: async (texts) => {
        if (++calls === 2) throw new Error('embedder down');
        return local.embed(texts);
      },
    };
    await expect(service(failing).indexPlan({ planId, markdown: plan(10, 300) })).rejects.toThrow(
      'embedder down',
    );
    expect((await storedIds(planId)).length).toBeGreaterThan(10);
    await service().indexPlan({ planId, markdown: plan(10, 300) });
    await expectReadableAs(planId, [idsOf(10, 300)]);
  });

  it('heals with an identical post a plan whose record points at a lost outline', async () => {
    const planId = 'crash/lost-outline.md';
    await service().indexPlan({ planId, markdown: plan(11, 4) });
    for (const chunk of await state().list(OUTLINE_PK, { prefix: `${planId}#` })) {
      await state().delete(OUTLINE_PK, chunk.sk);
    }
    await expect(service().getPlan(planId, { offset: 0, limit: 10 })).rejects.toMatchObject({
      statusCode: 409,
      issues: [{ field: 'id', reason: 'its outline is being replaced' }],
    });
    await service().indexPlan({ planId, markdown: plan(11, 4) });
    await expectReadableAs(planId, [idsOf(11, 4)]);
  });
});
