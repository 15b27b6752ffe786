import * as z from 'zod';
import { PlanIdSchema, PlanRefSchema } from './plan-id.ts';

/**
 * The plans API's request contract (strict objects: an unknown key is an error naming it).
 * The markdown itself is not validated here: any text is a plan, possibly one without tasks.
 */

/** Largest plan accepted, in bytes (as posted, or as stored in S3). */
export const MAX_PLAN_BYTES = 5 * 1024 * 1024;
/** Longest S3 key (S3's own limit, in UTF-8 bytes). */
const MAX_S3_KEY_BYTES = 1024;
export const MAX_TASK_SEARCH_LIMIT = 100;
/** Tasks per page of `GET /plans/{id}`. */
export const MAX_TASK_PAGE = 5000;
export const DEFAULT_TASK_PAGE = 1000;

const S3KeySchema = z
  .string()
  .min(1, 'must not be empty')
  .refine(
    (s) => Buffer.byteLength(s, 'utf8') <= MAX_S3_KEY_BYTES,
    `must be at most ${MAX_S3_KEY_BYTES} bytes`,
  )
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

/** `POST /plans` with a JSON body: the markdown inline, or the key of an object in the exports bucket. */
export const IndexPlanBodySchema = z
  .strictObject({
    planId: PlanIdSchema,
    markdown: z.string().optional(),
    s3Key: S3KeySchema.optional(),
  })
  .check((ctx) => {
    if ((ctx.value.markdown === undefined) === (ctx.value.s3Key === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: [ctx.value.markdown === undefined ? 'markdown' : 's3Key'],
        message: 'give exactly one of markdown or s3Key',
      });
    }
  });
export type IndexPlanBody = z.infer<typeof IndexPlanBodySchema>;

/** `POST /plans?planId=…` with a raw markdown body. */
export const IndexPlanQuerySchema = z.object({ planId: PlanIdSchema.optional() });

export const PlanPathSchema = z.object({ id: PlanRefSchema });

const PageInt = (max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a non-negative integer')
    .transform(Number)
    .pipe(z.int().max(max, `must be at most ${max}`));

export const PlanQuerySchema = z.strictObject({
  /** First task (document position) of the page. */
  offset: PageInt(1_000_000_000).default(0),
  limit: PageInt(MAX_TASK_PAGE).pipe(z.int().min(1, 'must be at least 1')).default(DEFAULT_TASK_PAGE),
});

const StatusSchema = z.enum(['todo', 'in_progress', 'done', 'blocked']);
const PrioritySchema = z.enum(['P0', 'P1', 'P2', 'P3']);
const oneOrMany = <T extends z.ZodType>(item: T) =>
  z.union([item, z.array(item).min(1).max(100)]).transform((v) => (Array.isArray(v) ? v : [v]));

const DepthSchema = z.union([
  z.int().min(0),
  z
    .strictObject({ gte: z.int().min(0).optional(), lte: z.int().min(0).optional() })
    .refine((r) => r.gte !== undefined || r.lte !== undefined, 'give gte, lte or both'),
]);

/** `POST /tasks/search`. */
export const SearchTasksBodySchema = z.strictObject({
  text: z
    .string()
    .max(10_000)
    .refine((s) => s.trim() !== '', 'must not be empty or whitespace only'),
  /** Plan ids or URL ids. */
  plan: oneOrMany(PlanRefSchema).optional(),
  status: oneOrMany(StatusSchema).optional(),
  /** A heading title, matched exactly against every level of a task's heading path. */
  heading: z.string().min(1).max(1000).optional(),
  depth: DepthSchema.optional(),
  priority: oneOrMany(PrioritySchema).optional(),
  limit: z.int().min(1).max(MAX_TASK_SEARCH_LIMIT).default(10),
  offset: z.int().min(0).max(10_000).default(0),
  scoreThreshold: z.number().optional(),
});
export type SearchTasksBody = z.infer<typeof SearchTasksBodySchema>;
