import * as z from 'zod';

/**
 * Plan ids. A caller names a plan by its path (`plans/plan-dev-v12.md`): every task id derives
 * from it, so it is validated strictly and normalized (NFC, so a macOS file name and a Linux one
 * name the same plan). In URLs (`/plans/{id}`) a plan is named by its URL id: the plan id with
 * each `/` written `~`, which needs no percent-encoding of the separator (an encoded `%2F` is
 * also accepted, as gateways decode it). `~` is not allowed in a plan id, so the mapping is a
 * bijection; neither is `#`, which separates a plan id from the rest of a state key.
 */

/** Longest plan id, in UTF-8 bytes: a state sort key (≤ 1024 bytes) holds it plus a suffix. */
export const MAX_PLAN_ID_BYTES = 512;

/** Letters, marks, digits, and a few punctuation marks common in file names. */
const SEGMENT = /^[\p{L}\p{M}\p{N}._+\-()@, ]+$/u;

/** Why `planId` (already NFC) is not a valid plan id, or undefined when it is. */
export function planIdProblem(planId: string): string | undefined {
  if (planId === '') return 'must not be empty';
  if (Buffer.byteLength(planId, 'utf8') > MAX_PLAN_ID_BYTES)
    return `must be at most ${MAX_PLAN_ID_BYTES} bytes (UTF-8)`;
  if (planId.startsWith('/')) return 'must be a relative path (no leading "/")';
  if (planId.includes('~')) return 'must not contain "~" (a URL id writes each "/" of a plan id as "~")';
  for (const segment of planId.split('/')) {
    if (segment === '') return 'must not have an empty path segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return 'must not have a "." or ".." path segment';
    if (segment.trim() !== segment) return 'path segments must not start or end with a space';
    if (!SEGMENT.test(segment)) {
      return 'may hold only letters, digits, spaces and . _ + - ( ) @ , between "/" separators';
    }
  }
  return undefined;
}

/** A plan id from a caller: NFC-normalized, then validated. */
export const PlanIdSchema = z.string().transform((raw, ctx) => {
  const planId = raw.normalize('NFC');
  const problem = planIdProblem(planId);
  if (problem === undefined) return planId;
  ctx.issues.push({ code: 'custom', input: raw, message: problem });
  return z.NEVER;
});

/** The URL id of a plan id: `plans/a.md` → `plans~a.md`. */
export function toUrlId(planId: string): string {
  return planId.replaceAll('/', '~');
}

/** The plan id of a URL id (or of a plan id itself): `plans~a.md` → `plans/a.md`. */
export function fromUrlId(urlId: string): string {
  return urlId.replaceAll('~', '/');
}

/** A plan named in a URL or a filter: its URL id or its plan id, both mapped to the plan id. */
export const PlanRefSchema = z
  .string()
  .transform((s) => fromUrlId(s))
  .pipe(PlanIdSchema);

/** The path of an API URL naming a plan: `encodeURIComponent` of its URL id. */
export function planPath(planId: string): string {
  return `/api/v1/plans/${encodeURIComponent(toUrlId(planId))}`;
}
