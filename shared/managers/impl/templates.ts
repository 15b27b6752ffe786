import { templateService } from '../../templates/clients.ts';
import { TEMPLATE_KINDS } from '../../templates/model.ts';
import { TEMPLATES_COLLECTION } from '../../templates/service.ts';
import { type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';
import { qdrantCheck } from '../qdrant-check.ts';

/** Plan and task templates: counts by kind; `reindex` embeds them all again for `suggest`. */
export const templates: ManagerImplementation<'templates'> = {
  async checks(ctx) {
    return Promise.all([stateStoreCheck(ctx.app), qdrantCheck(ctx.app)]);
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
