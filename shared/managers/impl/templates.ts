import { templateService } from '../../templates/clients.ts';
import { TEMPLATE_KINDS } from '../../templates/model.ts';
import { TEMPLATES_COLLECTION } from '../../templates/service.ts';
import { getQdrantClient } from '../../vectors/clients.ts';
import { check, type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';

/** Plan and task templates: counts by kind; `reindex` embeds them all again for `suggest`. */
export const templates: ManagerImplementation<'templates'> = {
  async checks(ctx) {
    return Promise.all([
      stateStoreCheck(ctx.app),
      check('qdrant', async () => {
        await getQdrantClient(ctx.app.qdrant).getCollections();
      }),
    ]);
  },

  async gauges(ctx) {
    const counts = await templateService(ctx.app).count();
    return TEMPLATE_KINDS.map((kind) => ({
      name: 'templates_templates',
      help: 'Stored templates by kind',
      value: counts[kind] ?? 0,
      labels: { kind },
    }));
  },

  async collections() {
    return [TEMPLATES_COLLECTION];
  },

  actions: {
    async reindex(_input: Record<string, never>, ctx) {
      return templateService(ctx.app).reindex();
    },
  },
};
