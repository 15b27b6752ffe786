import { createEventBus } from '#shared/adapters/index.ts';
import { EventPublisher } from '#shared/events/publisher.ts';
import { HttpResult, httpHandler } from '#shared/http.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import { planService } from '#shared/plans/clients.ts';
import { publishIndexed } from '#shared/plans/events.ts';
import { planPath } from '#shared/plans/plan-id.ts';
import { readIndexRequest } from '#shared/plans/request.ts';

/**
 * POST /api/v1/plans: raw markdown with `?planId=`, or JSON `{planId, markdown | s3Key}`.
 * 201 when the plan is new, 200 when it was re-indexed; both with the added/changed/removed counts.
 * Publishes PlanIndexed, and TasksChanged when a task was added, changed or removed.
 */
export const handler = httpHandler({}, async ({ event, config }) => {
  const report = await planService(config).indexPlan(readIndexRequest(event, config.maxBodyBytes));
  await publishIndexed(new EventPublisher(createEventBus(config), EVENT_SOURCE), report);
  return new HttpResult(report.created ? 201 : 200, report, { location: planPath(report.planId) });
});
