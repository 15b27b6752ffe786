import type { EventPublisher } from '../events/publisher.ts';
import type { IndexReport } from './service.ts';

/** PlanIndexed for every indexing, and TasksChanged when some task was added, changed or removed. */
export async function publishIndexed(publisher: EventPublisher, report: IndexReport): Promise<void> {
  const { total, added, changed, removed, unchanged } = report.tasks;
  await publisher.publish('PlanIndexed', {
    planId: report.planId,
    tasks: total,
    added,
    updated: changed,
    removed,
    unchanged,
  });
  if (added + changed + removed > 0) {
    await publisher.publish('TasksChanged', { planId: report.planId, added, updated: changed, removed });
  }
}

/** TasksChanged for a deleted plan: all its tasks removed. */
export async function publishDeleted(
  publisher: EventPublisher,
  planId: string,
  removed: number,
): Promise<void> {
  if (removed > 0) await publisher.publish('TasksChanged', { planId, added: 0, updated: 0, removed });
}
