import { errorCatalogueReader } from '../../error-catalogue/clients.ts';
import { type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';
import { qdrantCheck } from '../qdrant-check.ts';

/** The error catalogue: open and resolved errors, occurrences; `resolve`. */
export const errors: ManagerImplementation<'errors'> = {
  async checks(ctx) {
    return Promise.all([stateStoreCheck(ctx.app), qdrantCheck(ctx.app)]);
  },

  async gauges(ctx) {
    const counts = await errorCatalogueReader(ctx.app).counts();
    return [
      { name: 'errors_open', help: 'Catalogued errors (fingerprints) not resolved', value: counts.open },
      { name: 'errors_resolved', help: 'Catalogued errors marked resolved', value: counts.resolved },
      {
        name: 'errors_occurrences',
        help: 'Failures counted into the catalogue, every fingerprint',
        value: counts.occurrences,
      },
    ];
  },

  actions: {
    async resolve(input: { fingerprint: string }, ctx, by) {
      return errorCatalogueReader(ctx.app).resolve(input.fingerprint, by);
    },
  },
};
