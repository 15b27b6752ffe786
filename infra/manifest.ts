/**
 * The one declaration of the platform: functions, HTTP routes, queues and their consumers,
 * event rules and bucket notifications, as data. The CDK stacks (infra/stacks) and the local
 * runtime (local) both read this object, so local and cloud cannot drift.
 * Adding a route is one entry in `routes` (plus a function entry and its handler module).
 */

import type { z } from 'zod';
import { DOCS_PACKAGE_FILES } from '../shared/api/docs-page.ts';
import type { Role } from '../shared/auth/roles.ts';
import { BACKUP_QUEUE, BACKUP_WORKER_TIMEOUT_SECONDS } from '../shared/backups/model.ts';
import { FAILURE_DETAIL_TYPES, FAILURE_EVENT_TYPES } from '../shared/error-catalogue/sources.ts';
import { EVENT_TYPES, type EventType } from '../shared/events/catalogue.ts';
import { ALERT_TYPES } from '../shared/managers/alerts.ts';
import {
  type ActionSpec,
  MANAGER_ACTIONS,
  MANAGER_CONFIG,
  type ManagerId,
} from '../shared/managers/specs.ts';
import { EVENT_SOURCE, MIGRATION_QUEUE, PLANNER_TIMEOUT_SECONDS } from '../shared/migrations/settings.ts';
import { DELIVERY_QUEUE, DELIVERY_TIMEOUT_SECONDS } from '../shared/notifications/settings.ts';
import { AUDITED_EVENTS } from '../shared/security/model.ts';
import { WORKFLOW_STATE_MACHINE_ARN_WILDCARD } from '../shared/workflows/naming.ts';

export type { Role } from '../shared/auth/roles.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a function may touch; the CDK stack grants exactly these, nothing more. */
export type Access =
  | 'qdrant' // reads the Qdrant URL parameter and API key secret
  | 'embedder' // reads the OpenAI key secret
  | 'exports:read'
  | 'exports:write'
  | 'exports:upload' // streams objects in as multipart uploads, aborting the ones that fail
  | 'state:read'
  | 'state:write'
  | 'bus:put'
  | `queue:${string}:send`
  | `queue:${string}:dead-letters` // receives and deletes the queue's dead letters (redrive)
  | `queue:${string}:backoff` // its consumer delays a failed message's next receive (retry backoff)
  | 'dead-letters:peek' // reads every declared queue's dead letters and leaves them there (no delete)
  | 'webhook-secrets:read' // reads the webhook signing secrets (vector-platform/<stage>/notifications/webhooks/*)
  | 'webhook-secrets:write' // creates, replaces and deletes them
  | 'webhook-secrets:rotate' // reads them and writes new values (no creation, no deletion)
  | 'email:send' // sends email from the platform's SES identity
  | 'managers:invoke' // invokes every manager's contract function (MANAGER_FUNCTIONS)
  | `manager:${string}:invoke` // invokes that one manager's contract function (MANAGER_FUNCTIONS names it alone)
  | 'managers:control' // turns the managers' queue event source mappings on and off (MANAGER_EVENT_SOURCES)
  | 'metrics:read' // reads the functions' CloudWatch metrics (METRIC_FUNCTIONS)
  | 'users:read' // lists the user pool's users and its platform groups' members (USER_POOL_ID)
  | 'api:metrics' // names the HTTP API and its stage, whose CloudWatch metrics it reads
  // creates, changes, runs and deletes the workflows' state machines and their roles (each bounded
  // to invoking the managers' contract functions), and reads their executions
  | 'workflows:manage';

export interface FunctionDecl {
  /** Handler module, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  memoryMb: number;
  timeoutSeconds: number;
  access: readonly Access[];
  /**
   * Package files the handler reads at run time (`swagger-ui-dist/swagger-ui.css`), which a
   * JavaScript bundle does not carry: copied beside the bundle (`shared/bundled-files.ts`).
   */
  files?: readonly string[];
}

export interface RouteDecl {
  method: HttpMethod;
  /** API Gateway path syntax: `/api/v1/vectors/{id}`. */
  path: string;
  function: string;
  /**
   * Who may call it: `public` needs no token; any other role needs a verified access token (the
   * JWT authorizer) whose groups or scopes grant the role (`shared/auth/roles.ts`).
   */
  role: Role;
  /** This route's own throttle instead of the stage's (expensive routes). */
  throttle?: Throttle;
}

/** API Gateway's throttle: a token bucket refilled at `ratePerSecond`, holding `burst` requests. */
export interface Throttle {
  ratePerSecond: number;
  burst: number;
}

/**
 * Request limits, enforced by AWS WAF and API Gateway in AWS and by the local gateway on a laptop.
 * Requests over a limit get 429.
 */
export interface Limits {
  /** Every route without a throttle of its own (API Gateway stage throttle). */
  stage: Throttle;
  /** All requests together, per minute (a WAF rate-based rule over every client). */
  overallPerMinute: number;
  /** Requests per minute from one client IP address (a WAF rate-based rule keyed by IP). */
  perClientPerMinute: number;
}

export interface QueueDecl {
  description: string;
  /** The consuming function; a queue may be declared before its consumer lands. */
  consumer?: string;
  batchSize: number;
  /** Longest wait to fill a batch, seconds. */
  maxBatchingWindowSeconds: number;
  visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the queue's dead-letter queue. */
  maxReceiveCount: number;
  /** Concurrent consumer invocations at most (SQS event source `maxConcurrency`, ≥ 2). */
  maxConcurrency: number;
  /**
   * Also subscribed to the stage's alarm topic: SNS delivers each alarm notification as a message
   * (in AWS only: the local runtime evaluates no CloudWatch alarms, so nothing is sent locally).
   */
  alarmTopic?: boolean;
}

/**
 * Why Lambda would refuse `queue`'s event source, or undefined: a queue that hides a message for
 * less than its consumer may run hands the message to a second invocation while the first still
 * works on it. CDK and the local runtime both refuse such a declaration.
 */
export function queueConsumerProblem(manifest: Manifest, queue: string): string | undefined {
  const decl = manifest.queues[queue];
  const consumer = decl?.consumer ? manifest.functions[decl.consumer] : undefined;
  if (!decl || !consumer || decl.visibilityTimeoutSeconds >= consumer.timeoutSeconds) return undefined;
  return (
    `Queue ${queue}: visibilityTimeoutSeconds must be at least ${decl.consumer}'s timeout ` +
    `(${decl.visibilityTimeoutSeconds} < ${consumer.timeoutSeconds})`
  );
}

