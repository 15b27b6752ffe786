/**
 * The environment variables that name the platform's resources in a function's environment:
 * declared here once, set by `infra/function-environment.ts` (for CDK and the local runtime
 * alike) and read by `config.ts`.
 */
export const RESOURCE_ENV = {
  exportsBucket: 'EXPORTS_BUCKET',
  stateTable: 'STATE_TABLE',
  eventBus: 'EVENT_BUS_NAME',
  qdrantUrlParameter: 'QDRANT_URL_PARAMETER',
  qdrantApiKeySecret: 'QDRANT_API_KEY_SECRET',
  openaiApiKeySecret: 'OPENAI_API_KEY_SECRET',
  /** The name prefix of the webhook signing secrets (`vector-platform/<stage>/notifications/webhooks/`). */
  webhookSecretsPrefix: 'WEBHOOK_SECRETS_PREFIX',
  /** The verified SES identity notifications are sent from. */
  emailFrom: 'NOTIFICATIONS_EMAIL_FROM',
  /** Every declared queue's dead-letter queue URL, by queue name (JSON): what `dead-letters:peek` reads. */
  deadLetterQueues: 'DEAD_LETTER_QUEUES',
  /** The Cognito user pool whose users `users:read` lists. */
  userPoolId: 'USER_POOL_ID',
  /** `workflows:manage`: state machines are named this prefix + the workflow id. */
  workflowStateMachinePrefix: 'WORKFLOW_STATE_MACHINE_PREFIX',
  /** `workflows:manage`: the IAM path of the workflows' execution roles. */
  workflowRolePath: 'WORKFLOW_ROLE_PATH',
  /** `workflows:manage`: the managed policy every execution role is bounded by. */
  workflowRoleBoundary: 'WORKFLOW_ROLE_BOUNDARY',
  /** `workflows:manage`: JSON, manager id → its contract function's live alias ARN (what tasks invoke). */
  workflowTaskFunctions: 'WORKFLOW_TASK_FUNCTIONS',
} as const;

const envName = (queue: string) => queue.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase();

/** The variable carrying a declared queue's URL (`migrations` → `MIGRATIONS_QUEUE_URL`). */
export function queueUrlVariable(queue: string): string {
  return `${envName(queue)}_QUEUE_URL`;
}

/** The variable carrying a declared queue's dead-letter queue URL (`MIGRATIONS_DLQ_URL`). */
export function deadLetterUrlVariable(queue: string): string {
  return `${envName(queue)}_DLQ_URL`;
}
