import * as z from 'zod';
import {
  IndexRequestSchema,
  IndexResultSchema,
  ProjectListSchema,
  ProjectPathSchema,
  ReportQuerySchema,
  ReportSchema,
} from '../dependencies/model.ts';
import {
  ErrorEntrySchema,
  ErrorPageSchema,
  ErrorQuerySchema,
  FingerprintPathSchema,
  SimilarErrorsSchema,
  SimilarQuerySchema,
} from '../error-catalogue/model.ts';
import { EVENT_LOG_DAYS, EventQuerySchema } from '../events/log.ts';
import { ConfigBodySchema, HistoryQuerySchema, VersionsQuerySchema } from '../managers/api-schemas.ts';
import { HealthSchema as ManagerHealthSchema, MetricsSchema, StatusSchema } from '../managers/contract.ts';
import { STOPPED_RETRY_AFTER_SECONDS } from '../managers/lifecycle.ts';
import { MANAGER_ACTIONS, MANAGER_IDS, type ManagerId, ManagerIdSchema } from '../managers/specs.ts';
import { CreateMigrationBodySchema, JobPathSchema, ListQuerySchema } from '../migrations/model.ts';
import {
  DeliveryListSchema,
  DeliveryQuerySchema,
  SavedSubscriptionSchema,
  SubscriptionAnswerSchema,
  SubscriptionInputSchema,
  SubscriptionListSchema,
  SubscriptionPathSchema,
} from '../notifications/model.ts';
import {
  IndexPlanBodySchema,
  IndexPlanQuerySchema,
  MAX_PLAN_BYTES,
  PlanPathSchema,
  PlanQuerySchema,
  SearchTasksBodySchema,
} from '../plans/schemas.ts';
import { AuditPageSchema, AuditQuerySchema } from '../security/model.ts';
import { UserPageSchema, UsersQuerySchema } from '../security/users.ts';
import {
  InstantiatedSchema,
  InstantiateRequestSchema,
  RenderedSchema,
  RenderRequestSchema,
  SuggestionsSchema,
  SuggestRequestSchema,
  TemplateAnswerSchema,
  TemplateInputSchema,
  ListQuerySchema as TemplateListQuerySchema,
  TemplateListSchema,
  TemplatePathSchema,
  TemplateReplaceSchema,
} from '../templates/model.ts';
import {
  BatchBodySchema,
  CollectionPathSchema,
  CollectionQuerySchema,
  CreateCollectionBodySchema,
  DeleteBodySchema,
  PointPathSchema,
  PointQuerySchema,
  SearchBodySchema,
  UpsertBodySchema,
} from '../vectors/schemas.ts';
import {
  AllExecutionsQuerySchema,
  AllExecutionsSchema,
  ExecuteBodySchema,
  ExecutionAnswerSchema,
  ExecutionListSchema,
  ExecutionStartedSchema,
  ExecutionsQuerySchema,
  StopBodySchema,
  WorkflowAnswerSchema,
  WorkflowInputSchema,
  WorkflowListSchema,
  WorkflowPathSchema,
} from '../workflows/model.ts';
import { DocsAssetPathSchema } from './docs-page.ts';
import {
  BatchResultSchema,
  CollectionListSchema,
  CollectionViewSchema,
  ConfigVersionListSchema,
  ConfigVersionSchema,
  DeletedCollectionSchema,
  DeletedPlanSchema,
  DeletedPointsSchema,
  ErrorBodySchema,
  EventListSchema,
  GatewayMessageSchema,
  HealthSchema,
  IndexReportSchema,
  ManagerActionResultSchema,
  ManagerDescriptionSchema,
  ManagerHistorySchema,
  ManagerListSchema,
  ManagersStatusSchema,
  MigrationJobSchema,
  MigrationJobViewSchema,
  MigrationListSchema,
  PlanListSchema,
  PlanViewSchema,
  PointViewSchema,
  ProgressViewSchema,
  RedriveResultSchema,
  SearchResultSchema,
  StatusReportSchema,
  TaskSearchResultSchema,
  UpsertResultSchema,
  VersionInfoSchema,
} from './responses.ts';
import { StatusPageAssetPathSchema } from './status-page.ts';

/**
 * What each HTTP function does, for the OpenAPI document (`infra/openapi.ts` joins it with the
 * manifest's routes, roles and throttles). Keyed by manifest function name; a function serving
 * several routes may describe each (`routes`). Request schemas are the very ones the handlers
 * parse with, so the document cannot promise what a handler refuses.
 */

/** A schema with the name it has under `components/schemas`. */
export interface NamedSchema {
  name: string;
  schema: z.ZodType;
}

const named = (name: string, schema: z.ZodType): NamedSchema => ({ name, schema });

export interface SuccessResponse {
  description: string;
  /** JSON body; absent for a body that is not JSON (`content`). */
  schema?: NamedSchema;
  /** A non-JSON body: its media type and a description. */
  content?: { type: string; description: string };
  headers?: Record<string, string>;
}

/**
 * Errors a route gives beyond those every route may (429, 500, 503) and those that follow from its
 * declaration (401/403 for a role, 400 for parameters or a body, 413/415 for a JSON body), each
 * with when it happens; a 403 here is one beyond the route's role (added to the role's).
 */
export type ErrorStatus = 400 | 403 | 404 | 409 | 502;

export interface OperationSpec {
  /** The function's name unless it serves several routes. */
  operationId?: string;
  summary: string;
  description: string;
  tag:
    | 'platform'
    | 'docs'
    | 'vectors'
    | 'plans'
    | 'tasks'
    | 'migrations'
    | 'events'
    | 'managers'
    | 'monitoring'
    | 'notifications'
    | 'dependencies'
    | 'errors'
    | 'templates'
    | 'workflows'
    | 'security';
  path?: z.ZodObject;
  query?: z.ZodObject;
  /** The request body by media type (JSON bodies also get 413 and 415). */
  /** `optional`: the request may have no body (an action without input). */
  body?: { json?: NamedSchema; raw?: { types: readonly string[]; description: string }; optional?: boolean };
  responses: Record<number, SuccessResponse>;
  errors?: Partial<Record<ErrorStatus, string>>;
  deprecated?: boolean;
}

export type OperationEntry = OperationSpec | { routes: Record<string, OperationSpec> };

const QDRANT_DOWN = 'Qdrant (or the embedder) failed or is unreachable';
const STATE_DOWN = 'the state store (DynamoDB) or the exports bucket failed';
const LOCATION = { location: 'The URL of the resource' };

const collectionMissing = 'the collection does not exist (issue field `collection`)';

const upsert: OperationSpec = {
  summary: 'Upsert points given as vectors or as text to embed',
  description:
    'Writes 1–1000 points; each has exactly one of `vector` (the collection’s size) or `text` (embedded with the configured embedder, into a collection that records the same model). Validated and embedded in full before the first write: a refused request changes nothing. Answers the caller’s ids in request order.',
  tag: 'vectors',
  body: { json: named('UpsertBody', UpsertBodySchema) },
  responses: { 200: { description: 'Points written', schema: named('UpsertResult', UpsertResultSchema) } },
  errors: { 400: 'a point is invalid (issue field `points.<i>…`)', 404: collectionMissing, 502: QDRANT_DOWN },
};

const jobPath = JobPathSchema;

