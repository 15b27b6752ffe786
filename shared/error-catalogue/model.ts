import { z } from 'zod';

/** The error catalogue: its entries, the queries that read them, the manager's configuration. */

export const ERROR_STATUSES = ['open', 'resolved'] as const;
export type ErrorStatus = (typeof ERROR_STATUSES)[number];

/** Where a failure was read from. */
export type FailureSource = 'event' | 'dead-letter';

/** One failure as it reached the catalogue. */
export interface Failure {
  /** The raw message (what went wrong, with its values). */
  message: string;
  code: string;
  origin: string;
  source: FailureSource;
  /** The event id or the dead letter's message id: a failure read twice is counted once. */
  ref: string;
  at: string;
  correlationId?: string;
}

const SampleSchema = z.strictObject({
  at: z.iso.datetime(),
  /** The raw message, with its values (at most MAX_SAMPLE_MESSAGE characters). */
  message: z.string(),
  source: z.enum(['event', 'dead-letter']),
  /** `event:<event id>` or `dlq:<queue>:<message id>`. */
  ref: z.string(),
  /** The id to follow it by in the logs and the event log. */
  correlationId: z.string().optional(),
});
/** A sample kept with an entry: one occurrence, its values and where to follow it. */
export type ErrorSample = z.output<typeof SampleSchema>;

export const ErrorEntrySchema = z.strictObject({
  fingerprint: z.string(),
  /** The normalized message the entry groups by. */
  message: z.string(),
  code: z.string(),
  /** The function, manager or dead-letter queue it came from. */
  origin: z.string(),
  status: z.enum(ERROR_STATUSES),
  count: z.int().positive(),
  firstSeen: z.iso.datetime(),
  lastSeen: z.iso.datetime(),
  /** The latest occurrences, newest first (at most the configuration's `samplesKept`). */
  samples: z.array(SampleSchema),
  /** When and by whom it was last resolved (kept when it reopens). */
  resolvedAt: z.iso.datetime().optional(),
  resolvedBy: z.string().optional(),
  /** Times a resolved entry came back. */
  reopened: z.int().nonnegative(),
});
/** One fingerprint's entry (one state item, its samples a bounded ring). */
export type ErrorEntry = z.output<typeof ErrorEntrySchema>;

export const ErrorPageSchema = z.strictObject({
  errors: z.array(ErrorEntrySchema),
  /** The next page's `cursor`, when there is one. */
  next: z.string().optional(),
});

export const SimilarErrorsSchema = z.strictObject({
  fingerprint: z.string(),
  similar: z.array(
    z.strictObject({
      fingerprint: z.string(),
      /** Cosine similarity of the embedded texts (at least the configuration's `similarScoreThreshold`). */
      score: z.number(),
      message: z.string(),
      code: z.string(),
      origin: z.string(),
      status: z.enum(ERROR_STATUSES).optional(),
      count: z.int().optional(),
      lastSeen: z.iso.datetime().optional(),
    }),
  ),
});

/** Longest raw message kept in a sample (a stack trace is cut). */
export const MAX_SAMPLE_MESSAGE = 2_000;

export const FingerprintSchema = z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits');

export const FingerprintPathSchema = z.object({ fingerprint: FingerprintSchema });

export const ErrorQuerySchema = z.strictObject({
  status: z.enum(ERROR_STATUSES).optional(),
  origin: z.string().min(1).max(200).optional(),
  code: z.string().min(1).max(200).optional(),
  /** Entries seen at or after this time. */
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  /** The `next` of the previous page. */
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, 'must be the `next` of a previous page')
    .optional(),
});
export type ErrorQuery = z.output<typeof ErrorQuerySchema>;

export const SimilarQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(50).optional(),
});

export const ResolveInputSchema = z.strictObject({ fingerprint: FingerprintSchema });

export const ErrorsConfigSchema = z.strictObject({
  /** Occurrences kept per entry, newest first (an item must stay under DynamoDB's 400 KB). */
  samplesKept: z.int().min(1).max(20).default(5),
  /** Similar errors score at least this (cosine similarity of their embedded texts). */
  similarScoreThreshold: z.number().min(0).max(1).default(0.5),
  /** Similar errors answered when the request names no limit. */
  similarLimit: z.int().min(1).max(50).default(5),
});
export type ErrorsConfig = z.output<typeof ErrorsConfigSchema>;
