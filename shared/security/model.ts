import { z } from 'zod';
import { ROLES } from '../auth/roles.ts';
import { CorrelationIdSchema } from '../correlation.ts';
import type { EventType } from '../events/catalogue.ts';

/**
 * The security manager's shapes: its configuration, the audit entry and the audit query
 * (`GET /api/v1/security/audit`).
 */

export const SecurityConfigSchema = z.strictObject({
  /** Refusals (401/403) of one client within `burstWindowMinutes` that make an `access-denied-burst`. */
  burstThreshold: z.int().min(2).max(100_000).default(20),
  burstWindowMinutes: z.int().min(1).max(1_440).default(5),
  /** How long audit entries are kept, days. */
  retentionDays: z.int().min(1).max(3_650).default(90),
  /**
   * The schedule rotates a webhook secret this many days after its last rotation; 0 (the default):
   * never. Off until an operator sets it, since each receiver must take its new secret (the
   * `webhook-secret` action) within the grace, or its deliveries stop verifying.
   */
  rotateEveryDays: z.int().min(0).max(365).default(0),
  /** How long a rotated-out secret still signs deliveries, hours. */
  rotationGraceHours: z.int().min(1).max(720).default(24),
});
export type SecurityConfig = z.output<typeof SecurityConfigSchema>;

/** The events the audit records, and the kind of entry each makes. */
export const AUDITED_EVENTS = {
  ManagerStarted: 'manager-started',
  ManagerStopped: 'manager-stopped',
  ConfigChanged: 'config-changed',
  CollectionDeleted: 'collection-deleted',
  MigrationStarted: 'migration-started',
  MigrationRolledBack: 'migration-rolled-back',
  WebhookSecretsRotated: 'webhook-secrets-rotated',
} as const satisfies Partial<Record<EventType, string>>;

export const AUDIT_KINDS = [...Object.values(AUDITED_EVENTS), 'access-denied-burst'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** Who an entry is about when no request made it: a schedule, an upload, the platform itself. */
export const SYSTEM_ACTOR = 'system';

export interface AuditEntry {
  /** The event's id (an audited event), or `burst-<event id>` (the refusal that made the burst). */
  id: string;
  time: string;
  kind: AuditKind;
  /** The user or client (`anonymous` without a token, `system` without a request). */
  actor: string;
  role?: (typeof ROLES)[number];
  sourceIp?: string;
  correlationId?: string;
  /** `succeeded`: an action taken; `denied`: refusals (a burst). */
  outcome: 'succeeded' | 'denied';
  /** What was done: the event's own fields (bounded: `MAX_DETAIL_BYTES`). */
  detail: Record<string, unknown>;
}

/** A detail larger than this (JSON) is replaced by its field names, so an entry stays small. */
export const MAX_DETAIL_BYTES = 4_096;

const MAX_LIMIT = 500;

/** The cursor of the next page: the sort key of the last entry answered, base64url. */
export const CursorSchema = z
  .string()
  .max(400)
  .transform((value, ctx) => {
    const decoded = Buffer.from(value, 'base64url').toString('utf8');
    if (!/^\d{4}-\d{2}-\d{2}T[\d:.]+Z#.+$/.test(decoded)) {
      ctx.addIssue({ code: 'custom', message: 'not a cursor this API answered' });
      return z.NEVER;
    }
    return decoded;
  });

export const AuditQuerySchema = z
  .strictObject({
    kind: z.enum(AUDIT_KINDS).optional(),
    actor: z.string().min(1).max(256).optional(),
    /** Entries at or after this instant (ISO 8601). */
    since: z.iso.datetime({ offset: true }).optional(),
    /** Entries before this instant. */
    until: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(50),
    cursor: CursorSchema.optional(),
  })
  .refine((q) => !q.since || !q.until || Date.parse(q.since) < Date.parse(q.until), {
    path: ['until'],
    message: 'must be after since',
  });
export type AuditQuery = z.output<typeof AuditQuerySchema>;

export const AuditEntrySchema = z.strictObject({
  id: z.string(),
  time: z.iso.datetime(),
  kind: z.enum(AUDIT_KINDS),
  actor: z.string(),
  role: z.enum(ROLES).optional(),
  sourceIp: z.string().optional(),
  correlationId: CorrelationIdSchema.optional(),
  outcome: z.enum(['succeeded', 'denied']),
  detail: z.record(z.string(), z.unknown()),
});

export const AuditPageSchema = z.strictObject({
  entries: z.array(AuditEntrySchema),
  /** Present when more entries match: pass it as `cursor` for the next page. */
  nextCursor: z.string().optional(),
});
export type AuditPage = z.infer<typeof AuditPageSchema>;

export const RotateInputSchema = z.strictObject({
  /** One subscription; default every webhook subscription. */
  subscriptionId: z.string().min(1).max(100).optional(),
  /** Only the secrets last rotated `rotateEveryDays` ago or more (what the schedule asks). */
  due: z.boolean().default(false),
});
export type RotateInput = z.output<typeof RotateInputSchema>;