// ---------------------------------------------------------------- managers

const managerId = ManagerIdSchema.meta({ description: 'A manager id' });
/** The handlers take any id of 1–64 characters and answer 404 for an unknown one. */
const ManagerPathSchema = z.object({ id: managerId });
const actionList = MANAGER_IDS.flatMap((id) => {
  const names = Object.keys(MANAGER_ACTIONS[id]);
  return names.length > 0 ? [`${id}: ${names.join(', ')}`] : [];
}).join('; ');
const ActionPathSchema = z.object({
  id: managerId,
  action: z
    .string()
    .min(1)
    .max(64)
    .meta({
      description: `An action of the manager (${actionList})`,
      examples: [...new Set(MANAGER_IDS.flatMap((id) => Object.keys(MANAGER_ACTIONS[id])))],
    }),
});
const ManagerActionInputSchema = z.record(z.string(), z.unknown()).meta({
  description:
    "The action's input, checked against the action's own schema (`GET /managers/{id}` lists it as `actions[].input`): `reindex` `{planId?}`, `redrive` and `rollback` `{jobId}`, `sweep` `{}`. No body is `{}`.",
});

/** A 503: the platform's error (with Retry-After), or API Gateway's for a function past its timeout. */
const UNAVAILABLE = named('Unavailable', z.union([ErrorBodySchema, GatewayMessageSchema]));

const MANAGER_MISSING = 'no such manager (issue field `id`)';
const NO_ANSWER =
  "the manager's contract function failed, answered outside the contract, or did not answer within the coordinator's `checkTimeoutMs`";
const CONCURRENT = 'another start or stop of this manager happened at the same time (issue field `id`)';
const managerStatus = named('ManagerStatus', StatusSchema);

const managers: OperationEntry = {
  routes: {
    'GET /api/v1/managers': {
      operationId: 'listManagers',
      summary: 'The managers',
      description:
        'Every manager with its lifecycle status (`running`, `stopped`, `starting`, `stopping`, `failed`).',
      tag: 'managers',
      responses: { 200: { description: 'Managers', schema: named('ManagerList', ManagerListSchema) } },
      errors: { 502: STATE_DOWN },
    },
    'GET /api/v1/managers/status': {
      operationId: 'managersStatus',
      summary: 'Every manager’s status and live health',
      description:
        'Asks every manager for its health at once, each within the coordinator’s `checkTimeoutMs`: a manager that does not answer in time is `unhealthy` (check `contract`), not an error.',
      tag: 'managers',
      responses: {
        200: { description: 'Status and health', schema: named('ManagersStatus', ManagersStatusSchema) },
      },
      errors: { 502: STATE_DOWN },
    },
    'GET /api/v1/managers/{id}': {
      operationId: 'describeManager',
      summary: 'A manager: what it owns, emits, consumes, its actions and configuration schema',
      description:
        'The manager’s own description (functions, routes, queues, rules, schedules, collections; events; actions with their role and input schema; the JSON Schema of its configuration) and its lifecycle status.',
      tag: 'managers',
      path: ManagerPathSchema,
      responses: {
        200: { description: 'The manager', schema: named('ManagerDescription', ManagerDescriptionSchema) },
      },
      errors: { 404: MANAGER_MISSING, 502: NO_ANSWER },
    },
    'GET /api/v1/managers/{id}/status': {
      operationId: 'managerStatus',
      summary: 'A manager’s lifecycle status',
      description:
        '`since: null`: running since it was deployed, never stopped. `lastError` is the last failure.',
      tag: 'managers',
      path: ManagerPathSchema,
      responses: { 200: { description: 'Its status', schema: managerStatus } },
      errors: { 404: MANAGER_MISSING, 502: STATE_DOWN },
    },
    'GET /api/v1/managers/{id}/history': {
      operationId: 'managerHistory',
      summary: 'A manager’s lifecycle transitions',
      description: 'The latest first (`limit` 1–100, default 20); transitions are kept 90 days.',
      tag: 'managers',
      path: ManagerPathSchema,
      query: HistoryQuerySchema,
      responses: {
        200: { description: 'Transitions', schema: named('ManagerHistory', ManagerHistorySchema) },
      },
      errors: { 404: MANAGER_MISSING, 502: STATE_DOWN },
    },
    'GET /api/v1/managers/{id}/health': {
      operationId: 'managerHealth',
      summary: 'A manager’s health, checked now',
      description:
        'Its checks (`healthy`, `degraded`, `unhealthy`, each timed) and the worst of them. A manager that does not answer within `checkTimeoutMs` is `unhealthy` (check `contract`), not an error.',
      tag: 'managers',
      path: ManagerPathSchema,
      responses: { 200: { description: 'Its health', schema: named('ManagerHealth', ManagerHealthSchema) } },
      errors: { 404: MANAGER_MISSING },
    },
    'GET /api/v1/managers/{id}/metrics': {
      operationId: 'managerMetrics',
      summary: 'A manager’s figures',
      description:
        'Per function it owns: invocations, errors, throttles and duration percentiles over the monitoring manager’s `windowMinutes` (CloudWatch); and the manager’s own gauges.',
      tag: 'managers',
      path: ManagerPathSchema,
      responses: { 200: { description: 'Its figures', schema: named('ManagerMetrics', MetricsSchema) } },
      errors: { 404: MANAGER_MISSING, 502: NO_ANSWER },
    },
    'POST /api/v1/managers/{id}/start': {
      operationId: 'startManager',
      summary: 'Start a manager',
      description:
        '`starting`; the manager checks its dependencies (it stays `stopped`, with the reason as `lastError`, when one is unhealthy: 503); its queues’ event source mappings are enabled (the messages that waited are processed); then `running` and `ManagerStarted`. Starting a running manager changes nothing; starting a `failed` one starts it again.',
      tag: 'managers',
      path: ManagerPathSchema,
      responses: {
        200: { description: 'Its status', schema: managerStatus },
        503: {
          description: `SERVICE_UNAVAILABLE: the manager cannot start, a dependency is unhealthy (issue fields \`checks.<name>\`); try again after \`Retry-After\` (30 s). Or the function ran past its timeout: API Gateway’s \`{"message":"Service Unavailable"}\``,
          schema: UNAVAILABLE,
          headers: { 'retry-after': 'Seconds to wait' },
        },
      },
      errors: { 404: MANAGER_MISSING, 409: CONCURRENT, 502: NO_ANSWER },
    },
    'POST /api/v1/managers/{id}/stop': {
      operationId: 'stopManager',
      summary: 'Stop a manager',
      description: `\`stopping\` (its routes answer 503 with \`Retry-After: ${STOPPED_RETRY_AFTER_SECONDS}\` from then on, within 5 s everywhere; its scheduled runs are skipped); its queues’ event source mappings are disabled (messages wait in the queues); then \`stopped\` and \`ManagerStopped\`. Stopping a stopped manager changes nothing. A stop that fails leaves it \`failed\`.`,
      tag: 'managers',
      path: ManagerPathSchema,
      responses: { 200: { description: 'Its status', schema: managerStatus } },
      errors: {
        404: MANAGER_MISSING,
        409: `the manager cannot be stopped (central-coordinator, api-gateway), or ${CONCURRENT}`,
        502: NO_ANSWER,
      },
    },
    'POST /api/v1/managers/{id}/actions/{action}': {
      operationId: 'runManagerAction',
      summary: 'Run an action of a manager',
      description:
        'Each action names the role it needs, stricter than the route’s `writer` for most: `reindex` (roadmap) needs `writer`; `sweep` (central-coordinator), `redrive` and `rollback` (migration) need `admin`, else `403 FORBIDDEN`. The body is the action’s input; the action’s own errors are answered as it gives them.',
      tag: 'managers',
      path: ActionPathSchema,
      body: { json: named('ManagerActionInput', ManagerActionInputSchema), optional: true },
      responses: {
        200: {
          description: 'The action’s result',
          schema: named('ManagerActionResult', ManagerActionResultSchema),
        },
        503: {
          description: `SERVICE_UNAVAILABLE: the manager is stopped (or stopping, starting) and runs no action until started; try again after \`Retry-After\` (${STOPPED_RETRY_AFTER_SECONDS} s). Or the function ran past its timeout: API Gateway’s \`{"message":"Service Unavailable"}\``,
          schema: UNAVAILABLE,
          headers: { 'retry-after': 'Seconds to wait' },
        },
      },
      errors: {
        400: 'the input fails the action’s schema (issue fields `input.<field>`)',
        404: 'no such manager (issue field `id`), action (issue field `action`), or what the action names (`input.planId`, a migration job)',
        409: 'the action’s own conflict (`redrive`: no chunk left to send; `rollback`: the job cannot be rolled back)',
        502: NO_ANSWER,
      },
    },
  },
};

