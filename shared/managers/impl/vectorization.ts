import { getQdrantClient } from '../../vectors/clients.ts';
import { check, type ManagerImplementation } from '../contract-handler.ts';

/** Collections and points in Qdrant. Healthy: Qdrant answers, and answers a query in time. */
export const vectorization: ManagerImplementation<'vectorization'> = {
  async checks(ctx) {
    const qdrant = getQdrantClient(ctx.app.qdrant);
    let names: string[] = [];
    const reachable = await check('qdrant', async () => {
      names = (await qdrant.getCollections()).collections.map((c) => c.name);
      return { detail: `${names.length} collections` };
    });
    if (reachable.status === 'unhealthy') return [reachable];
    const query = await check('qdrant-query', async () => {
      const first = names[0];
      if (first === undefined) return { detail: 'no collection to query' };
      const started = performance.now();
      await qdrant.query(first, { limit: 1, with_payload: false, with_vector: false });
      const ms = performance.now() - started;
      return ms > ctx.config.degradedAboveMs
        ? {
            status: 'degraded',
            detail: `a query took ${Math.round(ms)} ms (over ${ctx.config.degradedAboveMs} ms)`,
          }
        : { detail: `queried ${first}` };
    });
    return [reachable, query];
  },

  async gauges(ctx) {
    const qdrant = getQdrantClient(ctx.app.qdrant);
    const { collections } = await qdrant.getCollections();
    const infos = await Promise.all(
      collections.map(async (c) => ({
        name: c.name,
        points: (await qdrant.getCollection(c.name)).points_count ?? 0,
      })),
    );
    return [
      { name: 'vectorization_collections', help: 'Collections in Qdrant', value: infos.length },
      ...infos.map((c) => ({
        name: 'vectorization_points',
        help: 'Points in a collection',
        value: c.points,
        labels: { collection: c.name },
      })),
    ];
  },

  async collections(ctx) {
    return (await getQdrantClient(ctx.app.qdrant).getCollections()).collections.map((c) => c.name).sort();
  },

  actions: {},
};
