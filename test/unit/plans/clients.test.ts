import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { type Config, LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { planService, planServiceWithoutEmbedder } from '#shared/plans/clients.ts';

/**
 * Plan services build each adapter on first use: a function granted no `qdrant` access (no Qdrant
 * URL in its configuration) lists plans and reads their progress from the state store alone.
 */

let dataDir: string;
let server: QdrantServer;

/** A function's configuration: the state store, and Qdrant only when given. */
function config(qdrant?: Config['qdrant']): Config {
  return {
    stage: 'local',
    version: '0.0.0',
    ...(qdrant ? { qdrant } : {}),
    defaultCollection: 'vectors',
    embedder: { provider: 'local', model: LOCAL_EMBEDDING_MODEL, dimensions: LOCAL_EMBEDDING_DIMENSIONS },
    maxBodyBytes: 1024 * 1024,
    state: { dir: join(dataDir, 'state') },
    s3ForcePathStyle: false,
  };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-plans-clients-'));
  server = await startQdrantServer({ dataDir: join(dataDir, 'qdrant'), port: 0 });
  // Indexed inline: the exports bucket (not configured) is never reached for.
  await planService(config({ url: server.url })).indexPlan({
    planId: 'plans/lazy.md',
    markdown: '# Lazy\n- [x] Build adapters on first use\n- [ ] Grant each function what it uses\n',
  });
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('plan services without qdrant access', () => {
  const readOnly = () => planServiceWithoutEmbedder(config());

  it('list plans and read progress from the state store alone', async () => {
    expect((await readOnly().listPlans()).plans.map((p) => p.planId)).toEqual(['plans/lazy.md']);
    expect((await readOnly().progress('plans/lazy.md')).totals).toMatchObject({ total: 2, done: 1 });
  });

  it('name the missing grant when a call needs Qdrant', async () => {
    await expect(readOnly().getPlan('plans/lazy.md', { offset: 0, limit: 10 })).rejects.toThrow(
      'no `qdrant` access',
    );
    await expect(readOnly().deletePlan('plans/lazy.md')).rejects.toThrow('no `qdrant` access');
    await expect(
      planService(config()).searchTasks({ text: 'adapters', limit: 1, offset: 0 }),
    ).rejects.toThrow('no `qdrant` access');
  });

  it('build nothing until called, even with no state store configured', () => {
    const bare = { ...config(), state: {} };
    expect(() => planService(bare)).not.toThrow();
    expect(() => planServiceWithoutEmbedder(bare)).not.toThrow();
  });
});
