import * as z from 'zod';
import type { ErrorBody } from '../errors.ts';
import type { LoggedEvent } from '../events/log.ts';
import { ExportFormatSchema } from '../exports/formats.ts';
import type { ConfigVersion } from '../managers/config-store.ts';
import {
  DescriptionSchema,
  LifecycleStateSchema,
  HealthSchema as ManagerHealthSchema,
  StatusSchema,
} from '../managers/contract.ts';
import type { ManagerState, ManagerSummary } from '../managers/coordinator.ts';
import type { Transition } from '../managers/lifecycle.ts';
import { ManagerIdSchema } from '../managers/specs.ts';
import type { JobView, PublicJob } from '../migrations/service.ts';
import type {
  IndexReport,
  PlanSummary,
  PlanView,
  ProgressView,
  TaskHit,
  TaskView,
} from '../plans/service.ts';
import type { StatusReport } from '../platform/status.ts';
import type { VersionInfo } from '../platform/version.ts';
import { DistanceSchema } from '../vectors/schemas.ts';
import type {
  BatchOperationResult,
  CollectionList,
  CollectionView,
  PointView,
  SearchResult,
  UpsertResult,
} from '../vectors/service.ts';

/**
 * What the API answers, as zod schemas: the OpenAPI document's response schemas (`shared/api/
 * operations.ts`) and the checks of the documented examples. Each schema mirrors the type the
 * service returns; the `Same<…>` checks at the end fail to compile when the two drift apart.
 */

// ---------------------------------------------------------------- errors

export const FieldIssueSchema = z.object({
  field: z.string().meta({ description: 'Dotted path of the offending field, e.g. `points.3.vector`' }),
  reason: z.string(),
});

/** The platform's one error shape (`shared/errors.ts`), for 400/403/404/405/409/413/415/5xx and the edge's 429. */
export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string().meta({ examples: ['VALIDATION_ERROR', 'NOT_FOUND', 'FORBIDDEN', 'TOO_MANY_REQUESTS'] }),
    message: z.string(),
    issues: z.array(FieldIssueSchema).optional(),
    requestId: z.string().optional(),
  }),
});

/** API Gateway's own answers: `{"message":"Unauthorized"}` (401), `Too Many Requests` (429)… */
export const GatewayMessageSchema = z.object({ message: z.string() });

// ---------------------------------------------------------------- platform

export const HealthSchema = z.object({ status: z.literal('ok') });

export const VersionInfoSchema = z.object({
  service: z.string(),
  version: z.string(),
  stage: z.string(),
  embedding: z.object({
    provider: z.enum(['local', 'openai']),
    model: z.string(),
    dimensions: z.int(),
  }),
});

const CheckResultSchema = z.union([
  z.object({ status: z.literal('ok'), latencyMs: z.number() }),
  z.object({ status: z.literal('error'), latencyMs: z.number(), reason: z.string() }),
]);

export const StatusReportSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: z.record(z.string(), CheckResultSchema),
});

// ---------------------------------------------------------------- vectors

const CallerIdSchema = z.union([z.int().nonnegative(), z.string()]);

const EmbeddingInfoSchema = z.object({ model: z.string(), dimensions: z.int() });

export const CollectionViewSchema = z.object({
  name: z.string(),
  vectorSize: z.int().nullable(),
  distance: DistanceSchema.nullable(),
  pointsCount: z.int(),
  embedding: EmbeddingInfoSchema.nullable(),
  status: z.string(),
});

export const CollectionListSchema = z.object({
  collections: z.array(z.object({ name: z.string(), aliases: z.array(z.string()) })),
  aliases: z.array(z.object({ alias: z.string(), collection: z.string() })),
});

export const DeletedCollectionSchema = z.object({ name: z.string(), deleted: z.literal(true) });

const PointViewFields = {
  id: CallerIdSchema,
  payload: z.record(z.string(), z.unknown()).optional(),
  vector: z.unknown().optional(),
};

export const PointViewSchema = z.object({ collection: z.string(), ...PointViewFields });

export const SearchHitSchema = z.object({
  ...PointViewFields,
  score: z.number().nullable().meta({ description: 'null when the score overflowed float32' }),
});

export const SearchResultSchema = z.object({ collection: z.string(), results: z.array(SearchHitSchema) });

export const UpsertResultSchema = z.object({
  collection: z.string(),
  upserted: z.int(),
  ids: z.array(CallerIdSchema),
});

const OperationErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  issues: z.array(FieldIssueSchema).optional(),
});