const subscriptionPath = SubscriptionPathSchema.required();
const savedSubscription = named('SavedSubscription', SavedSubscriptionSchema);
const subscriptionInput = named('SubscriptionInput', SubscriptionInputSchema);
const SUBSCRIPTION_INVALID =
  'a field is invalid (issue field: `pattern` with where the pattern is wrong, `channel.url` for a refused target or a host that does not resolve, `channel.to.0`, `secret`…)';

const notifications: OperationEntry = {
  routes: {
    'GET /api/v1/notifications/subscriptions': {
      operationId: 'listSubscriptions',
      summary: 'Notification subscriptions',
      description: 'Every subscription (the default one is stored on first use). Secrets are never answered.',
      tag: 'notifications',
      responses: {
        200: { description: 'Subscriptions', schema: named('SubscriptionList', SubscriptionListSchema) },
      },
      errors: { 502: STATE_DOWN },
    },
    'POST /api/v1/notifications/subscriptions': {
      operationId: 'createSubscription',
      summary: 'Subscribe a webhook or email addresses to events matching a pattern',
      description:
        'An EventBridge pattern and a channel. A webhook target must resolve to public addresses only (loopback too on a local runtime that allows it); without `secret`, the signing secret is made and answered this once.',
      tag: 'notifications',
      body: { json: subscriptionInput },
      responses: { 201: { description: 'The subscription (and its new secret)', schema: savedSubscription } },
      errors: { 400: SUBSCRIPTION_INVALID, 502: 'the state store or Secrets Manager failed' },
    },
    'GET /api/v1/notifications/subscriptions/{id}': {
      operationId: 'getSubscription',
      summary: 'A subscription',
      description: 'Without its secret.',
      tag: 'notifications',
      path: subscriptionPath,
      responses: {
        200: {
          description: 'The subscription',
          schema: named('SubscriptionAnswer', SubscriptionAnswerSchema),
        },
      },
      errors: { 404: 'no such subscription (issue field `id`)', 502: STATE_DOWN },
    },
    'PUT /api/v1/notifications/subscriptions/{id}': {
      operationId: 'replaceSubscription',
      summary: 'Replace a subscription',
      description:
        'A webhook keeps its secret unless `secret` is given; one that becomes a webhook gets a new one (answered once).',
      tag: 'notifications',
      path: subscriptionPath,
      body: { json: subscriptionInput },
      responses: { 200: { description: 'The subscription (and a new secret)', schema: savedSubscription } },
      errors: {
        400: SUBSCRIPTION_INVALID,
        404: 'no such subscription (issue field `id`)',
        409: 'it was changed at the same time',
        502: 'the state store or Secrets Manager failed',
      },
    },
    'DELETE /api/v1/notifications/subscriptions/{id}': {
      operationId: 'deleteSubscription',
      summary: 'Delete a subscription and its secret',
      description: 'Notifications already queued for it are logged `skipped`.',
      tag: 'notifications',
      path: subscriptionPath,
      responses: { 204: { description: 'Deleted' } },
      errors: {
        404: 'no such subscription (issue field `id`)',
        502: 'the state store or Secrets Manager failed',
      },
    },
    'GET /api/v1/notifications/deliveries': {
      operationId: 'listDeliveries',
      summary: 'The delivery log',
      description:
        'One record per notification (an event to a subscription): status, attempts, the last attempt’s latency and answer; newest first, kept 14 days.',
      tag: 'notifications',
      query: DeliveryQuerySchema,
      responses: { 200: { description: 'Notifications', schema: named('DeliveryList', DeliveryListSchema) } },
      errors: { 400: 'a query parameter is invalid', 502: STATE_DOWN },
    },
  },
};

const managerConfig: OperationEntry = {
  routes: {
    'GET /api/v1/managers/{id}/config': {
      operationId: 'getManagerConfig',
      summary: 'A manager’s configuration',
      description:
        'The current version, with every default filled in; version 0 (the defaults) for a manager never configured.',
      tag: 'managers',
      path: ManagerPathSchema,
      responses: {
        200: { description: 'The current version', schema: named('ConfigVersion', ConfigVersionSchema) },
      },
      errors: { 404: 'no such manager (issue field `id`)', 502: STATE_DOWN },
    },
    'PUT /api/v1/managers/{id}/config': {
      operationId: 'putManagerConfig',
      summary: 'Replace a manager’s configuration',
      description:
        'Validated by the manager’s schema, stored as a new version (the configuration manager’s `historyLimit` latest are kept), and published as `ConfigChanged`. Managers read their configuration through a 30 s cache: a change reaches them within 30 s.',
      tag: 'managers',
      path: ManagerPathSchema,
      body: { json: named('ConfigBody', ConfigBodySchema) },
      responses: {
        200: { description: 'The new version', schema: named('ConfigVersion', ConfigVersionSchema) },
      },
      errors: {
        400: 'the configuration fails the manager’s schema (issue fields `config.<field>`)',
        404: 'no such manager (issue field `id`)',
        409: 'the stored version is not `expectedVersion` (issue field `expectedVersion`), or another version was stored at the same time',
        502: STATE_DOWN,
      },
    },
    'GET /api/v1/managers/{id}/config/versions': {
      operationId: 'listManagerConfigVersions',
      summary: 'A manager’s stored configuration versions',
      description:
        'Newest first (`limit` 1–1000, default 20): who stored each, when, and which fields it changed.',
      tag: 'managers',
      path: ManagerPathSchema,
      query: VersionsQuerySchema,
      responses: {
        200: { description: 'Versions', schema: named('ConfigVersionList', ConfigVersionListSchema) },
      },
      errors: { 404: 'no such manager (issue field `id`)', 502: STATE_DOWN },
    },
  },
};

const MANIFEST_INVALID =
  'the request or a manifest is invalid: issue field `files.0.name`…, or the file with its line (`go.mod:7`) or key (`package.json dependencies.left-pad`) and the reason';

