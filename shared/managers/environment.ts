/**
 * The variables that tell a function about the managers, set by `infra/function-environment.ts`
 * (for CDK and the local runtime alike).
 */
export const MANAGER_ENV = {
  /** The manager that can be stopped the function belongs to (its contract function or one it owns). */
  id: 'MANAGER_ID',
  /** `managers:invoke`: JSON, manager id → its contract function's deployed name. */
  functions: 'MANAGER_FUNCTIONS',
  /** `managers:control`: JSON, manager id → the UUIDs of its queues' event source mappings. */
  eventSources: 'MANAGER_EVENT_SOURCES',
  /** `metrics:read`: JSON, manifest key → deployed name of the manager's functions. */
  metricFunctions: 'METRIC_FUNCTIONS',
  /** `api:metrics`: the HTTP API's id and stage (CloudWatch dimensions `ApiId`, `Stage`). */
  httpApiId: 'HTTP_API_ID',
  httpApiStage: 'HTTP_API_STAGE',
} as const;
