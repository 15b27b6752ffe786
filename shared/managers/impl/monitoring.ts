import { createStateStore } from '../../adapters/index.ts';
import { ALERT_TYPES, AlertLog } from '../alerts.ts';
import { type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';

/** Monitoring: the alerts it received in its window, by type. */
export const monitoring: ManagerImplementation<'monitoring'> = {
  async checks(ctx) {
    return [await stateStoreCheck(ctx.app)];
  },

  async gauges(ctx) {
    const since = new Date(Date.now() - ctx.config.windowMinutes * 60_000);
    const alerts = await new AlertLog(() => createStateStore(ctx.app)).since(since);
    return ALERT_TYPES.map((type) => ({
      name: 'monitoring_alerts',
      help: 'Alerts received in the window, by event type',
      value: alerts.filter((a) => a.type === type).length,
      labels: { type },
    }));
  },

  actions: {},
};
