import { z } from 'zod';

/**
 * An operator notice: what the notifications manager's `notify` action takes (a workflow's
 * "notify on failure" step) and what its OperatorNotice event carries. Its own module (zod only),
 * so both the action specs and the event catalogue use it without importing each other.
 */

export const NOTICE_SEVERITIES = ['info', 'warning', 'critical'] as const;

export const NoticeFieldsSchema = {
  /** One line: it reads as a title (an email client shows the event's type as the subject). */
  subject: z
    .string()
    .trim()
    .min(1)
    .max(200)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must be one line, without control characters'),
  message: z.string().trim().min(1).max(4000),
  severity: z.enum(NOTICE_SEVERITIES),
};

export const NotifyInputSchema = z.strictObject({
  ...NoticeFieldsSchema,
  severity: NoticeFieldsSchema.severity.default('info'),
});
export type NotifyInput = z.output<typeof NotifyInputSchema>;
