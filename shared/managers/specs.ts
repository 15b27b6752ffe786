import { z } from 'zod';
import {
  BackupConfigSchema,
  BackupInputSchema,
  GetInputSchema,
  ListInputSchema,
  RestoreInputSchema,
} from '../backups/model.ts';
import { ProjectIdSchema } from '../dependencies/model.ts';
import { ErrorsConfigSchema, ResolveInputSchema } from '../error-catalogue/model.ts';
import { CreateMigrationBodySchema, JobPathSchema } from '../migrations/model.ts';
import { NotifyInputSchema } from '../notifications/notice.ts';
import { RotateInputSchema, SecurityConfigSchema } from '../security/model.ts';

/**
 * What each manager declares beyond its functions: the schema of its configuration (every field
 * with its default, so an empty configuration is a valid one) and its named actions with the
 * schema of their input. The manifest (`infra/manifest.ts`) declares managers with these, and the
 * manager functions validate with the same objects: one declaration.
 */

export const MANAGER_IDS = [
  'central-coordinator',
  'vectorization',
  'roadmap',
  'migration',
  'config',
  'monitoring',
  'api-gateway',
  'notifications',
  'dependencies',
  'security',
  'backup',
  'errors',
  'templates',
  'workflows',
] as const;

export type ManagerId = (typeof MANAGER_IDS)[number];

export const ManagerIdSchema = z.enum(MANAGER_IDS);

export interface ActionSpec {
  description: string;
  input: z.ZodType;
  /** Who may run it through the API (`POST /managers/{id}/actions/{action}`). */
  role: 'writer' | 'admin';
}

const ms = (min: number, max: number, fallback: number) => z.int().min(min).max(max).default(fallback);

export const MANAGER_CONFIG = {
  'central-coordinator': z.strictObject({
    /** Each manager's health or status check is abandoned after this long (`unhealthy: timed out`). */
    checkTimeoutMs: ms(100, 25_000, 5_000),
  }),
  vectorization: z.strictObject({
    /** A Qdrant health query slower than this makes the manager `degraded`. */
    degradedAboveMs: ms(1, 60_000, 1_000),
  }),
  roadmap: z.strictObject({
    /** A plan whose declared progress differs from the computed one by more points than this drifts. */
    driftThresholdPoints: z.number().min(0).max(100).default(5),
  }),
  migration: z.strictObject({
    /** This many failed jobs in the window make the manager `degraded`. */
    degradedAfterFailedJobs: z.int().min(1).max(10_000).default(1),
    /** The window of `degradedAfterFailedJobs` and of records/s, minutes. */
    windowMinutes: z.int().min(1).max(1_440).default(60),
  }),
  config: z.strictObject({
    /** Versions of one manager's configuration kept (the oldest go first). */
    historyLimit: z.int().min(1).max(1_000).default(50),
  }),
  monitoring: z.strictObject({
    /** The window the function figures are computed over, minutes (CloudWatch period). */
    windowMinutes: z.int().min(1).max(1_440).default(15),
    /** An error rate (errors / invocations) above this makes a manager's metrics `degraded`. */
    errorRateDegraded: z.number().min(0).max(1).default(0.01),
  }),
  'api-gateway': z.strictObject({
    /** p95 latency target of the API, milliseconds: above it the manager is `degraded`. */
    p95TargetMs: ms(1, 60_000, 500),
    /** A 5xx rate above this makes the manager `degraded`. */
    errorRateDegraded: z.number().min(0).max(1).default(0.01),
  }),
  notifications: z.strictObject({
    /** Where the default subscription (failed migrations, failed managers, critical conditions) mails. */
    defaultEmailTo: z.email().default('operators@vector-platform.local'),
    /** This many failed notifications in the window make the manager `degraded`. */
    degradedAfterFailures: z.int().min(1).max(10_000).default(1),
    /** The window of `degradedAfterFailures` and of the delivery figures, minutes. */
    windowMinutes: z.int().min(1).max(1_440).default(60),
  }),
  dependencies: z.strictObject({
    /** Whether npm devDependencies take part in conflicts (they never reach a package's users). */
    compareDevDependencies: z.boolean().default(true),
    /**
     * Cosine similarity from which two packages are reported as similar (by name and purpose); the
     * default suits the local embedder (names sharing a word score 0.6–0.75, others 0).
     */
    similarityThreshold: z.number().min(0).max(1).default(0.6),
  }),
  security: SecurityConfigSchema,
  backup: BackupConfigSchema,
  errors: ErrorsConfigSchema,
  templates: z.strictObject({
    /** Cosine similarity below which a template is not suggested. */
    minSuggestScore: z.number().min(0).max(1).default(0.05),
  }),
  workflows: z.strictObject({
    /** Whether the shipped example workflows are installed when the manager first runs (once). */
    installExamples: z.boolean().default(true),
    /** This many failed, timed-out or aborted executions in the window make the manager `degraded`. */
    degradedAfterFailedExecutions: z.int().min(1).max(10_000).default(1),
    /** The window of `degradedAfterFailedExecutions`, minutes. */
    windowMinutes: z.int().min(1).max(1_440).default(60),
  }),
} as const satisfies Record<ManagerId, z.ZodObject>;