const dependencyOperations: OperationEntry = {
  routes: {
    'POST /api/v1/dependencies': {
      operationId: 'indexDependencies',
      summary: "Index a project's dependency manifests",
      description:
        'package.json, package-lock.json, go.mod, requirements.txt and pyproject.toml (by file name, in any folder), all parsed before anything is stored: one bad file refuses the request. Replaces what the project held; answers the conflicts it takes part in and publishes DependenciesIndexed.',
      tag: 'dependencies',
      body: { json: named('IndexDependencies', IndexRequestSchema) },
      responses: {
        200: {
          description: 'The indexed project and its report',
          schema: named('DependenciesIndexed', IndexResultSchema),
        },
      },
      errors: { 400: MANIFEST_INVALID, 502: STATE_DOWN },
    },
    'GET /api/v1/dependencies': {
      operationId: 'listDependencyProjects',
      summary: 'Indexed projects',
      description: 'Each project with its files, declarations and installed versions counted.',
      tag: 'dependencies',
      responses: { 200: { description: 'Projects', schema: named('DependencyProjects', ProjectListSchema) } },
      errors: { 502: STATE_DOWN },
    },
    'GET /api/v1/dependencies/report': {
      operationId: 'dependencyReport',
      summary: 'Conflicts and duplicates',
      description:
        'Conflicts: a package declared at versions no one version satisfies (npm and Go by semver range intersection; PyPI where a pinned version decides it, the other pairs counted in `notCompared`). Duplicates: a package declared more than once in a project, or installed at several versions by its lockfile. With `project`, the conflicts it takes part in and its duplicates.',
      tag: 'dependencies',
      query: ReportQuerySchema,
      responses: { 200: { description: 'The report', schema: named('DependencyReport', ReportSchema) } },
      errors: {
        400: 'a query parameter is invalid',
        404: 'no such project (issue field `project`)',
        502: STATE_DOWN,
      },
    },
    'DELETE /api/v1/dependencies/{project}': {
      operationId: 'deleteDependencyProject',
      summary: "Forget a project's dependencies",
      description: 'Its record is deleted; reports no longer count it.',
      tag: 'dependencies',
      path: ProjectPathSchema.required(),
      responses: { 204: { description: 'Deleted' } },
      errors: { 404: 'no such project (issue field `project`)', 502: STATE_DOWN },
    },
  },
};

const errorPath = FingerprintPathSchema.required();
const errorMissing = 'no error of this fingerprint in the catalogue (issue field `fingerprint`)';

const errorOperations: OperationEntry = {
  routes: {
    'GET /api/v1/errors': {
      operationId: 'listErrors',
      summary: 'The error catalogue',
      description:
        'Failures grouped by fingerprint (normalized message, code and origin: the function, manager or dead-letter queue), most recently seen first: counts, first and last seen, the latest samples with their correlation ids. Filtered by `status` (open, resolved), `origin`, `code` and `since` (last seen at or after); `limit` 1–100 (default 50), then `next` as `cursor` for the next page.',
      tag: 'errors',
      query: ErrorQuerySchema,
      responses: { 200: { description: 'Entries', schema: named('ErrorPage', ErrorPageSchema) } },
      errors: { 400: 'a filter is invalid (issue field `query.status`, `query.since`…)', 502: STATE_DOWN },
    },
    'GET /api/v1/errors/{fingerprint}': {
      operationId: 'getError',
      summary: 'One error of the catalogue',
      description: 'Its counts, first and last seen, status and latest samples.',
      tag: 'errors',
      path: errorPath,
      responses: { 200: { description: 'The entry', schema: named('ErrorEntry', ErrorEntrySchema) } },
      errors: {
        400: 'not a fingerprint (issue field `path.fingerprint`)',
        404: errorMissing,
        502: STATE_DOWN,
      },
    },
    'GET /api/v1/errors/{fingerprint}/similar': {
      operationId: 'similarErrors',
      summary: 'Past errors like this one',
      description:
        'The entries whose embedded text (code, origin and normalized message) is nearest this one’s, best first, scoring at least the manager’s `similarScoreThreshold`; `limit` 1–50 (default `similarLimit`). The entry itself is left out.',
      tag: 'errors',
      path: errorPath,
      query: SimilarQuerySchema,
      responses: {
        200: { description: 'Similar errors', schema: named('SimilarErrors', SimilarErrorsSchema) },
      },
      errors: {
        400: 'not a fingerprint, or a bad `limit` (issue field `path.fingerprint`, `query.limit`)',
        404: errorMissing,
        502: QDRANT_DOWN,
      },
    },
  },
};

const TEMPLATE_INVALID =
  'the template is invalid: issue field `id`, `kind`, `variables.<i>.name`…, or `body` with the reason (a mustache parse error with its line and column, a partial, an undeclared variable, no task once rendered)';
const templateMissing = 'no template of this id (issue field `id`)';
const COLLECTION_CONFLICT =
  'the collection `templates` holds another embedding model (issue field `collection`: delete it, then run the `reindex` action)';
const templatePath = TemplatePathSchema.required();