export const BatchResultSchema = z.object({
  results: z.array(
    z.union([
      z.object({
        index: z.int(),
        type: z.string().nullable(),
        status: z.literal('ok'),
        result: z.union([UpsertResultSchema, SearchResultSchema]),
      }),
      z.object({
        index: z.int(),
        type: z.string().nullable(),
        status: z.literal('error'),
        error: OperationErrorSchema,
      }),
    ]),
  ),
});

export const DeletedPointsSchema = z.object({ collection: z.string(), deleted: z.int() });

// ---------------------------------------------------------------- plans and tasks

const TaskStatusSchema = z.enum(['todo', 'in_progress', 'done', 'blocked']);

export const HeadingProgressSchema = z.object({
  total: z.int(),
  done: z.int(),
  inProgress: z.int(),
  blocked: z.int(),
  todo: z.int(),
  computed: z.number().nullable(),
  declared: z.number().nullable(),
  drift: z.number().nullable(),
});

const PlanSourceSchema = z.union([
  z.object({ kind: z.literal('body'), bytes: z.int() }),
  z.object({ kind: z.literal('s3'), key: z.string(), bytes: z.int() }),
]);

const PlanSummaryFields = {
  id: z.string().meta({ description: 'URL id: the plan id with each `/` written `~`' }),
  planId: z.string(),
  title: z.string().nullable(),
  source: PlanSourceSchema,
  sha256: z.string(),
  indexedAt: z.string(),
  counts: z.object({ tasks: z.int(), headings: z.int() }),
  progress: HeadingProgressSchema,
};

export const PlanSummarySchema = z.object(PlanSummaryFields);

export const IndexReportSchema = z.object({
  ...PlanSummaryFields,
  created: z.boolean(),
  collection: z.string(),
  tasks: z.object({
    total: z.int(),
    added: z.int(),
    changed: z.int(),
    removed: z.int(),
    unchanged: z.int(),
  }),
  embedded: z.int(),
});

export const PlanListSchema = z.object({ plans: z.array(PlanSummarySchema) });

/** A YAML front matter value (the small subset the parser reads). */
export const FrontMatterValueSchema: z.ZodType = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(FrontMatterValueSchema),
    z.record(z.string(), FrontMatterValueSchema),
  ]),
);

const DeclaredProgressSchema = z.object({
  value: z.number(),
  line: z.int(),
  headingIndex: z.int().nullable(),
});

const PlanHeadingSchema = z.object({
  id: z.string(),
  index: z.int(),
  level: z.int(),
  title: z.string(),
  number: z.string().nullable(),
  status: TaskStatusSchema.nullable(),
  line: z.int(),
  parentIndex: z.int().nullable(),
  path: z.array(z.string()),
  progress: HeadingProgressSchema,
});

/** A task's fields as stored in the collection (search hits): no position in the plan. */
const StoredTaskFields = {
  id: z.string(),
  planId: z.string(),
  contentHash: z.string(),
  explicitId: z.string().nullable(),
  occurrence: z.int(),
  text: z.string(),
  status: TaskStatusSchema,
  marker: z.enum(['checkbox', 'symbol', 'step']),
  parentId: z.string().nullable(),
  headingPath: z.array(z.string()),
  depth: z.int(),
  step: z.object({ kind: z.enum(['step', 'micro-step']), number: z.string().nullable() }).nullable(),
  priority: z.enum(['P0', 'P1', 'P2', 'P3']).nullable(),
  estimate: z.object({ raw: z.string(), minutes: z.number() }).nullable(),
  tags: z.array(z.string()),
};

export const StoredTaskSchema = z.object(StoredTaskFields);

export const TaskViewSchema = z.object({
  ...StoredTaskFields,
  index: z.int(),
  line: z.int(),
  headingIndex: z.int().nullable(),
  parentIndex: z.int().nullable(),
  indent: z.int(),
});

export const PlanViewSchema = z.object({
  ...PlanSummaryFields,
  frontMatter: z.record(z.string(), FrontMatterValueSchema).nullable(),
  encoding: z.enum(['utf-8', 'utf-16le', 'utf-16be', 'windows-1252']),
  lineEnding: z.enum(['lf', 'crlf', 'cr', 'mixed', 'none']),
  lineCount: z.int(),
  declaredProgress: z.array(DeclaredProgressSchema),
  mojibake: z.object({ repairedLines: z.int(), ambiguousLines: z.int() }),
  headings: z.array(PlanHeadingSchema),
  tasks: z.array(TaskViewSchema),
  page: z.object({ offset: z.int(), limit: z.int(), total: z.int(), nextOffset: z.int().nullable() }),
});

