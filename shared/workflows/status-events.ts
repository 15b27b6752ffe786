import { z } from 'zod';
import type { EventDetail } from '../events/catalogue.ts';
import type { EventPublisher } from '../events/publisher.ts';
import type { StateStore } from '../ports.ts';
import type { WorkflowRecord } from './model.ts';
import { executionIdOf } from './naming.ts';
import { WORKFLOWS_PK } from './service.ts';

/**
 * Step Functions' "Step Functions Execution Status Change" events (AWS's on the default bus; the
 * local engine puts the same ones there) become the platform's WorkflowExecution events.
 */

const epochMs = z.number().int().nonnegative();

export const StatusChangeEventSchema = z.looseObject({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.looseObject({
    executionArn: z.string().min(1),
    stateMachineArn: z.string().min(1),
    name: z.string().min(1),
    status: z.string().min(1),
    startDate: epochMs,
    stopDate: epochMs.nullable().optional(),
    error: z.string().nullable().optional(),
    cause: z.string().nullable().optional(),
  }),
});
export type StatusChangeEvent = z.infer<typeof StatusChangeEventSchema>;

const MAX_ERROR = 256;
const MAX_CAUSE = 2_000;

/** Publishes the event's WorkflowExecution event; answers its type, or why none was published. */
export async function publishStatusChange(
  event: StatusChangeEvent,
  deps: { state: StateStore; publisher: EventPublisher },
): Promise<{ published: string } | { ignored: string }> {
  const d = event.detail;
  // `<service>-<stage>-wf-<10 hex>`: only this stage's workflows, whose records name their state
  // machines (other stages' go through the same rule).
  const workflowId = /-(wf-[0-9a-f]{10})$/.exec(d.stateMachineArn)?.[1];
  const record = workflowId
    ? (await deps.state.get<WorkflowRecord>(WORKFLOWS_PK, workflowId))?.value
    : undefined;
  if (!workflowId || !record || record.stateMachineArn !== d.stateMachineArn)
    return { ignored: 'not a workflow of this stage' };
  const base = {
    workflowId,
    workflowName: record.name,
    executionId: executionIdOf(workflowId, d.name),
    executionArn: d.executionArn,
    startedAt: new Date(d.startDate).toISOString(),
  };
  if (d.status === 'RUNNING') {
    await deps.publisher.publish('WorkflowExecutionStarted', base);
    return { published: 'WorkflowExecutionStarted' };
  }
  const stoppedAt = d.stopDate ?? Date.now();
  const end = {
    ...base,
    stoppedAt: new Date(stoppedAt).toISOString(),
    durationMs: Math.max(0, stoppedAt - d.startDate),
  };
  const failure = {
    ...(d.error ? { error: d.error.slice(0, MAX_ERROR) } : {}),
    ...(d.cause ? { cause: d.cause.slice(0, MAX_CAUSE) } : {}),
  };
  switch (d.status) {
    case 'SUCCEEDED':
      await deps.publisher.publish('WorkflowExecutionSucceeded', end);
      return { published: 'WorkflowExecutionSucceeded' };
    case 'FAILED':
    case 'TIMED_OUT': {
      const detail: EventDetail<'WorkflowExecutionFailed'> = { ...end, status: d.status, ...failure };
      await deps.publisher.publish('WorkflowExecutionFailed', detail);
      return { published: 'WorkflowExecutionFailed' };
    }
    case 'ABORTED':
      await deps.publisher.publish('WorkflowExecutionAborted', { ...end, ...failure });
      return { published: 'WorkflowExecutionAborted' };
    default:
      // PENDING_REDRIVE and statuses Step Functions may add: nothing the platform reports.
      return { ignored: `status ${d.status}` };
  }
}
