import { createEventBus } from '../../adapters/index.ts';
import { NotFoundError } from '../../errors.ts';
import { EventPublisher } from '../../events/publisher.ts';
import { EVENT_SOURCE } from '../../migrations/settings.ts';
import { planService } from '../../plans/clients.ts';
import { publishIndexed } from '../../plans/events.ts';
import type { PlanSummary } from '../../plans/service.ts';
import { type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';
import { qdrantCheck } from '../qdrant-check.ts';

/** Points between a plan's declared progress and the one computed from its tasks (null: none declared). */
function drift(plan: PlanSummary): number | null {
  return plan.progress.drift === null ? null : Math.abs(plan.progress.drift);
}

/** Plans and tasks: indexing, progress, drift between declared and computed progress. */
export const roadmap: ManagerImplementation<'roadmap'> = {
  async checks(ctx) {
    return Promise.all([stateStoreCheck(ctx.app), qdrantCheck(ctx.app)]);
  },

  async gauges(ctx) {
    const { plans } = await planService(ctx.app).listPlans();
    const drifting = plans.filter((p) => (drift(p) ?? 0) > ctx.config.driftThresholdPoints);
    return [
      { name: 'roadmap_plans', help: 'Indexed plans', value: plans.length },
      {
        name: 'roadmap_tasks',
        help: 'Tasks of the indexed plans',
        value: plans.reduce((n, p) => n + p.counts.tasks, 0),
      },
      {
        name: 'roadmap_plans_drifting',
        help: 'Plans whose declared progress differs from the computed one by more than driftThresholdPoints',
        value: drifting.length,
      },
      ...plans.flatMap((p) => {
        const points = drift(p);
        return points === null
          ? []
          : [
              {
                name: 'roadmap_plan_progress_drift_points',
                help: 'Declared minus computed progress, absolute, in points',
                value: points,
                labels: { plan: p.planId },
              },
            ];
      }),
    ];
  },

  actions: {
    /** Plans stored from an object key are read and indexed again (only changed tasks are embedded). */
    async reindex(input: { planId?: string }, ctx) {
      const service = planService(ctx.app);
      const publisher = new EventPublisher(createEventBus(ctx.app), EVENT_SOURCE);
      const { plans } = await service.listPlans();
      const chosen =
        input.planId === undefined
          ? plans
          : plans.filter((p) => p.planId === input.planId || p.id === input.planId);
      if (input.planId !== undefined && chosen.length === 0) {
        throw new NotFoundError(`no plan "${input.planId}"`, [
          { field: 'input.planId', reason: 'no indexed plan has this id' },
        ]);
      }
      const reindexed: Array<{ planId: string; tasks: number; changed: number }> = [];
      const skipped: Array<{ planId: string; reason: string }> = [];
      for (const plan of chosen) {
        if (plan.source.kind !== 's3') {
          skipped.push({
            planId: plan.planId,
            reason: 'indexed from a request body: send it again to reindex it',
          });
          continue;
        }
        const report = await service.indexPlan({ planId: plan.planId, s3Key: plan.source.key });
        await publishIndexed(publisher, report);
        reindexed.push({
          planId: plan.planId,
          tasks: report.tasks.total,
          changed: report.tasks.added + report.tasks.changed + report.tasks.removed,
        });
      }
      return { reindexed, skipped };
    },

    /** A plan given as markdown, indexed as `POST /plans` indexes it (PlanIndexed, TasksChanged). */
    async index(input: { planId: string; markdown: string }, ctx) {
      const report = await planService(ctx.app).indexPlan(input);
      await publishIndexed(new EventPublisher(createEventBus(ctx.app), EVENT_SOURCE), report);
      return report;
    },
  },
};
