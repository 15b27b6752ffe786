import { z } from 'zod';
import { WORKFLOW_ID } from './naming.ts';

/** Step Functions' execution statuses, which both engines report. */
export const EXECUTION_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** Step Functions' limit of an execution's input (and of a state's data), UTF-8 bytes. */
export const MAX_EXECUTION_INPUT_BYTES = 256 * 1024;

const name = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((n) => !/[\p{Cc}]/u.test(n), 'must not contain control characters');

/**
 * A workflow as a client sends it: the definition is checked by `validateDefinition`, which names
 * the state and the field of each problem, so here it is only "some JSON object".
 */
export const WorkflowInputSchema = z.strictObject({
  name,
  description: z.string().max(2_000).optional(),
  definition: z.record(z.string(), z.unknown()),
});
export type WorkflowInput = z.infer<typeof WorkflowInputSchema>;

export const WorkflowPathSchema = z.object({
  id: z.string().regex(WORKFLOW_ID, 'must be a workflow id (wf- and 10 hexadecimal digits)').optional(),
  executionId: z.string().min(1).max(200).optional(),
});

export const ExecuteBodySchema = z.strictObject({
  /** The execution's input (`{}` when absent): any JSON value, as Step Functions takes. */
  input: z.unknown().optional(),
});

export const StopBodySchema = z.strictObject({
  error: z.string().max(256).optional(),
  cause: z.string().max(32_768).optional(),
});

export const ExecutionsQuerySchema = z.strictObject({
  status: z.enum(EXECUTION_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  nextToken: z.string().min(1).max(3_096).optional(),
});
export type ExecutionsQuery = z.infer<typeof ExecutionsQuerySchema>;

/** Across workflows (`GET /executions`): no paging, the newest `limit`. */
export const AllExecutionsQuerySchema = ExecutionsQuerySchema.omit({ nextToken: true });

/** A workflow as the API answers it: what the client wrote, and the engine's name for it. */
export const WorkflowSchema = z.strictObject({
  id: z.string().regex(WORKFLOW_ID),
  name: z.string(),
  description: z.string().optional(),
  /** The definition as the client wrote it (not the engine's translation). */
  definition: z.record(z.string(), z.unknown()),
  /** The managers its tasks call (its execution role may invoke exactly these). */
  managers: z.array(z.string()),
  stateMachineArn: z.string(),
  /** Set for the shipped examples (their key), so that a reinstall finds them. */
  example: z.string().optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  createdBy: z.string(),
  updatedBy: z.string(),
  /** 1 when created, one more at each replace. */
  version: z.int().positive(),
});
export type Workflow = z.infer<typeof WorkflowSchema>;

/** A stored workflow: the answer's fields but its version (the store's), and its execution role. */
export interface WorkflowRecord extends Omit<Workflow, 'version'> {
  roleArn: string;
}

export const ExecutionSummarySchema = z.strictObject({
  /** `<workflowId>.<execution name>` (a UUID). */
  executionId: z.string(),
  workflowId: z.string().regex(WORKFLOW_ID),
  status: z.enum(EXECUTION_STATUSES),
  startedAt: z.iso.datetime(),
  stoppedAt: z.iso.datetime().optional(),
});
export type ExecutionSummary = z.infer<typeof ExecutionSummarySchema>;

/**
 * One event of an execution's history, in Step Functions' shape (GetExecutionHistory): its `type`
 * (`TaskStateEntered`, `LambdaFunctionFailed`, …), ids, and that type's details object.
 */
export const HistoryEventSchema = z.looseObject({
  id: z.int().positive(),
  previousEventId: z.int().nonnegative().optional(),
  timestamp: z.iso.datetime(),
  type: z.string(),
});
export type HistoryEvent = z.infer<typeof HistoryEventSchema>;

export const ExecutionViewSchema = z.strictObject({
  ...ExecutionSummarySchema.shape,
  executionArn: z.string(),
  /** The execution's input, as JSON (text when it is not JSON). */
  input: z.unknown(),
  output: z.unknown().optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
  /** The states entered so far, in order (from the history). */
  states: z.array(
    z.strictObject({
      name: z.string(),
      type: z.string(),
      enteredAt: z.iso.datetime(),
      exitedAt: z.iso.datetime().optional(),
    }),
  ),
  history: z.array(HistoryEventSchema),
  /** Whether the history was cut at its limit (`historyLimit` events). */
  historyTruncated: z.boolean(),
});
export type ExecutionView = z.infer<typeof ExecutionViewSchema>;

export const WorkflowAnswerSchema = z.strictObject({ workflow: WorkflowSchema });
export const WorkflowListSchema = z.strictObject({ workflows: z.array(WorkflowSchema) });
export const ExecutionStartedSchema = z.strictObject({ execution: ExecutionSummarySchema });
export const ExecutionListSchema = z.strictObject({
  executions: z.array(ExecutionSummarySchema),
  /** Pass as `nextToken` for the next page; absent on the last. */
  nextToken: z.string().optional(),
});
export const ExecutionAnswerSchema = z.strictObject({ execution: ExecutionViewSchema });

/** An execution of any workflow, with its workflow's name (`GET /api/v1/executions`). */
export const WorkflowExecutionSchema = z.strictObject({
  ...ExecutionSummarySchema.shape,
  workflowName: z.string(),
});
export const AllExecutionsSchema = z.strictObject({ executions: z.array(WorkflowExecutionSchema) });