export const ProgressViewSchema = z.object({
  id: z.string(),
  planId: z.string(),
  title: z.string().nullable(),
  indexedAt: z.string(),
  totals: HeadingProgressSchema,
  headings: z.array(
    PlanHeadingSchema.pick({
      id: true,
      index: true,
      level: true,
      title: true,
      number: true,
      line: true,
      path: true,
      progress: true,
    }),
  ),
  declared: z.object({
    headings: z.int(),
    agreeing: z.int(),
    ahead: z.int(),
    behind: z.int(),
    withoutTasks: z.int(),
  }),
});

export const DeletedPlanSchema = z.object({
  id: z.string(),
  planId: z.string(),
  deleted: z.object({ tasks: z.int() }),
});

export const TaskHitSchema = z.object({
  score: z.number().nullable(),
  task: StoredTaskSchema,
  path: z.array(z.string()),
  plan: z.object({ id: z.string(), planId: z.string(), title: z.string().nullable() }),
});

export const TaskSearchResultSchema = z.object({ results: z.array(TaskHitSchema) });

// ---------------------------------------------------------------- migrations

const CountsSchema = z.object({ records: z.int(), written: z.int(), rejected: z.int() });

const RecordRejectSchema = z.object({
  offset: z.int(),
  reason: z.string(),
  sourceId: z.union([z.string(), z.number()]).optional(),
});

export const JobStatusSchema = z.enum([
  'planning',
  'running',
  'finalizing',
  'completed',
  'failed',
  'rolled-back',
]);

export const MigrationJobSchema = z.object({
  id: z.string(),
  key: z.string(),
  etag: z.string(),
  size: z.int(),
  format: ExportFormatSchema.optional(),
  target: z.string().meta({ description: 'The alias the migration switches' }),
  collection: z.string().meta({ description: 'The fresh collection written: `<target>__<id>`' }),
  vectorSize: z.int().optional(),
  dryRun: z.boolean(),
  rejectThreshold: z.number(),
  chunkBytes: z.int(),
  status: JobStatusSchema,
  dispatched: z.boolean().optional(),
  plannedRecords: z.int(),
  chunks: z.object({ total: z.int(), done: z.int(), failed: z.int() }),
  counts: CountsSchema,
  planRejects: z.array(RecordRejectSchema),
  previousCollection: z.string().optional(),
  verification: z
    .object({
      passed: z.boolean(),
      countsMatch: z.boolean(),
      pointsInCollection: z.int().optional(),
      sampled: z.int(),
      minCosine: z.number().optional(),
      mismatches: z.int(),
    })
    .optional()
    .meta({ description: 'What verification found, once the job ended (the report lists the mismatches)' }),
  alias: z
    .object({ name: z.string(), collection: z.string(), previous: z.string().optional() })
    .optional()
    .meta({ description: 'The alias switch it made once verified (none for a dry run or a failed job)' }),
  reportKey: z.string().optional(),
  error: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  history: z.array(z.object({ at: z.string(), message: z.string() })).optional(),
});

export const MigrationJobViewSchema = MigrationJobSchema.extend({
  chunkList: z.array(
    z.object({
      index: z.int(),
      status: z.enum(['pending', 'done', 'failed']),
      plannedRecords: z.int(),
      counts: CountsSchema.optional(),
      error: z.string().optional(),
    }),
  ),
});

export const MigrationListSchema = z.object({ migrations: z.array(MigrationJobSchema) });

export const RedriveResultSchema = z.object({
  job: MigrationJobSchema,
  resent: z.array(z.int()),
  deadLettersRemoved: z.int(),
});

export const LoggedEventSchema = z.object({
  id: z.string(),
  time: z.string(),
  source: z.string(),
  type: z.string(),
  detail: z.record(z.string(), z.unknown()),
});

export const EventListSchema = z.object({ events: z.array(LoggedEventSchema) });

// ---------------------------------------------------------------- managers
// A manager's own answers (status, health, metrics, description) are the contract's schemas
// (`shared/managers/contract.ts`); these are the coordinator's and the configuration's envelopes.

export const ManagerSummarySchema = z.object({
  id: ManagerIdSchema,
  name: z.string(),
  description: z.string(),
  stoppable: z.boolean(),
  status: StatusSchema,
});