/** An EventBridge pattern (subset used by the platform: values, prefix, anything-but, numeric, exists). */
export type EventPattern = Record<string, unknown>;

/**
 * An EventBridge rule and its one target: a function invoked with each event, or a queue the
 * event is sent to (its consumer then takes it: events wait there while a manager is stopped).
 */
export type RuleDecl = {
  description: string;
  pattern: EventPattern;
  /** Keep matching events in the bus archive for replay. */
  archive?: boolean;
  /**
   * `default`: a rule on the account's default bus, where AWS services put their events (Step
   * Functions' execution status changes); otherwise the platform's bus.
   */
  bus?: 'default';
} & ({ function: string; queue?: undefined } | { queue: string; function?: undefined });

/**
 * A manager: a small service behind the one contract (`shared/managers/contract.ts`), served by
 * its own contract function, owning capability functions (and so their routes, queues, rules and
 * schedules), with a configuration schema and named actions (`shared/managers/specs.ts`).
 */
export interface ManagerDecl {
  name: string;
  description: string;
  /** The function that answers its contract calls (describe, health, status, metrics…). */
  function: string;
  /** The capability functions it owns: stopped with it (routes 503, queue consumers paused). */
  functions: readonly string[];
  config: z.ZodObject;
  actions: Readonly<Record<string, ActionSpec>>;
  emits: readonly EventType[];
  /** Delivered through a rule to a queue one of its functions consumes. */
  consumes: readonly EventType[];
  /** Whether the coordinator may stop it (the coordinator and the API cannot be). */
  stoppable: boolean;
}

/**
 * A function run on a schedule (an EventBridge schedule rule in AWS, a timer locally). It receives
 * `input` when given (a rule target's constant input), else EventBridge's "Scheduled Event".
 */
export interface ScheduleDecl {
  description: string;
  /** Every this many minutes (EventBridge's `rate()`, at least 1). */
  rateMinutes: number;
  function: string;
  input?: Record<string, unknown>;
}

export interface NotificationDecl {
  /** Object key prefix and suffix that trigger it. */
  prefix: string;
  suffix?: string;
  function: string;
}

export interface Manifest {
  service: string;
  /** Source of the events the platform publishes. */
  eventSource: string;
  functions: Record<string, FunctionDecl>;
  routes: readonly RouteDecl[];
  /** The function that answers requests no route takes (API Gateway's `$default` route). */
  defaultRoute?: string;
  /**
   * The function the HTTP API's access log is delivered to: the lines of the answers it reports
   * (`shared/access-log/format.ts`), by a subscription filter in AWS, by the runtime locally.
   */
  apiAccessLogConsumer?: string;
  limits: Limits;
  queues: Record<string, QueueDecl>;
  rules: Record<string, RuleDecl>;
  schedules?: Record<string, ScheduleDecl>;
  /** Object-created notifications on the exports bucket. */
  notifications: readonly NotificationDecl[];
  /** The managers by id (`shared/managers/specs.ts` lists the platform's). */
  managers?: Readonly<Record<string, ManagerDecl>>;
}

const vectorFn = (
  op: string,
  description: string,
  access: readonly Access[] = ['qdrant', 'embedder'],
): FunctionDecl => ({
  entry: `functions/vectors/${op}/handler.ts`,
  description,
  memoryMb: 512,
  timeoutSeconds: 29,
  access,
});

/**
 * What driving a migration job touches: planning it, sending its chunks, concluding it (points
 * lists, report, events). A planner that fails an export writes its report too.
 */
const JOB_ACCESS: readonly Access[] = [
  'qdrant',
  'embedder',
  'exports:read',
  'exports:write',
  'state:read',
  'state:write',
  'queue:migrations:send',
  'bus:put',
];

const migrationFn = (
  op: string,
  description: string,
  timeoutSeconds: number,
  access: readonly Access[],
  memoryMb = 512,
): FunctionDecl => ({
  entry: `functions/migrations/${op}/handler.ts`,
  description,
  memoryMb,
  timeoutSeconds,
  access,
});

/** A manager's contract function (`functions/managers/<id>/handler.ts`). */
const managerFn = (
  id: ManagerId,
  description: string,
  access: readonly Access[],
  timeoutSeconds = 15,
): FunctionDecl => ({
  entry: `functions/managers/${id}/handler.ts`,
  description,
  memoryMb: 512,
  timeoutSeconds,
  // Every manager reads its lifecycle record and configuration, its functions' metrics, and may
  // publish ManagerFailed.
  access: ['state:read', 'metrics:read', 'bus:put', ...access],
});

/** Routes that may embed text (OpenAI calls, paid per token): a tighter bucket than the stage's. */
const EMBEDDING_THROTTLE: Throttle = { ratePerSecond: 50, burst: 100 };
/** Routes that start or re-drive migrations (each fans out to many workers). */
const MIGRATION_THROTTLE: Throttle = { ratePerSecond: 2, burst: 10 };

