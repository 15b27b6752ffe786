import { currentActor } from '../../actor.ts';
import { securityService } from '../../security/clients.ts';
import { AUDIT_KINDS, type RotateInput } from '../../security/model.ts';
import { type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';
import { managerPaused } from '../gate.ts';

/** The audit entries the figures count (the last day's, at most). */
const SCANNED = 500;

/** Security: audit entries of the last day by kind; rotate-webhook-secrets, webhook-secret. */
export const security: ManagerImplementation<'security'> = {
  async checks(ctx) {
    return [await stateStoreCheck(ctx.app)];
  },

  async gauges(ctx) {
    const since = new Date(Date.now() - 86_400_000).toISOString();
    const { entries } = await securityService(ctx.app).audit({ since, limit: SCANNED });
    return AUDIT_KINDS.map((kind) => ({
      name: 'security_audit_entries',
      help: `Audit entries of the last 24 hours by kind (of the latest ${SCANNED})`,
      value: entries.filter((e) => e.kind === kind).length,
      labels: { kind },
    }));
  },

  actions: {
    async 'rotate-webhook-secrets'(input: RotateInput, ctx) {
      // An action comes through the coordinator with its caller; the schedule calls with none, and
      // skips its run while the manager is stopped (as the event wrapper does for other schedules).
      const scheduled = currentActor() === undefined;
      if (scheduled && (await managerPaused())) return { skipped: 'manager-stopped' };
      return securityService(ctx.app).rotate(input, scheduled ? 'schedule' : 'action');
    },
    async 'webhook-secret'(input: { subscriptionId: string }, ctx) {
      return securityService(ctx.app).webhookSecret(input.subscriptionId);
    },
  },
};