const templateOperations: OperationEntry = {
  routes: {
    'POST /api/v1/templates': {
      operationId: 'createTemplate',
      summary: 'Create a plan or task template',
      description:
        'A markdown body with mustache variables (`{{name}}`, sections `{{#name}}…{{/name}}`; no partials, no HTML escaping), every variable it uses declared and every declared one used. Rendered with sample values (defaults, else the names) it must hold a task the plan parser reads. Embedded for `suggest`; publishes TemplateSaved.',
      tag: 'templates',
      body: { json: named('TemplateInput', TemplateInputSchema) },
      responses: {
        201: { description: 'Created (version 1)', schema: named('TemplateAnswer', TemplateAnswerSchema) },
      },
      errors: {
        400: TEMPLATE_INVALID,
        409: `a template of this id exists (issue field \`id\`), or ${COLLECTION_CONFLICT}`,
        502: QDRANT_DOWN,
      },
    },
    'GET /api/v1/templates': {
      operationId: 'listTemplates',
      summary: 'Templates',
      description: 'Every template without its body and variables, by id; `kind` and `tag` filter.',
      tag: 'templates',
      query: TemplateListQuerySchema,
      responses: { 200: { description: 'Templates', schema: named('TemplateList', TemplateListSchema) } },
      errors: { 400: 'a query parameter is invalid', 502: STATE_DOWN },
    },
    'POST /api/v1/templates/suggest': {
      operationId: 'suggestTemplates',
      summary: 'Templates closest to a description',
      description:
        "By vector search over the templates' title, description and tags (the configured embedder), best first, at least the manager's `minSuggestScore`; `kind` filters.",
      tag: 'templates',
      body: { json: named('SuggestTemplates', SuggestRequestSchema) },
      responses: {
        200: { description: 'Suggestions', schema: named('TemplateSuggestions', SuggestionsSchema) },
      },
      errors: { 400: 'the request is invalid', 409: COLLECTION_CONFLICT, 502: QDRANT_DOWN },
    },
    'GET /api/v1/templates/{id}': {
      operationId: 'getTemplate',
      summary: 'A template',
      description: 'With its body, variables and version.',
      tag: 'templates',
      path: templatePath,
      responses: {
        200: { description: 'The template', schema: named('TemplateAnswer', TemplateAnswerSchema) },
      },
      errors: { 404: templateMissing, 502: STATE_DOWN },
    },
    'PUT /api/v1/templates/{id}': {
      operationId: 'replaceTemplate',
      summary: 'Replace a template',
      description:
        'Its fields (validated as on create), its version one more; publishes TemplateSaved. Plans instantiated from it before are not changed.',
      tag: 'templates',
      path: templatePath,
      body: { json: named('TemplateReplace', TemplateReplaceSchema) },
      responses: { 200: { description: 'Replaced', schema: named('TemplateAnswer', TemplateAnswerSchema) } },
      errors: {
        400: TEMPLATE_INVALID,
        404: templateMissing,
        409: `replaced concurrently (read it again), or ${COLLECTION_CONFLICT}`,
        502: QDRANT_DOWN,
      },
    },
    'DELETE /api/v1/templates/{id}': {
      operationId: 'deleteTemplate',
      summary: 'Delete a template',
      description: 'Also from the suggestions; plans instantiated from it stay. Publishes TemplateDeleted.',
      tag: 'templates',
      path: templatePath,
      responses: { 204: { description: 'Deleted' } },
      errors: { 404: templateMissing, 502: QDRANT_DOWN },
    },
    'POST /api/v1/templates/{id}/render': {
      operationId: 'renderTemplate',
      summary: 'Render a template',
      description:
        'Its body with the given values (strings; defaults fill the others). 413 when the output could exceed the 5 MiB a plan may hold.',
      tag: 'templates',
      path: templatePath,
      body: { json: named('RenderTemplate', RenderRequestSchema) },
      responses: { 200: { description: 'The markdown', schema: named('RenderedTemplate', RenderedSchema) } },
      errors: {
        400: 'a required variable is missing or an unknown one given (issue field `variables.<name>`)',
        404: templateMissing,
        502: STATE_DOWN,
      },
    },
    'POST /api/v1/templates/{id}/instantiate': {
      operationId: 'instantiateTemplate',
      summary: 'Instantiate a plan template into an indexed plan',
      description:
        "Renders the plan template and indexes the markdown as plan `planId` through the roadmap manager's `index` action (as `POST /plans` would: PlanIndexed, its tasks searchable); 201 for a new plan, 200 when it replaced one. Publishes TemplateInstantiated. 503 while the roadmap manager is stopped.",
      tag: 'templates',
      path: templatePath,
      body: { json: named('InstantiateTemplate', InstantiateRequestSchema) },
      responses: {
        201: {
          description: 'The plan was indexed',
          schema: named('TemplateInstantiated', InstantiatedSchema),
          headers: LOCATION,
        },
        200: {
          description: 'The plan existed and was indexed again',
          schema: named('TemplateInstantiated', InstantiatedSchema),
          headers: LOCATION,
        },
      },
      errors: {
        400: 'a task template, a missing or unknown variable (`variables.<name>`), a bad `planId`, or a rendered plan with no task',
        404: templateMissing,
        409: 'the plan is being indexed by another request',
        502: QDRANT_DOWN,
      },
    },
  },
};

// ---------------------------------------------------------------- workflows

const WORKFLOW_INVALID =
  'the definition is not a valid workflow, each issue naming its field and state: `definition.States.<name>.Resource` for a Task that calls anything but a manager action `manager:<id>:<action>` (a Lambda ARN, a service integration, an activity) or an unknown manager or action, `definition.States.<name>.Next` for a transition to no state of its own branch, `definition.QueryLanguage` for JSONata, a state asl-validator refuses (its field), a distributed Map; or a bad `name` or `description`';
const TASK_ROLE =
  'a Task of the workflow calls a manager action whose role the token does not grant (issue field `definition.States.<name>.Resource`, e.g. `manager:backup:restore` needs admin): saving, running, stopping or deleting a workflow needs the role of every action it calls';
const TASK_ROLE_NEW_OR_OLD = `${TASK_ROLE}; a replace checks the current and the new definition`;
const WORKFLOW_ENGINE_DOWN =
  'Step Functions, IAM (the execution role) or the state store failed or is unreachable';
const workflowMissing = 'no workflow of this id (issue field `id`)';
const executionMissing = 'no such execution, or no workflow of its id (issue field `executionId`)';
const workflowPath = WorkflowPathSchema.pick({ id: true }).required();
const executionPath = WorkflowPathSchema.pick({ executionId: true }).required();
const workflowAnswer = named('WorkflowAnswer', WorkflowAnswerSchema);
const executionAnswer = named('ExecutionAnswer', ExecutionAnswerSchema);
const executionLocation = { location: 'The execution: `/api/v1/executions/{executionId}`' };