export const ManagerListSchema = z.object({ managers: z.array(ManagerSummarySchema) });

export const ManagerStateSchema = ManagerSummarySchema.extend({ health: ManagerHealthSchema });

export const ManagersStatusSchema = z.object({
  managers: z.array(ManagerStateSchema),
  checkedAt: z.iso.datetime(),
});

export const ManagerDescriptionSchema = DescriptionSchema.extend({ status: StatusSchema });

export const TransitionSchema = z.object({
  from: LifecycleStateSchema,
  to: LifecycleStateSchema,
  at: z.iso.datetime(),
  /** A user's `sub`, or `coordinator`. */
  by: z.string(),
  reason: z
    .string()
    .optional()
    .meta({ description: 'Why, for a transition to `failed` or back to `stopped`' }),
});

export const ManagerHistorySchema = z.object({
  managerId: ManagerIdSchema,
  transitions: z.array(TransitionSchema).meta({ description: 'The latest first' }),
});

export const ManagerActionResultSchema = z.object({
  managerId: z.string(),
  action: z.string(),
  result: z.unknown().meta({
    description:
      "The action's own answer: `sweep` `{checked, changed}`; `reindex` `{reindexed, skipped}`; `redrive` `{job, resent, deadLettersRemoved}`; `rollback` `{job}`",
  }),
});

export const ConfigVersionSchema = z.object({
  managerId: ManagerIdSchema,
  version: z.int().nonnegative().meta({ description: '0: never configured, the schema’s defaults' }),
  config: z.record(z.string(), z.unknown()).meta({ description: 'With every default filled in' }),
  by: z.string().nullable().meta({ description: 'Who stored it; null for version 0' }),
  at: z.iso.datetime().nullable(),
  changed: z
    .array(z.string())
    .meta({ description: 'Top-level fields that differ from the previous version' }),
});

export const ConfigVersionListSchema = z.object({
  managerId: ManagerIdSchema,
  versions: z.array(ConfigVersionSchema).meta({ description: 'The stored versions, newest first' }),
});

// ---------------------------------------------------------------- the types the services return

/** True when A and B are assignable both ways (readonly arrays aside). */
type Mutable<T> = T extends readonly (infer U)[]
  ? Mutable<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: Mutable<T[K]> }
    : T;
type Same<A, B> = [Mutable<A>] extends [Mutable<B>]
  ? [Mutable<B>] extends [Mutable<A>]
    ? true
    : false
  : false;
type Check<T extends true> = T;

export type ResponseTypeChecks = [
  Check<Same<z.output<typeof ErrorBodySchema>, ErrorBody>>,
  Check<Same<z.output<typeof VersionInfoSchema>, VersionInfo>>,
  Check<Same<z.output<typeof StatusReportSchema>, StatusReport>>,
  Check<Same<z.output<typeof CollectionViewSchema>, CollectionView>>,
  Check<Same<z.output<typeof CollectionListSchema>, CollectionList>>,
  Check<Same<z.output<typeof UpsertResultSchema>, UpsertResult>>,
  Check<Same<z.output<typeof SearchResultSchema>, SearchResult>>,
  Check<Same<z.output<typeof BatchResultSchema>['results'][number], BatchOperationResult>>,
  Check<Same<z.output<typeof PointViewSchema>, { collection: string } & PointView>>,
  Check<Same<z.output<typeof PlanSummarySchema>, PlanSummary>>,
  Check<Same<z.output<typeof IndexReportSchema>, IndexReport>>,
  Check<Same<z.output<typeof TaskViewSchema>, TaskView>>,
  Check<Same<Omit<z.output<typeof PlanViewSchema>, 'frontMatter'>, Omit<PlanView, 'frontMatter'>>>,
  Check<Same<z.output<typeof ProgressViewSchema>, ProgressView>>,
  Check<Same<z.output<typeof TaskHitSchema>, TaskHit>>,
  Check<Same<z.output<typeof MigrationJobSchema>, PublicJob>>,
  Check<Same<z.output<typeof MigrationJobViewSchema>, JobView>>,
  Check<Same<z.output<typeof LoggedEventSchema>, LoggedEvent>>,
  Check<Same<z.output<typeof ManagerSummarySchema>, ManagerSummary>>,
  Check<Same<z.output<typeof ManagerStateSchema>, ManagerState>>,
  Check<Same<z.output<typeof TransitionSchema>, Transition>>,
  Check<Same<z.output<typeof ConfigVersionSchema>, ConfigVersion>>,
];
