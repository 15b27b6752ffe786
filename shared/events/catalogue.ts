import { z } from 'zod';
import { ActorSchema } from '../actor.ts';
import { CorrelationIdSchema } from '../correlation.ts';
import { ExportFormatSchema } from '../exports/formats.ts';
import { ManagerIdSchema } from '../managers/specs.ts';
import { NoticeFieldsSchema } from '../notifications/notice.ts';

/**
 * Every event the platform publishes, with the schema of its detail: the one list the publisher
 * (`publisher.ts`) accepts, consumers parse with (`parseEvent`) and `docs/events.md` is generated
 * from (`npm run events:docs`).
 *
 * Naming: the detail-type is what happened, in PascalCase and the past tense (`MigrationStarted`),
 * the platform's existing style; the source is the service (`EVENT_SOURCE`). Each detail carries
 * `schemaVersion` (EventBridge's own `version` is always "0" and cannot be set): a change that
 * removes or retypes a field makes a new version, adding an optional field does not (publishers
 * are strict, consumers tolerant: `parseEvent` ignores fields it does not know).
 * The legacy system's dotted names keep their meaning under this style (`LEGACY_NAMES`).
 */

const counts = {
  /** Records parsed. */
  records: z.int().nonnegative(),
  /** Records upserted (or, in a dry run, that would have been). */
  written: z.int().nonnegative(),
  rejected: z.int().nonnegative(),
};

const job = {
  jobId: z.string().min(1),
  /** The export's object key. */
  key: z.string().min(1),
  /** The alias the migration switches. */
  target: z.string().min(1),
  /** The fresh collection it writes into. */
  collection: z.string().min(1),
  dryRun: z.boolean(),
};

/**
 * Every detail: its version, the correlation id and the actor the publisher adds (`EventPublisher`:
 * the actor of an event published on behalf of an API request), its fields.
 */
const detail = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject({
    schemaVersion: z.literal(1),
    correlationId: CorrelationIdSchema.optional(),
    actor: ActorSchema.optional(),
    ...shape,
  });

/** What every workflow execution event names. */
const workflowExecution = {
  workflowId: z.string().min(1),
  /** The workflow's name when the execution was reported (absent when it was deleted meanwhile). */
  workflowName: z.string().min(1).optional(),
  executionId: z.string().min(1),
  executionArn: z.string().min(1),
};
const workflowEnd = {
  startedAt: z.iso.datetime(),
  stoppedAt: z.iso.datetime(),
  durationMs: z.int().nonnegative(),
};

