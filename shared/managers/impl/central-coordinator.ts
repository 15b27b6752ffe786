import { coordinatorOf } from '../clients.ts';
import { LifecycleStateSchema } from '../contract.ts';
import { type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';
import type { ManagerDeclaration } from '../declaration.ts';

/** The coordinator as a manager: its store, the managers by state and health, the sweep on demand. */
export function centralCoordinator(
  declarations: readonly ManagerDeclaration[],
): ManagerImplementation<'central-coordinator'> {
  return {
    async checks(ctx) {
      return [await stateStoreCheck(ctx.app)];
    },

    async gauges(ctx) {
      const coordinator = await coordinatorOf(ctx.app, declarations);
      const managers = await coordinator.list();
      const recorded = await Promise.all(managers.map((m) => coordinator.recordedHealth(m.id)));
      return [
        ...LifecycleStateSchema.options.map((state) => ({
          name: 'coordinator_managers',
          help: 'Managers by lifecycle state',
          value: managers.filter((m) => m.status.state === state).length,
          labels: { state },
        })),
        ...(['healthy', 'degraded', 'unhealthy'] as const).map((status) => ({
          name: 'coordinator_managers_health',
          help: 'Managers by the health the last sweep recorded',
          value: recorded.filter((h) => h?.status === status).length,
          labels: { status },
        })),
      ];
    },

    actions: {
      async sweep(_input: Record<string, never>, ctx) {
        return (await coordinatorOf(ctx.app, declarations)).sweep();
      },
    },
  };
}
