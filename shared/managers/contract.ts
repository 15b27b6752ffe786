import { z } from 'zod';
import { ActorSchema } from '../actor.ts';
import { CorrelationIdSchema } from '../correlation.ts';
import { ManagerIdSchema } from './specs.ts';

/**
 * The one contract every manager answers, as zod schemas: what a contract call is (the event its
 * contract function is invoked with) and the shape of every answer. The coordinator parses each
 * answer with these, so a manager that answers something else is reported, not passed on.
 */

export const HealthStatusSchema = z.enum(['healthy', 'degraded', 'unhealthy']);
export type HealthStatus = z.infer<typeof HealthStatusSchema>;

export const CheckSchema = z.strictObject({
  name: z.string().min(1),
  status: HealthStatusSchema,
  latencyMs: z.number().nonnegative(),
  detail: z.string().optional(),
});
export type Check = z.infer<typeof CheckSchema>;

export const HealthSchema = z.strictObject({
  managerId: ManagerIdSchema,
  /** The worst of its checks. */
  status: HealthStatusSchema,
  checks: z.array(CheckSchema),
  checkedAt: z.iso.datetime(),
});
export type Health = z.infer<typeof HealthSchema>;

export const LifecycleStateSchema = z.enum(['running', 'stopped', 'starting', 'stopping', 'failed']);
export type LifecycleState = z.infer<typeof LifecycleStateSchema>;

export const StatusSchema = z.strictObject({
  managerId: ManagerIdSchema,
  state: LifecycleStateSchema,
  /** Null: running since it was deployed, never stopped. */
  since: z.iso.datetime().nullable(),
  /** Who made the last transition (a user's `sub`, or `coordinator`). */
  by: z.string(),
  lastError: z.strictObject({ message: z.string(), at: z.iso.datetime() }).optional(),
});
export type Status = z.infer<typeof StatusSchema>;

const percentile = z.number().nonnegative().nullable();

/** A function's figures over the window; durations are null when it was not invoked. */
export const FunctionFiguresSchema = z.strictObject({
  invocations: z.number().nonnegative(),
  errors: z.number().nonnegative(),
  throttles: z.number().nonnegative(),
  durationMs: z.strictObject({ p50: percentile, p95: percentile, p99: percentile }),
});
export type FunctionFigures = z.infer<typeof FunctionFiguresSchema>;

/**
 * One of a manager's own figures (a Prometheus gauge: snake_case name, labels). The exposition's
 * own families (`manager_…`, `function_…`) and its `manager` label are the platform's, not a
 * manager's to reuse.
 */
export const GaugeSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]*$/)
    .refine((name) => !/^(manager|function)_/.test(name), 'manager_ and function_ names are the platform’s'),
  help: z.string().min(1),
  value: z.number(),
  labels: z
    .record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.string())
    .refine((labels) => !('manager' in labels), 'the manager label is the reporting manager’s')
    .optional(),
});
export type Gauge = z.infer<typeof GaugeSchema>;

export const MetricsSchema = z.strictObject({
  managerId: ManagerIdSchema,
  window: z.strictObject({ start: z.iso.datetime(), end: z.iso.datetime() }),
  /** By manifest function key. */
  functions: z.record(z.string(), FunctionFiguresSchema),
  totals: z.strictObject({
    invocations: z.number().nonnegative(),
    errors: z.number().nonnegative(),
    throttles: z.number().nonnegative(),
  }),
  gauges: z.array(GaugeSchema),
});
export type Metrics = z.infer<typeof MetricsSchema>;

export const ValidationResultSchema = z.strictObject({
  valid: z.boolean(),
  issues: z.array(z.strictObject({ field: z.string(), reason: z.string() })),
  /** The configuration with its defaults, when valid. */
  config: z.record(z.string(), z.unknown()).optional(),
});
export type ValidationResult = z.infer<typeof ValidationResultSchema>;

export const DescriptionSchema = z.strictObject({
  id: ManagerIdSchema,
  name: z.string(),
  description: z.string(),
  version: z.string(),
  stoppable: z.boolean(),
  owns: z.strictObject({
    functions: z.array(z.string()),
    routes: z.array(z.string()),
    queues: z.array(z.string()),
    rules: z.array(z.string()),
    schedules: z.array(z.string()),
    collections: z.array(z.string()),
  }),
  emits: z.array(z.string()),
  consumes: z.array(z.string()),
  actions: z.array(
    z.strictObject({
      name: z.string(),
      description: z.string(),
      role: z.enum(['writer', 'admin']),
      input: z.record(z.string(), z.unknown()),
    }),
  ),
  /** The JSON Schema of its configuration. */
  config: z.record(z.string(), z.unknown()),
});
export type Description = z.infer<typeof DescriptionSchema>;

/**
 * One call of the contract; `correlationId` is the id of the request that made it (the
 * coordinator's) and `actor` who made it, so the manager's logs and events continue that
 * request's chain.
 */
const call = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject({ ...shape, correlationId: CorrelationIdSchema.optional(), actor: ActorSchema.optional() });

/** What a contract function is invoked with. */
export const ContractCallSchema = z.discriminatedUnion('call', [
  call({ call: z.literal('describe') }),
  call({ call: z.literal('health') }),
  call({ call: z.literal('status') }),
  call({ call: z.literal('metrics') }),
  call({ call: z.literal('validateConfig'), config: z.unknown() }),
  /** The manager's own preparation before it is marked running (checks its dependencies). */
  call({ call: z.literal('start') }),
  /** The manager's own quiescing before it is marked stopped. */
  call({ call: z.literal('stop') }),
  call({
    call: z.literal('action'),
    action: z.string().min(1),
    input: z.unknown(),
    /** Who asked (for the manager's log and events). */
    by: z.string().min(1),
  }),
  /**
   * An action run as a workflow's Task state: its result is answered as it is, and its failure
   * is thrown (an Error named by its code, or `ManagerStopped`) so Step Functions can Retry/Catch it.
   */
  call({
    call: z.literal('task'),
    action: z.string().min(1),
    input: z.unknown(),
    /** The execution's ARN (`$$.Execution.Id`): who asked, for the manager's log and events. */
    workflow: z.string().min(1).max(2048).optional(),
  }),
]);
export type ContractCall = z.infer<typeof ContractCallSchema>;

/** A contract function's answer: its result, or the typed error it threw, carried across Lambda. */
export const ContractReplySchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), result: z.unknown() }),
  z.strictObject({
    ok: z.literal(false),
    error: z.strictObject({
      /** An HTTP error status: anything else is not an error the API can answer. */
      statusCode: z.int().min(400).max(599),
      code: z.string(),
      message: z.string(),
      issues: z.array(z.strictObject({ field: z.string(), reason: z.string() })).optional(),
    }),
  }),
]);
export type ContractReply = z.infer<typeof ContractReplySchema>;

/** The worst status of a set of checks (`healthy` when there are none). */
export function worstOf(statuses: readonly HealthStatus[]): HealthStatus {
  if (statuses.includes('unhealthy')) return 'unhealthy';
  if (statuses.includes('degraded')) return 'degraded';
  return 'healthy';
}
