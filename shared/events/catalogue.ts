import { z } from 'zod';
import { ExportFormatSchema } from '../exports/formats.ts';

/**
 * Every event the platform publishes, with the schema of its detail: the one list the publisher
 * (`publisher.ts`) accepts, consumers parse with (`parseEvent`) and `docs/events.md` is generated
 * from (`npm run events:docs`).
 *
 * Naming: the detail-type is what happened, in PascalCase and the past tense (`MigrationStarted`),
 * the platform's existing style; the source is the service (`EVENT_SOURCE`). Each detail carries
 * `schemaVersion` (EventBridge's own `version` is always "0" and cannot be set): a change that
 * removes or retypes a field makes a new version, adding an optional field does not.
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

const detail = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject({ schemaVersion: z.literal(1), ...shape });

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
} as const satisfies Record<string, { description: string; detail: z.ZodType }>;

export type EventType = keyof typeof EVENTS;
/** The detail a publisher gives (without `schemaVersion`, which the publisher adds). */
export type EventDetail<T extends EventType> = Omit<z.input<(typeof EVENTS)[T]['detail']>, 'schemaVersion'>;
/** The detail a consumer reads. */
export type ParsedDetail<T extends EventType> = z.output<(typeof EVENTS)[T]['detail']>;

export const EVENT_TYPES = Object.keys(EVENTS) as EventType[];

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENTS, value);
}