export const EVENTS = {
  MigrationStarted: {
    description: 'A migration job was planned and its chunks sent to the workers.',
    detail: detail({
      ...job,
      format: ExportFormatSchema.optional(),
      chunks: z.int().nonnegative(),
      /** Records the planner found. */
      records: z.int().nonnegative(),
    }),
  },
  MigrationChunkCompleted: {
    description: 'A chunk of a migration was written; `done` of `total` chunks are now counted.',
    detail: detail({
      jobId: z.string().min(1),
      chunkIndex: z.int().nonnegative(),
      ...counts,
      done: z.int().nonnegative(),
      total: z.int().nonnegative(),
    }),
  },
  MigrationChunkFailed: {
    description:
      'A chunk of a migration failed for good (its message was dead-lettered or it cannot be read).',
    detail: detail({ jobId: z.string().min(1), chunkIndex: z.int().nonnegative(), reason: z.string() }),
  },
  MigrationCompleted: {
    description:
      'A migration was verified and its alias switched to the new collection (a dry run: only verified).',
    detail: detail({ ...job, reportKey: z.string().min(1), ...counts }),
  },
  MigrationFailed: {
    description:
      'A migration ended without switching its alias; `reason` says why, the report says what was rejected.',
    detail: detail({ ...job, reportKey: z.string().min(1), ...counts, reason: z.string() }),
  },
  MigrationRolledBack: {
    description: "A migration's alias was switched back to the collection it served before.",
    detail: detail({ jobId: z.string().min(1), target: z.string().min(1), collection: z.string().min(1) }),
  },
  CollectionDeleted: {
    description: 'A collection was deleted from Qdrant with its points (an alias is not a collection).',
    detail: detail({ collection: z.string().min(1) }),
  },
  ManagerStarted: {
    description: 'A manager was started: its routes answer, its queues are consumed again.',
    detail: detail({ managerId: ManagerIdSchema, by: z.string().min(1), at: z.iso.datetime() }),
  },
  ManagerStopped: {
    description:
      'A manager was stopped: its routes answer 503, its queues keep their messages until it starts.',
    detail: detail({ managerId: ManagerIdSchema, by: z.string().min(1), at: z.iso.datetime() }),
  },
  ManagerFailed: {
    description:
      'A manager hit an error it cannot recover from by itself; the coordinator marks it `failed`.',
    detail: detail({ managerId: ManagerIdSchema, error: z.string().min(1), at: z.iso.datetime() }),
  },
  ManagerHealthChanged: {
    description: "The health sweep found a manager's health changed (`from` is absent the first time).",
    detail: detail({
      managerId: ManagerIdSchema,
      from: z.enum(['healthy', 'degraded', 'unhealthy']).optional(),
      to: z.enum(['healthy', 'degraded', 'unhealthy']),
      /** The checks that are not healthy, with what they said. */
      failing: z.array(
        z.strictObject({ name: z.string(), status: z.string(), detail: z.string().optional() }),
      ),
      at: z.iso.datetime(),
    }),
  },
  SystemCriticalDetected: {
    description: 'A manager the platform cannot run without (it cannot be stopped) is unhealthy.',
    detail: detail({
      managers: z.array(ManagerIdSchema).min(1),
      reason: z.string().min(1),
      at: z.iso.datetime(),
    }),
  },
  ConfigChanged: {
    description: "A manager's configuration was replaced; `fields` lists what changed.",
    detail: detail({
      managerId: ManagerIdSchema,
      version: z.int().positive(),
      by: z.string().min(1),
      fields: z.array(z.string()),
      at: z.iso.datetime(),
    }),
  },
  PlanIndexed: {
    description: 'A plan was parsed and its tasks indexed (only the changed tasks were embedded).',
    detail: detail({
      planId: z.string().min(1),
      tasks: z.int().nonnegative(),
      added: z.int().nonnegative(),
      updated: z.int().nonnegative(),
      removed: z.int().nonnegative(),
      unchanged: z.int().nonnegative(),
    }),
  },
  TasksChanged: {
    description:
      "A plan's tasks changed: added, updated or removed (by indexing or deleting it); not published when none did.",
    detail: detail({
      planId: z.string().min(1),
      added: z.int().nonnegative(),
      updated: z.int().nonnegative(),
      removed: z.int().nonnegative(),
    }),
  },
  DependenciesIndexed: {
    description:
      "A project's dependency manifests were parsed and stored; `conflicts` counts the packages it declares at versions incompatible with another declaration (its own or another project's).",
    detail: detail({
      project: z.string().min(1),
      files: z.array(z.string().min(1)),
      /** Declarations of its manifests (a package declared twice counts twice). */
      packages: z.int().nonnegative(),
      conflicts: z.int().nonnegative(),
    }),
  },
  DependenciesRejected: {
    description:
      'A manifest uploaded under `dependencies/` was not indexed: its key, file or content is invalid (`field` names the file and line or key, as the API answers).',
    detail: detail({
      /** The object's key in the exports bucket. */
      key: z.string().min(1),
      /** Absent when the key names no valid project. */
      project: z.string().min(1).optional(),
      field: z.string().min(1),
      reason: z.string().min(1),
    }),
  },
  NotificationFailed: {
    description:
      'A notification was given up: its channel refused it for good, or it failed every attempt (its message is then dead-lettered).',
    detail: detail({
      deliveryId: z.string().min(1),
      subscriptionId: z.string().min(1),
      channel: z.enum(['webhook', 'email']),
      /** The event it notified of (its id and type). */
      eventId: z.string().min(1),
      eventType: z.string().min(1),
      attempts: z.int().positive(),
      error: z.string().min(1),
      at: z.iso.datetime(),
    }),
  },
  OperatorNotice: {
    description:
      "Someone (a user, or a workflow through the notifications manager's `notify` action) asked for operators to be told something; the default subscription mails it.",
    detail: detail({
      ...NoticeFieldsSchema,
      /** Who asked (a user's `sub`; a workflow's task: its execution). */
      by: z.string().min(1),
    }),
  },
  BackupCompleted: {
    description:
      'A backup was stored: its collections as gzipped JSONL and the plan registry, under its manifest.',
    detail: detail({
      backupId: z.string().min(1),
      trigger: z.enum(['action', 'schedule']),
      manifestKey: z.string().min(1),
      collections: z.array(
        z.strictObject({
          name: z.string().min(1),
          points: z.int().nonnegative(),
          bytes: z.int().nonnegative(),
        }),
      ),
      /** Points of every collection. */
      points: z.int().nonnegative(),
    }),
  },
  BackupFailed: {
    description: 'A backup could not be made; what it had stored is deleted.',
    detail: detail({
      backupId: z.string().min(1),
      trigger: z.enum(['action', 'schedule']),
      reason: z.string().min(1),
    }),
  },
  RestoreStarted: {
    description:
      "A backup's collection was decompressed and checked, and handed to a migration (`jobId`): its MigrationCompleted or MigrationFailed ends the restore.",
    detail: detail({
      restoreId: z.string().min(1),
      backupId: z.string().min(1),
      collection: z.string().min(1),
      /** The alias the migration switches. */
      target: z.string().min(1),
      jobId: z.string().min(1),
      points: z.int().nonnegative(),
    }),
  },
  RestoreFailed: {
    description:
      'A restore failed before its migration started (the backup is gone, or its object is corrupt).',
    detail: detail({
      restoreId: z.string().min(1),
      backupId: z.string().min(1),
      collection: z.string().min(1),
      target: z.string().min(1),
      reason: z.string().min(1),
    }),
  },
  ErrorCatalogued: {
    description:
      'A failure of a new kind entered the error catalogue: its fingerprint groups every failure with the same normalized message, code and origin.',
    detail: detail({
      fingerprint: z.string().min(1),
      /** The normalized message (values replaced by placeholders). */
      message: z.string().min(1),
      code: z.string().min(1),
      /** The function, manager or dead-letter queue it came from. */
      origin: z.string().min(1),
    }),
  },
  ErrorReopened: {
    description: 'A failure the catalogue had marked resolved happened again: its entry is open again.',
    detail: detail({
      fingerprint: z.string().min(1),
      message: z.string().min(1),
      code: z.string().min(1),
      origin: z.string().min(1),
      /** Occurrences counted, this one included. */
      count: z.int().positive(),
      /** When it had been resolved. */
      resolvedAt: z.iso.datetime(),
    }),
  },
  ApiRequestFailed: {
    description:
      "The HTTP API answered a request with a 5xx status (from the API's access log): a function failed, timed out or answered 5xx, or the integration could not be invoked.",
    detail: detail({
      /** API Gateway's request id: the request's correlation id unless the caller sent `x-correlation-id`. */
      requestId: z.string().min(1),
      /** `GET /api/v1/vectors/{id}`, or `$default` for a request no route takes. */
      routeKey: z.string().min(1),
      status: z.int().min(500).max(599),
      /** The function the route is integrated with, when the route table names one. */
      function: z.string().min(1).optional(),
      /** API Gateway's integration error message (a Lambda error, a timeout), when there was one. */
      integrationError: z.string().min(1).optional(),
      /** API Gateway's own error message, when it answered the error itself. */
      error: z.string().min(1).optional(),
      latencyMs: z.int().nonnegative().optional(),
      /** When API Gateway received the request. */
      at: z.iso.datetime(),
    }),
  },
  ApiAccessDenied: {
    description:
      'The HTTP API answered 401 or 403 to one client (by `ip`, and `sub` when a token was verified), `count` times between `firstAt` and `lastAt`, within one batch of its access log: one event per client and status per batch.',
    detail: detail({
      ip: z.string().min(1),
      /** The verified token's subject (403 after the role check); absent for a missing or invalid token. */
      sub: z.string().min(1).optional(),
      status: z.union([z.literal(401), z.literal(403)]),
      count: z.int().positive(),
      firstAt: z.iso.datetime(),
      lastAt: z.iso.datetime(),
      /** The distinct route keys refused, at most 10 (the first ones seen). */
      routes: z.array(z.string().min(1)).min(1).max(10),
      /** Request ids of the refused requests, at most 5 (the first ones seen). */
      sampleRequestIds: z.array(z.string().min(1)).min(1).max(5),
      /** The distinct user agents seen, at most 5 (the first ones). */
      userAgents: z.array(z.string().min(1)).max(5),
    }),
  },
  TemplateSaved: {
    description: 'A plan or task template was created (`created`) or replaced; `version` is its new version.',
    detail: detail({
      templateId: z.string().min(1),
      kind: z.enum(['plan', 'task']),
      version: z.int().positive(),
      created: z.boolean(),
    }),
  },
  TemplateDeleted: {
    description: 'A template was deleted (plans instantiated from it stay).',
    detail: detail({ templateId: z.string().min(1) }),
  },
  TemplateInstantiated: {
    description:
      'A plan template was rendered and the plan indexed through the roadmap manager (which published PlanIndexed); `tasks` counts its tasks.',
    detail: detail({
      templateId: z.string().min(1),
      planId: z.string().min(1),
      tasks: z.int().nonnegative(),
    }),
  },
  WebhookSecretsRotated: {
    description:
      "Webhook subscriptions' signing secrets were replaced; deliveries are signed with the new and the previous secret until `previousValidUntil` (docs/api.md).",
    detail: detail({
      trigger: z.enum(['action', 'schedule']),
      subscriptionIds: z.array(z.string().min(1)).min(1),
      previousValidUntil: z.iso.datetime(),
    }),
  },
  SecurityAlert: {
    description:
      'The security manager saw something an operator should look at: `access-denied-burst` is one client refused (401/403) at least the configured number of times within the window.',
    detail: detail({
      kind: z.literal('access-denied-burst'),
      /** The client's address. */
      ip: z.string().min(1),
      /** The verified subject of the refused requests, when there was one. */
      sub: z.string().min(1).optional(),
      /** Refusals counted in the window. */
      count: z.int().positive(),
      windowMinutes: z.int().positive(),
      /** The audit entry that records it. */
      auditId: z.string().min(1),
      at: z.iso.datetime(),
    }),
  },
  WorkflowExecutionStarted: {
    description:
      'A workflow execution started (Step Functions in AWS, the local engine on a laptop); `executionId` is its id in the API.',
    detail: detail({ ...workflowExecution, startedAt: z.iso.datetime() }),
  },
  WorkflowExecutionSucceeded: {
    description: 'A workflow execution ended with SUCCEEDED.',
    detail: detail({ ...workflowExecution, ...workflowEnd }),
  },
  WorkflowExecutionFailed: {
    description:
      "A workflow execution ended FAILED or TIMED_OUT (`status`), with Step Functions' error name and cause.",
    detail: detail({
      ...workflowExecution,
      ...workflowEnd,
      status: z.enum(['FAILED', 'TIMED_OUT']),
      error: z.string().max(256).optional(),
      cause: z.string().max(2_000).optional(),
    }),
  },
  WorkflowExecutionAborted: {
    description: 'A workflow execution was stopped (ABORTED) before it ended.',
    detail: detail({
      ...workflowExecution,
      ...workflowEnd,
      error: z.string().max(256).optional(),
      cause: z.string().max(2_000).optional(),
    }),
  },
} as const satisfies Record<string, { description: string; detail: z.ZodType }>;

/** The legacy system's event names and the types that carry their meaning here. */
export const LEGACY_NAMES = {
  'manager.started': 'ManagerStarted',
  'manager.stopped': 'ManagerStopped',
  'manager.error': 'ManagerFailed',
  'system.critical': 'SystemCriticalDetected',
} as const satisfies Record<string, keyof typeof EVENTS>;

export type EventType = keyof typeof EVENTS;
/** The detail a publisher gives (without `schemaVersion`, `correlationId` and `actor`: the publisher adds them). */
export type EventDetail<T extends EventType> = Omit<
  z.input<(typeof EVENTS)[T]['detail']>,
  'schemaVersion' | 'correlationId' | 'actor'
>;
/** The detail a consumer reads. */
export type ParsedDetail<T extends EventType> = z.output<(typeof EVENTS)[T]['detail']>;

export const EVENT_TYPES = Object.keys(EVENTS) as EventType[];

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENTS, value);
}
