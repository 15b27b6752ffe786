import { createStateStore } from '../../adapters/index.ts';
import { ConfigStore } from '../config-store.ts';
import { type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';
import { MANAGER_IDS } from '../specs.ts';

/** The managers' configurations: stored versions. */
export const config: ManagerImplementation<'config'> = {
  async checks(ctx) {
    return [await stateStoreCheck(ctx.app)];
  },

  async gauges(ctx) {
    const store = new ConfigStore(() => createStateStore(ctx.app));
    const versions = await Promise.all(
      MANAGER_IDS.map(async (id) => ({ id, version: (await store.current(id)).version })),
    );
    return versions.map(({ id, version }) => ({
      name: 'config_version',
      help: 'The version of the configuration of the manager `of` (0: its defaults)',
      value: version,
      labels: { of: id },
    }));
  },

  actions: {},
};