const workflowOperations: OperationEntry = {
  routes: {
    'GET /api/v1/workflows': {
      operationId: 'listWorkflows',
      summary: 'Workflows',
      description: 'Every workflow with its definition as written, by name.',
      tag: 'workflows',
      responses: { 200: { description: 'Workflows', schema: named('WorkflowList', WorkflowListSchema) } },
      errors: { 502: STATE_DOWN },
    },
    'POST /api/v1/workflows': {
      operationId: 'createWorkflow',
      summary: 'Create a workflow',
      description:
        'An Amazon States Language definition (JSONPath only) whose Task states call manager actions, and only them: `"Resource": "manager:<id>:<action>"`, the Task’s effective input (after InputPath and Parameters) being the action’s input; Retry and Catch see a stopped manager as the error `ManagerStopped`, an action’s refusal as its code (`VALIDATION_ERROR`, `NOT_FOUND`…). Validated before anything is stored; the caller needs the role of every action it calls. Creates its state machine (Step Functions in AWS, the local engine on a laptop) with an execution role allowed to invoke exactly the managers it calls. Names are unique (ignoring case).',
      tag: 'workflows',
      body: { json: named('WorkflowInput', WorkflowInputSchema) },
      responses: { 201: { description: 'Created (version 1)', schema: workflowAnswer, headers: LOCATION } },
      errors: {
        400: WORKFLOW_INVALID,
        403: TASK_ROLE,
        409: 'another workflow has this name (issue field `name`)',
        502: WORKFLOW_ENGINE_DOWN,
      },
    },
    'GET /api/v1/workflows/{id}': {
      operationId: 'getWorkflow',
      summary: 'A workflow',
      description: 'Its definition as written, the managers it calls, its state machine and version.',
      tag: 'workflows',
      path: workflowPath,
      responses: { 200: { description: 'The workflow', schema: workflowAnswer } },
      errors: { 404: workflowMissing, 502: STATE_DOWN },
    },
    'PUT /api/v1/workflows/{id}': {
      operationId: 'replaceWorkflow',
      summary: 'Replace a workflow',
      description:
        'Its name, description and definition, checked as on create; its execution role and state machine follow, its version one more. Executions already running go on with the definition they started with.',
      tag: 'workflows',
      path: workflowPath,
      body: { json: named('WorkflowInput', WorkflowInputSchema) },
      responses: { 200: { description: 'Replaced', schema: workflowAnswer } },
      errors: {
        400: WORKFLOW_INVALID,
        403: TASK_ROLE_NEW_OR_OLD,
        404: workflowMissing,
        409: 'another workflow has this name (issue field `name`), or it was replaced concurrently (read it again)',
        502: WORKFLOW_ENGINE_DOWN,
      },
    },
    'DELETE /api/v1/workflows/{id}': {
      operationId: 'deleteWorkflow',
      summary: 'Delete a workflow',
      description:
        'Its state machine (Step Functions ends its running executions at their next state transition), its execution role, then the workflow; the history of its executions goes with the state machine.',
      tag: 'workflows',
      path: workflowPath,
      responses: { 204: { description: 'Deleted' } },
      errors: { 403: TASK_ROLE, 404: workflowMissing, 502: WORKFLOW_ENGINE_DOWN },
    },
    'POST /api/v1/workflows/{id}/execute': {
      operationId: 'executeWorkflow',
      summary: 'Run a workflow',
      description:
        'Starts an execution with `input` (any JSON value, at most 256 KiB; `{}` without it or without a body) and answers at once, `RUNNING`; follow it at `Location`. Publishes WorkflowExecutionStarted, then Succeeded, Failed or Aborted when it ends.',
      tag: 'workflows',
      path: workflowPath,
      body: { json: named('ExecuteWorkflow', ExecuteBodySchema), optional: true },
      responses: {
        202: {
          description: 'Started',
          schema: named('ExecutionStarted', ExecutionStartedSchema),
          headers: executionLocation,
        },
      },
      errors: {
        400: 'the input is over 256 KiB as JSON (issue field `input`)',
        403: TASK_ROLE,
        404: workflowMissing,
        502: WORKFLOW_ENGINE_DOWN,
      },
    },
    'GET /api/v1/workflows/{id}/executions': {
      operationId: 'listExecutions',
      summary: 'A workflow’s executions',
      description:
        'Newest first, as Step Functions lists them; `status` filters, `limit` 1–100 (default 20), then `nextToken` as `nextToken` for the next page.',
      tag: 'workflows',
      path: workflowPath,
      query: ExecutionsQuerySchema,
      responses: {
        200: { description: 'One page of executions', schema: named('ExecutionList', ExecutionListSchema) },
      },
      errors: {
        400: '`nextToken` is not one this API answered (issue field `query.nextToken`)',
        404: workflowMissing,
        502: WORKFLOW_ENGINE_DOWN,
      },
    },
    'GET /api/v1/executions': {
      operationId: 'listAllExecutions',
      summary: 'The latest executions of every workflow',
      description:
        'Newest first, each with its workflow’s name (the status page lists the running ones: `status=RUNNING`); `status` filters, `limit` 1–100 (default 20) in all. No paging: for older ones, a workflow’s own list.',
      tag: 'workflows',
      query: AllExecutionsQuerySchema,
      responses: {
        200: { description: 'Executions, newest first', schema: named('AllExecutions', AllExecutionsSchema) },
      },
      errors: { 502: WORKFLOW_ENGINE_DOWN },
    },
    'GET /api/v1/executions/{executionId}': {
      operationId: 'getExecution',
      summary: 'An execution, with its history',
      description:
        'Its status (`RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`), input, output or error and cause, the states entered in order, and its history in Step Functions’ shape (GetExecutionHistory’s events: `type`, `id`, `previousEventId`, `timestamp` and the type’s details), oldest first, at most 1,000 events (`historyTruncated` beyond).',
      tag: 'workflows',
      path: executionPath,
      responses: { 200: { description: 'The execution', schema: executionAnswer } },
      errors: {
        400: 'not an execution id, `<workflow id>.<uuid>` (issue field `executionId`)',
        404: executionMissing,
        502: WORKFLOW_ENGINE_DOWN,
      },
    },
    'POST /api/v1/executions/{executionId}/stop': {
      operationId: 'stopExecution',
      summary: 'Stop an execution',
      description:
        'Stops a running execution (`ABORTED`, with the optional `error` and `cause`) and answers it; publishes WorkflowExecutionAborted.',
      tag: 'workflows',
      path: executionPath,
      body: { json: named('StopExecution', StopBodySchema), optional: true },
      responses: { 200: { description: 'The stopped execution', schema: executionAnswer } },
      errors: {
        400: 'not an execution id, `<workflow id>.<uuid>` (issue field `executionId`)',
        403: TASK_ROLE,
        404: executionMissing,
        409: 'the execution already ended (issue field `executionId`)',
        502: WORKFLOW_ENGINE_DOWN,
      },
    },
  },
};