export type ManagerConfig<I extends ManagerId> = z.output<(typeof MANAGER_CONFIG)[I]>;

const planIdField = z.string().min(1).max(512);

export const MANAGER_ACTIONS = {
  'central-coordinator': {
    sweep: {
      description: "Runs the health sweep now: every manager's health recorded, changes published",
      input: z.strictObject({}),
      role: 'admin',
    },
  },
  vectorization: {},
  roadmap: {
    reindex: {
      description:
        'Indexes again the plans stored from an object key (one plan by id, or all of them); plans indexed from a request body are listed as skipped',
      input: z.strictObject({ planId: planIdField.optional() }),
      role: 'writer',
    },
    index: {
      description:
        'Indexes a plan given as markdown (as POST /api/v1/plans does); the templates manager instantiates plans through it',
      input: z.strictObject({ planId: planIdField, markdown: z.string().min(1) }),
      role: 'writer',
    },
  },
  migration: {
    start: {
      description:
        'Starts the migration of an uploaded export (as POST /api/v1/migrations: the same job for the same export version); answers the job',
      input: CreateMigrationBodySchema,
      role: 'admin',
    },
    get: {
      description:
        'A migration job (as GET /api/v1/migrations/{id}): its status, counts, verification and alias switch; a workflow polls it until the job has ended',
      input: z.strictObject({ jobId: JobPathSchema.shape.id }),
      role: 'writer',
    },
    redrive: {
      description: "Sends a migration's failed chunks again",
      input: z.strictObject({ jobId: z.string().min(1).max(200) }),
      role: 'admin',
    },
    rollback: {
      description: "Switches a migration's alias back to the collection it served before",
      input: z.strictObject({ jobId: z.string().min(1).max(200) }),
      role: 'admin',
    },
  },
  config: {},
  monitoring: {},
  'api-gateway': {},
  notifications: {
    test: {
      description:
        'Sends a sample notification to a subscription (delivered, retried and logged as any other)',
      input: z.strictObject({ subscriptionId: z.string().min(1).max(100) }),
      role: 'admin',
    },
    notify: {
      description:
        'Tells the operators something (a workflow step that failed, say): publishes OperatorNotice, which the subscriptions that list it deliver (the default one mails it)',
      input: NotifyInputSchema,
      role: 'writer',
    },
  },
  dependencies: {
    report: {
      description:
        'The conflicts and duplicates across the indexed projects, or those one project takes part in (as GET /api/v1/dependencies/report)',
      input: z.strictObject({ project: ProjectIdSchema.optional() }),
      role: 'writer',
    },
  },
  security: {
    'rotate-webhook-secrets': {
      description:
        'Gives webhook subscriptions (one, or all; with `due`, those rotated `rotateEveryDays` ago or more) fresh signing secrets, answered once; each previous secret still signs deliveries for `rotationGraceHours`',
      input: RotateInputSchema,
      role: 'admin',
    },
    'webhook-secret': {
      description:
        "A webhook subscription's current signing secret (for its receiver, after a scheduled rotation) and the end of the previous one's grace",
      input: z.strictObject({ subscriptionId: z.string().min(1).max(100) }),
      role: 'admin',
    },
  },
  backup: {
    backup: {
      description:
        'Backs up collections (the configured ones by default) and the plan registry to the exports bucket; answers the pending backup, which its worker runs',
      input: BackupInputSchema,
      role: 'admin',
    },
    restore: {
      description:
        "Restores a backup's collection behind an alias (its name by default) through a migration: fresh collection, verified, then switched",
      input: RestoreInputSchema,
      role: 'admin',
    },
    list: {
      description: 'The latest backups and restores, newest first',
      input: ListInputSchema,
      role: 'writer',
    },
    get: {
      description: "A backup, or a restore with its migration's progress and whether every point came back",
      input: GetInputSchema,
      role: 'writer',
    },
  },
  errors: {
    resolve: {
      description:
        'Marks an error of the catalogue resolved (by its fingerprint); its next occurrence reopens it (ErrorReopened)',
      input: ResolveInputSchema,
      role: 'writer',
    },
  },
  templates: {
    reindex: {
      description:
        "Embeds every stored template into the templates collection again (after a lost write, or a new embedder's collection)",
      input: z.strictObject({}),
      role: 'writer',
    },
  },
  workflows: {
    'install-examples': {
      description:
        'Installs the shipped example workflows that are missing (by name); the ones present, edited or not, are left as they are. With `firstRun` (its schedule), only if they were never installed',
      input: z.strictObject({ firstRun: z.boolean().default(false) }),
      role: 'admin',
    },
  },
} as const satisfies Record<ManagerId, Record<string, ActionSpec>>;