export const manifest = {
  service: 'vector-platform',
  eventSource: EVENT_SOURCE,
  functions: {
    health: {
      entry: 'functions/platform/health/handler.ts',
      description: 'Liveness: answers without touching any dependency',
      memoryMb: 256,
      timeoutSeconds: 5,
      access: [],
    },
    apiAccessLog: {
      entry: 'functions/platform/access-log/handler.ts',
      description: "The HTTP API's 5xx, 401 and 403 answers, from its access log, published as events",
      memoryMb: 256,
      timeoutSeconds: 30,
      access: ['bus:put'],
    },
    unrouted: {
      entry: 'functions/platform/unrouted/handler.ts',
      description: 'Requests no route takes: 404, or 405 with Allow, in the error shape of the API',
      memoryMb: 256,
      timeoutSeconds: 5,
      access: [],
    },
    version: {
      entry: 'functions/platform/version/handler.ts',
      description: 'Service version, stage and embedding model',
      memoryMb: 256,
      timeoutSeconds: 5,
      access: [],
    },
    openapi: {
      entry: 'functions/platform/openapi/handler.ts',
      description: 'The OpenAPI document of the API (docs/openapi.json, bundled)',
      memoryMb: 256,
      timeoutSeconds: 5,
      access: [],
    },
    docs: {
      entry: 'functions/platform/docs/handler.ts',
      description: 'The API documentation page (Swagger UI, served offline) and its assets',
      memoryMb: 256,
      timeoutSeconds: 5,
      access: [],
      files: DOCS_PACKAGE_FILES,
    },
    status: {
      entry: 'functions/platform/status/handler.ts',
      description: 'Readiness: checks Qdrant, the queue, the bus and the state store',
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['qdrant', 'exports:read', 'state:read', 'queue:migrations:send', 'bus:put'],
    },
    listCollections: vectorFn('list-collections', 'List collections', ['qdrant']),
    createCollection: vectorFn(
      'create-collection',
      'Create a collection (vector size, distance, embedding model)',
    ),
    getCollection: vectorFn('get-collection', 'Collection info: points count, config, embedding model', [
      'qdrant',
    ]),
    deleteCollection: vectorFn('delete-collection', 'Delete a collection (CollectionDeleted)', [
      'qdrant',
      'bus:put',
    ]),
    upsert: vectorFn('upsert', 'Upsert points given as vectors or as text to embed'),
    search: vectorFn('search', 'Search by vector or by text, with filters'),
    batch: vectorFn('batch', 'Several searches and upserts in one call'),
    getPoint: vectorFn('get-point', 'Retrieve a point by id', ['qdrant']),
    deletePoints: vectorFn('delete-points', 'Delete points by id or by filter', ['qdrant']),
    indexPlan: {
      entry: 'functions/plans/index/handler.ts',
      description: 'Parse a markdown plan (body or S3 key) and index its tasks incrementally',
      memoryMb: 1024,
      timeoutSeconds: 29,
      access: ['qdrant', 'embedder', 'state:read', 'state:write', 'exports:read', 'bus:put'],
    },
    listPlans: {
      entry: 'functions/plans/list/handler.ts',
      description: 'List indexed plans',
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read'],
    },
    getPlan: {
      entry: 'functions/plans/get/handler.ts',
      description: 'A plan: headings, progress and a page of its tasks',
      memoryMb: 512,
      timeoutSeconds: 29,
      access: ['qdrant', 'state:read'],
    },
    deletePlan: {
      entry: 'functions/plans/delete/handler.ts',
      description: 'Delete a plan and its tasks',
      memoryMb: 256,
      timeoutSeconds: 29,
      access: ['qdrant', 'state:read', 'state:write', 'bus:put'],
    },
    planProgress: {
      entry: 'functions/plans/progress/handler.ts',
      description: 'Declared against computed progress of a plan, per heading',
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read'],
    },
    searchTasks: {
      entry: 'functions/tasks/search/handler.ts',
      description: 'Search plan tasks by meaning, with filters',
      memoryMb: 512,
      timeoutSeconds: 29,
      access: ['qdrant', 'embedder', 'state:read'],
    },
    createMigration: migrationFn(
      'create',
      'Start a migration of an uploaded export (plans it, fans out chunks)',
      29,
      JOB_ACCESS,
    ),
    migrationUpload: migrationFn(
      'upload',
      'An export uploaded under exports/ starts its migration',
      PLANNER_TIMEOUT_SECONDS,
      JOB_ACCESS,
    ),
    migrationWorker: migrationFn(
      'worker',
      'Migrates one chunk of an export; the last one verifies and switches the alias',
      170,
      ['qdrant', 'embedder', 'exports:read', 'exports:write', 'state:read', 'state:write', 'bus:put'],
      1024,
    ),
    listMigrations: migrationFn('list', 'List migration jobs', 10, ['state:read']),
    getMigration: migrationFn('get', 'A migration job: status, counts, chunks, report', 10, ['state:read']),
    rollbackMigration: migrationFn('rollback', "Switch a migration's alias back", 29, [
      'qdrant',
      // The rolled-back job's report is read and written again beside the others.
      'exports:read',
      'exports:write',
      'state:read',
      'state:write',
      'bus:put',
    ]),
    // Also reads and deletes the job's dead letters; concluding a job can re-embed a duplicate.
    redriveMigration: migrationFn('redrive', "Send a migration's failed chunks again", 29, [
      ...JOB_ACCESS,
      'queue:migrations:dead-letters',
    ]),
    recordEvent: {
      entry: 'functions/events/record/handler.ts',
      description: 'Keeps every platform event in the event log (the state table, expiring after 14 days)',
      memoryMb: 256,
      timeoutSeconds: 10,
      access: ['state:write'],
    },
    listEvents: {
      entry: 'functions/events/list/handler.ts',
      description: 'The event log by type, source and time, newest first',
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read'],
    },
    coordinatorManager: managerFn(
      'central-coordinator',
      'Contract of the central coordinator: the registry, the lifecycle store, the health sweep on demand',
      ['state:write', 'managers:invoke'],
      29,
    ),
    vectorizationManager: managerFn(
      'vectorization',
      'Contract of the vectorization manager: collections, points, Qdrant health',
      ['qdrant'],
    ),
    roadmapManager: managerFn(
      'roadmap',
      'Contract of the roadmap manager: plans, tasks, progress drift; reindex',
      ['qdrant', 'embedder', 'exports:read', 'state:write'],
      // `reindex` of every plan runs in one invocation.
      300,
    ),
    migrationManager: managerFn(
      'migration',
      'Contract of the migration manager: jobs by state, records/s; start, get, redrive, rollback',
      JOB_ACCESS.filter((a) => a !== 'state:read' && a !== 'bus:put').concat('queue:migrations:dead-letters'),
      29,
    ),
    configManager: managerFn('config', 'Contract of the configuration manager: stored versions', []),
    monitoringManager: managerFn(
      'monitoring',
      "Contract of the monitoring manager: every manager's metrics, alerts seen",
      ['managers:invoke'],
      29,
    ),
    apiGatewayManager: managerFn(
      'api-gateway',
      'Contract of the API gateway manager: requests, 4xx, 5xx and latency per route',
      ['api:metrics'],
    ),
    notificationsManager: managerFn(
      'notifications',
      'Contract of the notifications manager: subscriptions, deliveries by status; test, notify',
      // `test` queues a sample; the first read of the subscriptions stores the default one; `notify`
      // publishes OperatorNotice (bus:put, as every manager).
      ['state:write', `queue:${DELIVERY_QUEUE.name}:send`],
    ),
    notificationSubscriptions: {
      entry: 'functions/notifications/subscriptions/handler.ts',
      description: 'Notification subscriptions (create, list, read, replace, delete) and the delivery log',
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read', 'state:write', 'webhook-secrets:write'],
    },
    notificationMatcher: {
      entry: 'functions/notifications/match/handler.ts',
      description:
        "Matches every platform event with the subscriptions' patterns; queues one notification per match",
      memoryMb: 256,
      timeoutSeconds: 30,
      access: ['state:read', 'state:write', `queue:${DELIVERY_QUEUE.name}:send`],
    },
    notificationDelivery: {
      entry: 'functions/notifications/deliver/handler.ts',
      description: 'Delivers one notification: a signed webhook call or an email; retried with backoff',
      memoryMb: 256,
      timeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
      access: [
        'state:read',
        'state:write',
        'webhook-secrets:read',
        'email:send',
        `queue:${DELIVERY_QUEUE.name}:backoff`,
        'bus:put',
      ],
    },
    dependenciesManager: managerFn(
      'dependencies',
      'Contract of the dependency manager: projects, packages, conflicts; report',
      // The report's similar packages: a search by the stored vectors (nothing embedded).
      ['qdrant'],
    ),
    dependencyManifests: {
      entry: 'functions/dependencies/handler.ts',
      description:
        "Dependency manifests: indexes a project's files, lists the projects, reports conflicts and duplicates, deletes a project",
      memoryMb: 512,
      timeoutSeconds: 29,
      access: ['state:read', 'state:write', 'bus:put', 'qdrant', 'embedder'],
    },
    dependencyUploads: {
      entry: 'functions/dependencies/upload/handler.ts',
      description: 'A manifest uploaded under dependencies/<project>/ replaces its file in the project',
      memoryMb: 512,
      timeoutSeconds: 30,
      access: ['exports:read', 'state:read', 'state:write', 'bus:put', 'qdrant', 'embedder'],
    },
    templatesManager: managerFn(
      'templates',
      'Contract of the template manager: templates by kind; reindex',
      // `reindex` embeds every template again into its collection.
      ['qdrant', 'embedder'],
      29,
    ),
    templates: {
      entry: 'functions/templates/handler.ts',
      description:
        'Plan and task templates: create, list, read, replace, delete, suggest by description, render, instantiate into an indexed plan',
      memoryMb: 512,
      timeoutSeconds: 29,
      // Instantiating indexes the rendered plan through the roadmap manager's contract function.
      access: ['state:read', 'state:write', 'qdrant', 'embedder', 'bus:put', 'manager:roadmap:invoke'],
    },
    workflowsManager: managerFn(
      'workflows',
      'Contract of the workflow manager: workflows and their executions by status; install-examples',
      // Its figures list executions; installing the examples creates workflows.
      ['state:write', 'workflows:manage'],
      29,
    ),
    workflows: {
      entry: 'functions/workflows/api/handler.ts',
      description:
        'Workflows (Amazon States Language calling manager actions): create, list, read, replace, delete, execute; executions, their history, stop',
      memoryMb: 512,
      timeoutSeconds: 29,
      access: ['state:read', 'state:write', 'workflows:manage'],
    },
    workflowStatus: {
      entry: 'functions/workflows/status/handler.ts',
      description:
        "Step Functions' execution status changes of the workflows, published as WorkflowExecution events",
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read', 'bus:put'],
    },
    securityManager: managerFn(
      'security',
      'Contract of the security manager: audit entries by kind; rotate-webhook-secrets, webhook-secret',
      // A rotation reads each webhook's secret and writes it back with the new one.
      ['webhook-secrets:rotate'],
    ),
    securityAudit: {
      entry: 'functions/security/api/handler.ts',
      description:
        "The security audit log (admin actions and refusal bursts, filtered, newest first, paged); the user pool's users and roles",
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read', 'users:read'],
    },
    securityAuditor: {
      entry: 'functions/security/events/handler.ts',
      description:
        'Audited actions and API refusals from the security queue: audit entries, refusal bursts (SecurityAlert)',
      memoryMb: 256,
      timeoutSeconds: 30,
      access: ['state:read', 'state:write', 'bus:put'],
    },
    errorsManager: managerFn(
      'errors',
      'Contract of the error manager: open and resolved errors, occurrences; resolve',
      // `resolve` writes the entry; health checks Qdrant, which holds the embedded errors.
      ['qdrant', 'state:write'],
    ),
    errorCatalogue: {
      entry: 'functions/errors/handler.ts',
      description:
        'The error catalogue: errors by status, origin, code and time; one error; similar past errors',
      memoryMb: 512,
      timeoutSeconds: 29,
      // Similar errors are found from the stored vectors: nothing is embedded here.
      access: ['state:read', 'qdrant'],
    },
    errorIntake: {
      entry: 'functions/errors/intake/handler.ts',
      description:
        "Catalogues failures: failure events from its queue, and (scheduled) every queue's dead letters, peeked and left in place",
      memoryMb: 512,
      timeoutSeconds: 60,
      access: ['state:read', 'state:write', 'qdrant', 'embedder', 'bus:put', 'dead-letters:peek'],
    },
    managersApi: {
      entry: 'functions/managers/api/handler.ts',
      description: 'The coordinator API: list, status, health, metrics, start, stop and actions of managers',
      memoryMb: 512,
      timeoutSeconds: 29,
      access: ['state:read', 'state:write', 'managers:invoke', 'managers:control', 'bus:put'],
    },
    managerHealthSweep: {
      entry: 'functions/managers/health-sweep/handler.ts',
      description: "Scheduled: records every manager's health, publishes ManagerHealthChanged on a change",
      memoryMb: 256,
      timeoutSeconds: 60,
      access: ['state:read', 'state:write', 'managers:invoke', 'bus:put'],
    },
    managerEvents: {
      entry: 'functions/managers/events/handler.ts',
      description: 'Events addressed to the coordinator (ManagerFailed marks a manager failed)',
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read', 'state:write'],
    },
    managerConfig: {
      entry: 'functions/managers/configuration/handler.ts',
      description: "A manager's configuration: read, replace (validated, versioned, ConfigChanged), versions",
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read', 'state:write', 'bus:put'],
    },
    prometheusMetrics: {
      entry: 'functions/monitoring/metrics/handler.ts',
      description: "Every manager's metrics in the Prometheus text exposition format",
      memoryMb: 512,
      timeoutSeconds: 29,
      access: ['state:read', 'managers:invoke'],
    },
    monitoringAlerts: {
      entry: 'functions/monitoring/alerts/handler.ts',
      description: 'Counts the alerts addressed to monitoring (health changes, failures, critical)',
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read', 'state:write'],
    },
    statusPage: {
      entry: 'functions/platform/status-page/handler.ts',
      description:
        'The status page (managers, migrations, workflow executions, plans, events) and its script, served offline',
      memoryMb: 256,
      timeoutSeconds: 5,
      access: [],
    },
    backupManager: managerFn(
      'backup',
      'Contract of the backup manager: backups and restores by state, last backup; backup, restore, list, get',
      // Asking checks the collections and the restore's target in Qdrant and queues the run; `get`
      // reads a restore's migration job.
      ['qdrant', 'state:write', 'queue:backups:send'],
    ),
    backupWorker: {
      entry: 'functions/backups/worker/handler.ts',
      description:
        'Runs one backup (Qdrant scroll → gzip → multipart upload, then retention) or restore (gunzip, checksum, migration)',
      memoryMb: 1024,
      timeoutSeconds: BACKUP_WORKER_TIMEOUT_SECONDS,
      // A restore starts a migration: the planner scans the JSONL and sends its chunks.
      access: [
        'qdrant',
        'exports:read',
        'exports:write',
        'exports:upload',
        'state:read',
        'state:write',
        'bus:put',
        'queue:migrations:send',
      ],
    },
    scheduledBackups: {
      entry: 'functions/backups/schedule/handler.ts',
      description:
        "Scheduled: asks for a backup when the last scheduled one is the configuration's everyHours old",
      memoryMb: 256,
      timeoutSeconds: 15,
      access: ['state:read', 'state:write', 'queue:backups:send'],
    },
    resumeStalledMigrations: migrationFn(
      'resume-stalled',
      'Scheduled: resumes migrations without progress (lost messages, a planner that died)',
      // Re-planning a job whose planner died scans its export again, as the upload function does.
      PLANNER_TIMEOUT_SECONDS,
      JOB_ACCESS,
      1024,
    ),
  },
  defaultRoute: 'unrouted',
  apiAccessLogConsumer: 'apiAccessLog',
  // The legacy gateway's numbers: 10,000 requests a minute in all (~167/s sustained), bursts of
  // 100, 1,000 a minute per client IP address.
  limits: { stage: { ratePerSecond: 167, burst: 100 }, overallPerMinute: 10_000, perClientPerMinute: 1_000 },
  routes: [
    { method: 'GET', path: '/api/v1/health', function: 'health', role: 'public' },
    { method: 'GET', path: '/api/v1/version', function: 'version', role: 'public' },
    { method: 'GET', path: '/api/v1/openapi.json', function: 'openapi', role: 'public' },
    { method: 'GET', path: '/api/v1/docs', function: 'docs', role: 'public' },
    { method: 'GET', path: '/api/v1/docs/{file}', function: 'docs', role: 'public' },
    { method: 'GET', path: '/api/v1/status', function: 'status', role: 'reader' },
    { method: 'GET', path: '/api/v1/vectors/collections', function: 'listCollections', role: 'reader' },
    { method: 'POST', path: '/api/v1/vectors/collections', function: 'createCollection', role: 'writer' },
    { method: 'GET', path: '/api/v1/vectors/collections/{name}', function: 'getCollection', role: 'reader' },
    {
      method: 'DELETE',
      path: '/api/v1/vectors/collections/{name}',
      function: 'deleteCollection',
      role: 'admin',
    },
    {
      method: 'POST',
      path: '/api/v1/vectors/upsert',
      function: 'upsert',
      role: 'writer',
      throttle: EMBEDDING_THROTTLE,
    },
    // The legacy gateway's name for upsert; kept so its clients keep working.
    {
      method: 'POST',
      path: '/api/v1/vectors/insert',
      function: 'upsert',
      role: 'writer',
      throttle: EMBEDDING_THROTTLE,
    },
    {
      method: 'POST',
      path: '/api/v1/vectors/search',
      function: 'search',
      role: 'reader',
      throttle: EMBEDDING_THROTTLE,
    },
    {
      method: 'POST',
      path: '/api/v1/vectors/batch',
      function: 'batch',
      role: 'writer',
      throttle: EMBEDDING_THROTTLE,
    },
    { method: 'POST', path: '/api/v1/vectors/delete', function: 'deletePoints', role: 'writer' },
    { method: 'GET', path: '/api/v1/vectors/{id}', function: 'getPoint', role: 'reader' },
    { method: 'DELETE', path: '/api/v1/vectors/{id}', function: 'deletePoints', role: 'writer' },
    {
      method: 'POST',
      path: '/api/v1/plans',
      function: 'indexPlan',
      role: 'writer',
      throttle: EMBEDDING_THROTTLE,
    },
    { method: 'GET', path: '/api/v1/plans', function: 'listPlans', role: 'reader' },
    { method: 'GET', path: '/api/v1/plans/{id}', function: 'getPlan', role: 'reader' },
    { method: 'DELETE', path: '/api/v1/plans/{id}', function: 'deletePlan', role: 'writer' },
    { method: 'GET', path: '/api/v1/plans/{id}/progress', function: 'planProgress', role: 'reader' },
    {
      method: 'POST',
      path: '/api/v1/tasks/search',
      function: 'searchTasks',
      role: 'reader',
      throttle: EMBEDDING_THROTTLE,
    },
    {
      method: 'POST',
      path: '/api/v1/migrations',
      function: 'createMigration',
      role: 'admin',
      throttle: MIGRATION_THROTTLE,
    },
    { method: 'GET', path: '/api/v1/migrations', function: 'listMigrations', role: 'reader' },
    { method: 'GET', path: '/api/v1/migrations/{id}', function: 'getMigration', role: 'reader' },
    {
      method: 'POST',
      path: '/api/v1/migrations/{id}/rollback',
      function: 'rollbackMigration',
      role: 'admin',
    },
    {
      method: 'POST',
      path: '/api/v1/migrations/{id}/redrive',
      function: 'redriveMigration',
      role: 'admin',
      throttle: MIGRATION_THROTTLE,
    },
    { method: 'GET', path: '/api/v1/events', function: 'listEvents', role: 'reader' },
    { method: 'GET', path: '/api/v1/managers', function: 'managersApi', role: 'reader' },
    { method: 'GET', path: '/api/v1/managers/status', function: 'managersApi', role: 'reader' },
    { method: 'GET', path: '/api/v1/managers/{id}', function: 'managersApi', role: 'reader' },
    { method: 'GET', path: '/api/v1/managers/{id}/status', function: 'managersApi', role: 'reader' },
    { method: 'GET', path: '/api/v1/managers/{id}/history', function: 'managersApi', role: 'reader' },
    { method: 'GET', path: '/api/v1/managers/{id}/health', function: 'managersApi', role: 'reader' },
    { method: 'GET', path: '/api/v1/managers/{id}/metrics', function: 'managersApi', role: 'reader' },
    { method: 'POST', path: '/api/v1/managers/{id}/start', function: 'managersApi', role: 'admin' },
    { method: 'POST', path: '/api/v1/managers/{id}/stop', function: 'managersApi', role: 'admin' },
    // Each action also names the role it needs (`shared/managers/specs.ts`), checked by the coordinator.
    {
      method: 'POST',
      path: '/api/v1/managers/{id}/actions/{action}',
      function: 'managersApi',
      role: 'writer',
    },
    { method: 'GET', path: '/api/v1/managers/{id}/config', function: 'managerConfig', role: 'reader' },
    { method: 'PUT', path: '/api/v1/managers/{id}/config', function: 'managerConfig', role: 'admin' },
    {
      method: 'GET',
      path: '/api/v1/managers/{id}/config/versions',
      function: 'managerConfig',
      role: 'reader',
    },
    {
      method: 'GET',
      path: '/api/v1/notifications/subscriptions',
      function: 'notificationSubscriptions',
      role: 'reader',
    },
    {
      method: 'POST',
      path: '/api/v1/notifications/subscriptions',
      function: 'notificationSubscriptions',
      role: 'admin',
    },
    {
      method: 'GET',
      path: '/api/v1/notifications/subscriptions/{id}',
      function: 'notificationSubscriptions',
      role: 'reader',
    },
    {
      method: 'PUT',
      path: '/api/v1/notifications/subscriptions/{id}',
      function: 'notificationSubscriptions',
      role: 'admin',
    },
    {
      method: 'DELETE',
      path: '/api/v1/notifications/subscriptions/{id}',
      function: 'notificationSubscriptions',
      role: 'admin',
    },
    {
      method: 'GET',
      path: '/api/v1/notifications/deliveries',
      function: 'notificationSubscriptions',
      role: 'reader',
    },
    { method: 'POST', path: '/api/v1/dependencies', function: 'dependencyManifests', role: 'writer' },
    { method: 'GET', path: '/api/v1/dependencies', function: 'dependencyManifests', role: 'reader' },
    { method: 'GET', path: '/api/v1/dependencies/report', function: 'dependencyManifests', role: 'reader' },
    {
      method: 'DELETE',
      path: '/api/v1/dependencies/{project}',
      function: 'dependencyManifests',
      role: 'writer',
    },
    {
      method: 'POST',
      path: '/api/v1/templates',
      function: 'templates',
      role: 'writer',
      throttle: EMBEDDING_THROTTLE,
    },
    { method: 'GET', path: '/api/v1/templates', function: 'templates', role: 'reader' },
    {
      method: 'POST',
      path: '/api/v1/templates/suggest',
      function: 'templates',
      role: 'reader',
      throttle: EMBEDDING_THROTTLE,
    },
    { method: 'GET', path: '/api/v1/templates/{id}', function: 'templates', role: 'reader' },
    {
      method: 'PUT',
      path: '/api/v1/templates/{id}',
      function: 'templates',
      role: 'writer',
      throttle: EMBEDDING_THROTTLE,
    },
    { method: 'DELETE', path: '/api/v1/templates/{id}', function: 'templates', role: 'writer' },
    { method: 'POST', path: '/api/v1/templates/{id}/render', function: 'templates', role: 'reader' },
    {
      method: 'POST',
      path: '/api/v1/templates/{id}/instantiate',
      function: 'templates',
      role: 'writer',
      throttle: EMBEDDING_THROTTLE,
    },
    { method: 'GET', path: '/api/v1/workflows', function: 'workflows', role: 'reader' },
    { method: 'POST', path: '/api/v1/workflows', function: 'workflows', role: 'writer' },
    { method: 'GET', path: '/api/v1/workflows/{id}', function: 'workflows', role: 'reader' },
    { method: 'PUT', path: '/api/v1/workflows/{id}', function: 'workflows', role: 'writer' },
    { method: 'DELETE', path: '/api/v1/workflows/{id}', function: 'workflows', role: 'writer' },
    { method: 'POST', path: '/api/v1/workflows/{id}/execute', function: 'workflows', role: 'writer' },
    { method: 'GET', path: '/api/v1/workflows/{id}/executions', function: 'workflows', role: 'reader' },
    { method: 'GET', path: '/api/v1/executions', function: 'workflows', role: 'reader' },
    { method: 'GET', path: '/api/v1/executions/{executionId}', function: 'workflows', role: 'reader' },
    {
      method: 'POST',
      path: '/api/v1/executions/{executionId}/stop',
      function: 'workflows',
      role: 'writer',
    },
    { method: 'GET', path: '/api/v1/security/audit', function: 'securityAudit', role: 'admin' },
    { method: 'GET', path: '/api/v1/security/users', function: 'securityAudit', role: 'admin' },
    { method: 'GET', path: '/api/v1/errors', function: 'errorCatalogue', role: 'reader' },
    { method: 'GET', path: '/api/v1/errors/{fingerprint}', function: 'errorCatalogue', role: 'reader' },
    {
      method: 'GET',
      path: '/api/v1/errors/{fingerprint}/similar',
      function: 'errorCatalogue',
      role: 'reader',
    },
    { method: 'GET', path: '/api/v1/metrics', function: 'prometheusMetrics', role: 'reader' },
    { method: 'GET', path: '/api/v1/status-page', function: 'statusPage', role: 'public' },
    { method: 'GET', path: '/api/v1/status-page/{file}', function: 'statusPage', role: 'public' },
  ],
  queues: {
    migrations: {
      description: 'One message per byte-range chunk of an uploaded export (consumer: the migration worker)',
      batchSize: 5,
      // The planner sends a job's messages all at once: waiting for a fuller batch only delays the
      // last chunks of a job (measured: +1.4 s on a 13-chunk job with a 2 s window).
      maxBatchingWindowSeconds: 0,
      visibilityTimeoutSeconds: MIGRATION_QUEUE.visibilityTimeoutSeconds,
      maxReceiveCount: MIGRATION_QUEUE.maxReceiveCount,
      maxConcurrency: 10,
      consumer: 'migrationWorker',
    },
    coordinatorEvents: {
      description: 'Events addressed to the coordinator (consumer: managerEvents)',
      consumer: 'managerEvents',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      visibilityTimeoutSeconds: 90,
      maxReceiveCount: 5,
      maxConcurrency: 2,
    },
    monitoringEvents: {
      description: 'Alerts addressed to monitoring; they wait here while monitoring is stopped',
      consumer: 'monitoringAlerts',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      visibilityTimeoutSeconds: 90,
      maxReceiveCount: 5,
      maxConcurrency: 2,
    },
    notificationEvents: {
      description:
        "Every platform event and the alarm topic's notifications, for the notification subscriptions (consumer: notificationMatcher)",
      alarmTopic: true,
      consumer: 'notificationMatcher',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      visibilityTimeoutSeconds: 90,
      maxReceiveCount: 5,
      maxConcurrency: 2,
    },
    [DELIVERY_QUEUE.name]: {
      description:
        'One message per notification; retried with backoff, then dead-lettered (consumer: notificationDelivery)',
      consumer: 'notificationDelivery',
      batchSize: 5,
      maxBatchingWindowSeconds: 0,
      visibilityTimeoutSeconds: DELIVERY_QUEUE.visibilityTimeoutSeconds,
      maxReceiveCount: DELIVERY_QUEUE.maxReceiveCount,
      maxConcurrency: 2,
    },
    securityEvents: {
      description:
        'Audited actions and API refusals, for the security manager (they wait here while it is stopped)',
      consumer: 'securityAuditor',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      visibilityTimeoutSeconds: 90,
      maxReceiveCount: 5,
      maxConcurrency: 2,
    },
    errorEvents: {
      description:
        'Failure events, for the error catalogue; they wait here while it is stopped (consumer: errorIntake)',
      consumer: 'errorIntake',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      visibilityTimeoutSeconds: 90,
      maxReceiveCount: 5,
      maxConcurrency: 2,
    },
    backups: {
      description: 'One message per backup or restore to run (consumer: the backup worker)',
      consumer: 'backupWorker',
      batchSize: 1,
      maxBatchingWindowSeconds: 0,
      visibilityTimeoutSeconds: BACKUP_QUEUE.visibilityTimeoutSeconds,
      maxReceiveCount: BACKUP_QUEUE.maxReceiveCount,
      maxConcurrency: 2,
    },
  },
  rules: {
    securityEvents: {
      description: 'The actions the security audit records and the API refusals it counts, to its queue',
      pattern: {
        source: [EVENT_SOURCE],
        'detail-type': [...Object.keys(AUDITED_EVENTS), 'ApiAccessDenied'],
      },
      queue: 'securityEvents',
      archive: true,
    },
    eventLog: {
      description: 'Every platform event, to the event log',
      pattern: { source: [EVENT_SOURCE] },
      function: 'recordEvent',
    },
    managerFailures: {
      description: 'ManagerFailed events, to the coordinator, which marks the manager failed',
      pattern: { source: [EVENT_SOURCE], 'detail-type': ['ManagerFailed'] },
      queue: 'coordinatorEvents',
      archive: true,
    },
    platformAlerts: {
      description: 'Health changes, manager failures and critical conditions, to monitoring',
      pattern: {
        source: [EVENT_SOURCE],
        'detail-type': [...ALERT_TYPES],
      },
      queue: 'monitoringEvents',
      archive: true,
    },
    errorEvents: {
      description:
        'Every failure event (each catalogue type ending in Failed, and the legacy manager.error), to the error catalogue',
      pattern: { source: [EVENT_SOURCE], 'detail-type': [...FAILURE_DETAIL_TYPES] },
      queue: 'errorEvents',
    },
    notificationEvents: {
      description: 'Every platform event, to the notifications manager (they wait there while it is stopped)',
      pattern: { source: [EVENT_SOURCE] },
      queue: 'notificationEvents',
    },
    workflowExecutions: {
      description:
        "Step Functions' status changes of the stage's workflow executions (on the default bus), to the workflow manager",
      bus: 'default',
      pattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        // Any stage's workflows (the function keeps its own stage's): the stage is not known here.
        detail: { stateMachineArn: [{ wildcard: WORKFLOW_STATE_MACHINE_ARN_WILDCARD }] },
      },
      function: 'workflowStatus',
    },
  },
  schedules: {
    webhookSecretRotation: {
      description:
        "Rotates the webhook secrets last rotated the security manager's rotateEveryDays ago (a contract call, as the coordinator makes)",
      rateMinutes: 30,
      function: 'securityManager',
      input: { call: 'action', action: 'rotate-webhook-secrets', input: { due: true }, by: 'schedule' },
    },
    stalledMigrations: {
      description: 'Finds migrations without progress for a while and resumes them',
      rateMinutes: 5,
      function: 'resumeStalledMigrations',
    },
    managerHealth: {
      description: "Records every manager's health; publishes ManagerHealthChanged when it changes",
      rateMinutes: 1,
      function: 'managerHealthSweep',
    },
    deadLetterErrors: {
      description: "Catalogues every queue's dead letters (peeked, never deleted; each one once)",
      rateMinutes: 5,
      function: 'errorIntake',
    },
    workflowExamples: {
      description:
        "Installs the shipped example workflows the first time the workflow manager runs (then never again: they are the users' to edit or delete)",
      rateMinutes: 30,
      function: 'workflowsManager',
      input: { call: 'action', action: 'install-examples', input: { firstRun: true }, by: 'schedule' },
    },
    backups: {
      description: "Asks for a backup when the last scheduled one is the backup manager's everyHours old",
      rateMinutes: 30,
      function: 'scheduledBackups',
    },
  },
  notifications: [
    { prefix: 'exports/', function: 'migrationUpload' },
    { prefix: 'dependencies/', function: 'dependencyUploads' },
  ],
  managers: {
    security: {
      name: 'Security',
      description:
        'The audit log of admin actions and refusal bursts, webhook secret rotation (on demand and on a schedule)',
      function: 'securityManager',
      functions: ['securityAudit', 'securityAuditor'],
      config: MANAGER_CONFIG.security,
      actions: MANAGER_ACTIONS.security,
      emits: ['WebhookSecretsRotated', 'SecurityAlert', 'ManagerFailed'],
      consumes: [...(Object.keys(AUDITED_EVENTS) as EventType[]), 'ApiAccessDenied'],
      stoppable: true,
    },
    'central-coordinator': {
      name: 'Central coordinator',
      description: 'The registry of managers, their lifecycle, the health sweep and the event log',
      function: 'coordinatorManager',
      functions: ['managersApi', 'managerHealthSweep', 'managerEvents', 'recordEvent', 'listEvents'],
      config: MANAGER_CONFIG['central-coordinator'],
      actions: MANAGER_ACTIONS['central-coordinator'],
      emits: [
        'ManagerStarted',
        'ManagerStopped',
        'ManagerHealthChanged',
        'SystemCriticalDetected',
        'ManagerFailed',
      ],
      consumes: ['ManagerFailed'],
      stoppable: false,
    },
    vectorization: {
      name: 'Vectorization',
      description: 'Collections and points in Qdrant: create, upsert (embedding text), search, delete',
      function: 'vectorizationManager',
      functions: [
        'listCollections',
        'createCollection',
        'getCollection',
        'deleteCollection',
        'upsert',
        'search',
        'batch',
        'getPoint',
        'deletePoints',
      ],
      config: MANAGER_CONFIG.vectorization,
      actions: MANAGER_ACTIONS.vectorization,
      emits: ['CollectionDeleted', 'ManagerFailed'],
      consumes: [],
      stoppable: true,
    },
    roadmap: {
      name: 'Roadmap',
      description: 'Development plans and their tasks: indexing, progress, semantic task search',
      function: 'roadmapManager',
      functions: ['indexPlan', 'listPlans', 'getPlan', 'deletePlan', 'planProgress', 'searchTasks'],
      config: MANAGER_CONFIG.roadmap,
      actions: MANAGER_ACTIONS.roadmap,
      emits: ['PlanIndexed', 'TasksChanged', 'ManagerFailed'],
      consumes: [],
      stoppable: true,
    },
    migration: {
      name: 'Migration',
      description: 'Legacy vector exports migrated into Qdrant: jobs, chunks, verification, aliases',
      function: 'migrationManager',
      functions: [
        'createMigration',
        'migrationUpload',
        'migrationWorker',
        'listMigrations',
        'getMigration',
        'rollbackMigration',
        'redriveMigration',
        'resumeStalledMigrations',
      ],
      config: MANAGER_CONFIG.migration,
      actions: MANAGER_ACTIONS.migration,
      emits: [
        'MigrationStarted',
        'MigrationChunkCompleted',
        'MigrationChunkFailed',
        'MigrationCompleted',
        'MigrationFailed',
        'MigrationRolledBack',
        'ManagerFailed',
      ],
      consumes: [],
      stoppable: true,
    },
    config: {
      name: 'Configuration',
      description: "Each manager's configuration, validated by its schema, stored with its versions",
      function: 'configManager',
      functions: ['managerConfig'],
      config: MANAGER_CONFIG.config,
      actions: MANAGER_ACTIONS.config,
      emits: ['ConfigChanged', 'ManagerFailed'],
      consumes: [],
      stoppable: true,
    },
    monitoring: {
      name: 'Monitoring',
      description: 'The metrics of every manager (Prometheus exposition) and the alerts they raise',
      function: 'monitoringManager',
      functions: ['prometheusMetrics', 'monitoringAlerts'],
      config: MANAGER_CONFIG.monitoring,
      actions: MANAGER_ACTIONS.monitoring,
      emits: ['ManagerFailed'],
      consumes: ALERT_TYPES,
      stoppable: true,
    },
    'api-gateway': {
      name: 'API gateway',
      description: 'The HTTP API: routes, roles, limits, its documents and the status page',
      function: 'apiGatewayManager',
      functions: ['health', 'unrouted', 'version', 'openapi', 'docs', 'status', 'statusPage', 'apiAccessLog'],
      config: MANAGER_CONFIG['api-gateway'],
      actions: MANAGER_ACTIONS['api-gateway'],
      emits: ['ApiRequestFailed', 'ApiAccessDenied', 'ManagerFailed'],
      consumes: [],
      stoppable: false,
    },
    backup: {
      name: 'Backup',
      description:
        'Backups of collections and the plan registry to the exports bucket, on a schedule or on demand, with retention; restores through a migration',
      function: 'backupManager',
      functions: ['backupWorker', 'scheduledBackups'],
      config: MANAGER_CONFIG.backup,
      actions: MANAGER_ACTIONS.backup,
      emits: ['BackupCompleted', 'BackupFailed', 'RestoreStarted', 'RestoreFailed', 'ManagerFailed'],
      consumes: [],
      stoppable: true,
    },
    notifications: {
      name: 'Notifications',
      description:
        'Subscriptions to platform events, delivered by signed webhooks and email, with a delivery log',
      function: 'notificationsManager',
      functions: ['notificationSubscriptions', 'notificationMatcher', 'notificationDelivery'],
      config: MANAGER_CONFIG.notifications,
      actions: MANAGER_ACTIONS.notifications,
      emits: ['NotificationFailed', 'OperatorNotice', 'ManagerFailed'],
      // Any event may match a subscription.
      consumes: EVENT_TYPES,
      stoppable: true,
    },
    dependencies: {
      name: 'Dependencies',
      description:
        'Dependency manifests (package.json, package-lock.json, go.mod, requirements.txt, pyproject.toml) per project: conflicts and duplicates within and across projects',
      function: 'dependenciesManager',
      functions: ['dependencyManifests', 'dependencyUploads'],
      config: MANAGER_CONFIG.dependencies,
      actions: MANAGER_ACTIONS.dependencies,
      emits: ['DependenciesIndexed', 'DependenciesRejected', 'ManagerFailed'],
      consumes: [],
      stoppable: true,
    },
    errors: {
      name: 'Errors',
      description:
        'The error catalogue: every failure event and dead letter grouped by fingerprint, with counts, samples, similar past errors, resolve and reopen',
      function: 'errorsManager',
      functions: ['errorCatalogue', 'errorIntake'],
      config: MANAGER_CONFIG.errors,
      actions: MANAGER_ACTIONS.errors,
      emits: ['ErrorCatalogued', 'ErrorReopened', 'ManagerFailed'],
      consumes: FAILURE_EVENT_TYPES,
      stoppable: true,
    },
    workflows: {
      name: 'Workflows',
      description:
        'Workflows as Amazon States Language definitions whose tasks call manager actions: Step Functions state machines in AWS, the same definitions run in process locally',
      function: 'workflowsManager',
      // Not workflowStatus: Step Functions' status changes are published even while it is stopped
      // (a rule target of a stopped manager's function would drop them).
      functions: ['workflows'],
      config: MANAGER_CONFIG.workflows,
      actions: MANAGER_ACTIONS.workflows,
      emits: [
        'WorkflowExecutionStarted',
        'WorkflowExecutionSucceeded',
        'WorkflowExecutionFailed',
        'WorkflowExecutionAborted',
        'ManagerFailed',
      ],
      consumes: [],
      stoppable: true,
    },
    templates: {
      name: 'Templates',
      description:
        'Plan and task templates (markdown with mustache variables): validated, suggested by description, instantiated into plans indexed through the roadmap manager',
      function: 'templatesManager',
      functions: ['templates'],
      config: MANAGER_CONFIG.templates,
      actions: MANAGER_ACTIONS.templates,
      emits: ['TemplateSaved', 'TemplateDeleted', 'TemplateInstantiated', 'ManagerFailed'],
      consumes: [],
      stoppable: true,
    },
  },
} as const satisfies Manifest;

export type FunctionName = keyof typeof manifest.functions;