const BASE_OPERATIONS: Record<string, OperationEntry> = {
  health: {
    summary: 'Liveness',
    description: 'Answers without touching any dependency and without loading configuration.',
    tag: 'platform',
    responses: { 200: { description: 'Alive', schema: named('Health', HealthSchema) } },
  },
  version: {
    summary: 'Service version, stage and embedding model',
    description: 'From the function’s environment only.',
    tag: 'platform',
    responses: { 200: { description: 'What is deployed', schema: named('VersionInfo', VersionInfoSchema) } },
  },
  status: {
    summary: 'Readiness of every dependency',
    description:
      'Pings Qdrant, the exports bucket, the migrations queue, the event bus and the state store concurrently, each within 3 s. `503` with the same body when one fails.',
    tag: 'platform',
    responses: {
      200: { description: 'Every dependency is ok', schema: named('StatusReport', StatusReportSchema) },
      503: {
        description: 'A dependency failed (`status: degraded`)',
        schema: named('StatusReport', StatusReportSchema),
      },
    },
  },
  openapi: {
    summary: 'This OpenAPI document',
    description: 'The OpenAPI 3.1 document of the API, generated from the manifest and the request schemas.',
    tag: 'docs',
    responses: {
      200: { description: 'The document', content: { type: 'application/json', description: 'OpenAPI 3.1' } },
    },
  },
  docs: {
    routes: {
      'GET /api/v1/docs': {
        operationId: 'docsPage',
        summary: 'Interactive API documentation',
        description:
          'Swagger UI, served from the platform itself (no CDN): loads `/api/v1/openapi.json`; "Authorize" takes a bearer access token for "Try it out".',
        tag: 'docs',
        responses: {
          200: { description: 'The page', content: { type: 'text/html', description: 'Swagger UI' } },
        },
      },
      'GET /api/v1/docs/{file}': {
        operationId: 'docsAsset',
        summary: 'An asset of the documentation page',
        description: 'Swagger UI’s script, style sheet and icons, and the page’s own script.',
        tag: 'docs',
        path: DocsAssetPathSchema,
        responses: {
          200: {
            description: 'The file',
            content: { type: 'application/javascript', description: 'or text/css, image/png' },
          },
        },
        errors: { 404: 'no such asset (issue field `path.file`)' },
      },
    },
  },
  listCollections: {
    summary: 'List collections and aliases',
    description: 'Collections by name, each with its aliases.',
    tag: 'vectors',
    responses: { 200: { description: 'Collections', schema: named('CollectionList', CollectionListSchema) } },
    errors: { 502: QDRANT_DOWN },
  },
  createCollection: {
    summary: 'Create a collection',
    description:
      'Vector size defaults to the embedder’s dimensions; a collection of the embedder’s size records its model, so text can be embedded into it.',
    tag: 'vectors',
    body: { json: named('CreateCollectionBody', CreateCollectionBodySchema) },
    responses: {
      201: {
        description: 'Created',
        schema: named('CollectionView', CollectionViewSchema),
        headers: LOCATION,
      },
    },
    errors: { 400: 'a field is invalid', 409: 'the collection already exists', 502: QDRANT_DOWN },
  },
  getCollection: {
    summary: 'Collection info',
    description: 'Points count, vector size, distance and the embedding model it records.',
    tag: 'vectors',
    path: CollectionPathSchema,
    responses: {
      200: { description: 'The collection', schema: named('CollectionView', CollectionViewSchema) },
    },
    errors: { 404: collectionMissing, 502: QDRANT_DOWN },
  },
  deleteCollection: {
    summary: 'Delete a collection',
    description: 'Deletes the collection and its points.',
    tag: 'vectors',
    path: CollectionPathSchema,
    responses: {
      200: { description: 'Deleted', schema: named('DeletedCollection', DeletedCollectionSchema) },
    },
    errors: { 404: collectionMissing, 502: QDRANT_DOWN },
  },
  upsert: {
    routes: {
      'POST /api/v1/vectors/upsert': upsert,
      'POST /api/v1/vectors/insert': {
        ...upsert,
        operationId: 'insert',
        summary: 'Upsert points (legacy name of /vectors/upsert)',
        deprecated: true,
      },
    },
  },
  search: {
    summary: 'Search by vector or by text',
    description:
      'Exactly one of `vector` or `text`; a Qdrant `filter` (its conditions are checked by Qdrant: a refused one is a 400 under `filter`). Best first.',
    tag: 'vectors',
    body: { json: named('SearchBody', SearchBodySchema) },
    responses: {
      200: { description: 'Hits, best first', schema: named('SearchResult', SearchResultSchema) },
    },
    errors: {
      400: 'a field is invalid, or Qdrant refused the filter',
      404: collectionMissing,
      502: QDRANT_DOWN,
    },
  },
  batch: {
    summary: 'Several searches and upserts in one call',
    description:
      'Operations (each a search or an upsert body with its `type`) run in order, each on its own: a failing one is reported in its slot and does not stop the others.',
    tag: 'vectors',
    body: { json: named('BatchBody', BatchBodySchema) },
    responses: {
      200: { description: 'One result per operation', schema: named('BatchResult', BatchResultSchema) },
    },
    errors: { 400: 'the envelope is invalid (not an operation: those fail in their slot)' },
  },
  getPoint: {
    summary: 'Retrieve a point by id',
    description: 'The caller’s id, mapped as upserts map it (`task-1`, `17`, a UUID).',
    tag: 'vectors',
    path: PointPathSchema,
    query: PointQuerySchema,
    responses: { 200: { description: 'The point', schema: named('PointView', PointViewSchema) } },
    errors: { 404: 'no such point (issue field `id`) or collection', 502: QDRANT_DOWN },
  },
  deletePoints: {
    routes: {
      'POST /api/v1/vectors/delete': {
        operationId: 'deletePoints',
        summary: 'Delete points by ids or by filter',
        description:
          'Exactly one of `ids` (1–1000) or `filter`. Answers how many points existed and were deleted.',
        tag: 'vectors',
        query: CollectionQuerySchema,
        body: { json: named('DeleteBody', DeleteBodySchema) },
        responses: { 200: { description: 'Deleted', schema: named('DeletedPoints', DeletedPointsSchema) } },
        errors: { 404: collectionMissing, 502: QDRANT_DOWN },
      },
      'DELETE /api/v1/vectors/{id}': {
        operationId: 'deletePoint',
        summary: 'Delete a point by id',
        description: 'Deleting an absent point is not an error (`deleted: 0`).',
        tag: 'vectors',
        path: PointPathSchema,
        query: CollectionQuerySchema,
        responses: { 200: { description: 'Deleted', schema: named('DeletedPoints', DeletedPointsSchema) } },
        errors: { 404: collectionMissing, 502: QDRANT_DOWN },
      },
    },
  },
  indexPlan: {
    summary: 'Index a markdown plan',
    description: `Raw markdown (\`text/markdown\`, \`text/plain\`, \`application/octet-stream\` for UTF-16 or Windows-1252) with \`?planId=\`, or JSON \`{planId, markdown | s3Key}\`. At most ${MAX_PLAN_BYTES} bytes. Re-indexing is incremental: only changed texts are embedded.`,
    tag: 'plans',
    query: IndexPlanQuerySchema,
    body: {
      json: named('IndexPlanBody', IndexPlanBodySchema),
      raw: {
        types: ['text/markdown', 'text/plain', 'application/octet-stream'],
        description: 'The plan’s markdown, with `?planId=`',
      },
    },
    responses: {
      200: { description: 'Re-indexed', schema: named('IndexReport', IndexReportSchema), headers: LOCATION },
      201: {
        description: 'Indexed for the first time',
        schema: named('IndexReport', IndexReportSchema),
        headers: LOCATION,
      },
    },
    errors: {
      400: 'a bad plan id, an empty plan, `planId` in the wrong place',
      404: 'the `s3Key` object does not exist',
      409: 'another request is writing this plan, or `roadmap_tasks` holds another model’s vectors',
      502: QDRANT_DOWN,
    },
  },
  listPlans: {
    summary: 'List indexed plans',
    description: 'Every indexed plan, by plan id.',
    tag: 'plans',
    responses: { 200: { description: 'Plans', schema: named('PlanList', PlanListSchema) } },
    errors: { 502: STATE_DOWN },
  },
  getPlan: {
    summary: 'A plan: headings, progress and a page of its tasks',
    description: 'In URLs a plan id’s `/` is written `~` (`plans~roadmap.md`).',
    tag: 'plans',
    path: PlanPathSchema,
    query: PlanQuerySchema,
    responses: { 200: { description: 'The plan', schema: named('PlanView', PlanViewSchema) } },
    errors: { 404: 'the plan is not indexed', 502: QDRANT_DOWN },
  },
  deletePlan: {
    summary: 'Delete a plan and its tasks',
    description: 'Its tasks, outline and record.',
    tag: 'plans',
    path: PlanPathSchema,
    responses: { 200: { description: 'Deleted', schema: named('DeletedPlan', DeletedPlanSchema) } },
    errors: { 404: 'the plan is not indexed', 409: 'another request is writing this plan', 502: QDRANT_DOWN },
  },
  planProgress: {
    summary: 'Declared against computed progress',
    description: 'Per heading and for the whole plan.',
    tag: 'plans',
    path: PlanPathSchema,
    responses: { 200: { description: 'Progress', schema: named('ProgressView', ProgressViewSchema) } },
    errors: { 404: 'the plan is not indexed', 502: STATE_DOWN },
  },
  searchTasks: {
    summary: 'Search plan tasks by meaning',
    description: 'Filtered by plan, status, heading, depth and priority. No plan indexed yet: no results.',
    tag: 'tasks',
    body: { json: named('SearchTasksBody', SearchTasksBodySchema) },
    responses: {
      200: { description: 'Tasks, best first', schema: named('TaskSearchResult', TaskSearchResultSchema) },
    },
    errors: { 400: 'a field is invalid', 502: QDRANT_DOWN },
  },
  createMigration: {
    summary: 'Start a migration of an uploaded export',
    description:
      'Plans the export (an object of the exports bucket) and fans its chunks out to workers. The same export version to the same target finds its existing job.',
    tag: 'migrations',
    body: { json: named('CreateMigrationBody', CreateMigrationBodySchema) },
    responses: {
      200: {
        description: 'The job this export version already has',
        schema: named('MigrationJob', MigrationJobSchema),
      },
      202: { description: 'A new job', schema: named('MigrationJob', MigrationJobSchema) },
    },
    errors: { 400: 'a field is invalid', 404: 'the export does not exist', 502: STATE_DOWN },
  },
  listEvents: {
    summary: 'The event log',
    description: `Every event of the platform's bus (\`docs/events.md\`) of the last ${EVENT_LOG_DAYS} days, newest first; by detail-type (\`type\`), \`source\` and time (\`since\`, ISO 8601).`,
    tag: 'events',
    query: EventQuerySchema,
    responses: { 200: { description: 'Events, newest first', schema: named('EventList', EventListSchema) } },
    errors: { 400: 'a query parameter is invalid', 502: STATE_DOWN },
  },
  listMigrations: {
    summary: 'List migration jobs',
    description: 'The latest first.',
    tag: 'migrations',
    query: ListQuerySchema,
    responses: { 200: { description: 'Jobs', schema: named('MigrationList', MigrationListSchema) } },
    errors: { 502: STATE_DOWN },
  },
  getMigration: {
    summary: 'A migration job',
    description: 'Status, counts, per-chunk progress and the report’s key.',
    tag: 'migrations',
    path: jobPath,
    responses: { 200: { description: 'The job', schema: named('MigrationJobView', MigrationJobViewSchema) } },
    errors: { 404: 'no such job', 502: STATE_DOWN },
  },
  rollbackMigration: {
    summary: 'Switch a migration’s alias back',
    description: 'To the collection it served before this migration, atomically.',
    tag: 'migrations',
    path: jobPath,
    responses: {
      200: { description: 'The rolled-back job', schema: named('MigrationJob', MigrationJobSchema) },
    },
    errors: {
      404: 'no such job',
      409: 'the job is not completed, was a dry run or the alias’s first migration, or the alias has moved since',
      502: QDRANT_DOWN,
    },
  },
  redriveMigration: {
    summary: 'Send a migration’s failed chunks again',
    description: 'Re-sends every chunk not yet counted, then removes the job’s dead letters.',
    tag: 'migrations',
    path: jobPath,
    responses: {
      200: { description: 'Chunks re-sent', schema: named('RedriveResult', RedriveResultSchema) },
    },
    errors: { 404: 'no such job', 409: 'no chunk left to send', 502: STATE_DOWN },
  },
  managersApi: managers,
  dependencyManifests: dependencyOperations,
  errorCatalogue: errorOperations,
  securityAudit: {
    routes: {
      'GET /api/v1/security/audit': {
        operationId: 'securityAudit',
        summary: 'The security audit log',
        description:
          'Admin actions (managers started and stopped, configuration changed, collections deleted, migrations started and rolled back, webhook secrets rotated) and bursts of refused requests, newest first: who (`actor`, `role`), from where (`sourceIp`), the request’s `correlationId`, the outcome and what was done (`detail`). Filtered by `kind`, `actor` and time (`since` inclusive, `until` exclusive); `limit` 1–500 (default 50), then `nextCursor` as `cursor` for the next page.',
        tag: 'security',
        query: AuditQuerySchema,
        responses: {
          200: { description: 'Entries, newest first', schema: named('AuditPage', AuditPageSchema) },
        },
        errors: { 400: 'a filter is invalid (issue field `query.kind`, `query.until`…)', 502: STATE_DOWN },
      },
      'GET /api/v1/security/users': {
        operationId: 'securityUsers',
        summary: 'The identity provider’s users and their roles',
        description:
          'The user pool’s people (Cognito in AWS; locally, everyone the local issuer gave a token to): `username`, Cognito’s `status`, `enabled`, `createdAt` and the `roles` their platform groups grant (`readonly` reader, `user` writer, `admin` admin). Machine clients are app clients, not users, and are not listed. `limit` 1–60 (default 60, Cognito’s page), then `cursor` as `cursor` for the next page.',
        tag: 'security',
        query: UsersQuerySchema,
        responses: { 200: { description: 'One page of users', schema: named('UserPage', UserPageSchema) } },
        errors: {
          400: '`limit` is out of range or `cursor` is not one this API answered (issue field `query.limit`, `query.cursor`)',
          502: 'Cognito failed or is unreachable',
        },
      },
    },
  },
  templates: templateOperations,
  workflows: workflowOperations,
  notificationSubscriptions: notifications,
  managerConfig,
  prometheusMetrics: {
    summary: 'Every manager’s metrics, for Prometheus',
    description:
      'The Prometheus text exposition format (0.0.4), every name prefixed `vector_platform_`: each manager’s lifecycle state and scrape errors, its functions’ invocations, errors, throttles and duration quantiles over the window, and its own gauges, labelled by `manager`. A manager that does not answer in time is `vector_platform_manager_scrape_errors 1`, not a failed scrape.',
    tag: 'monitoring',
    responses: {
      200: {
        description: 'The exposition',
        content: { type: 'text/plain; version=0.0.4', description: 'Prometheus text format' },
      },
    },
  },
  statusPage: {
    routes: {
      'GET /api/v1/status-page': {
        operationId: 'statusPage',
        summary: 'The status page',
        description:
          'A page served by the platform, offline, holding no data: it asks for an access token and shows, from the API, the managers (state, health, Start and Stop for an administrator), the migrations in progress, the running workflow executions, each plan’s progress and the latest events, refreshing itself every few seconds.',
        tag: 'platform',
        responses: {
          200: { description: 'The page', content: { type: 'text/html', description: 'The status page' } },
        },
      },
      'GET /api/v1/status-page/{file}': {
        operationId: 'statusPageAsset',
        summary: 'A file of the status page',
        description:
          'Its script and style sheet, named by their content’s hash (so cached for good; the page, never cached, links the current ones).',
        tag: 'platform',
        path: StatusPageAssetPathSchema,
        responses: {
          200: {
            description: 'The file',
            content: { type: 'application/javascript', description: 'or text/css' },
          },
        },
        errors: { 404: 'no such file (issue field `path.file`)' },
      },
    },
  },
};

/**
 * What a route of a manager that can be stopped also answers while the manager is not running
 * (`shared/managers/gate.ts`); `infra/openapi.ts` adds it to the routes the manifest gives such a
 * manager.
 */
export function stoppedResponse(manager: ManagerId): SuccessResponse {
  return {
    description: `SERVICE_UNAVAILABLE: the ${manager} manager is stopped (or stopping, starting; issue field \`manager\`): try again after \`Retry-After\` (${STOPPED_RETRY_AFTER_SECONDS} s). Or the function ran past its timeout: API Gateway’s \`{"message":"Service Unavailable"}\``,
    schema: UNAVAILABLE,
    headers: { 'retry-after': 'Seconds to wait (a stopped manager)' },
  };
}

export const OPERATIONS: Record<string, OperationEntry> = BASE_OPERATIONS;

/** The operations serving `routeKey` (`GET /api/v1/docs`), or undefined. */
export function operationFor(functionName: string, routeKey: string): OperationSpec | undefined {
  const entry = OPERATIONS[functionName];
  if (!entry) return undefined;
  return 'routes' in entry ? entry.routes[routeKey] : entry;
}
