import * as z from 'zod';
import { ORIGINAL_ID_KEY, toPointId } from '../ids.ts';
import { MAX_NESTING_DEPTH, nestsDeeperThan } from '../validation.ts';

/**
 * The vector API's request contract. Objects are strict: an unknown key (`with_payload` for
 * `withPayload`, `vectors` for `vector`) is an error naming it, never silently ignored.
 */

/** Points per upsert request (and per upsert operation of a batch). */
export const MAX_POINTS_PER_REQUEST = 1000;
/** Operations per batch request. */
export const MAX_BATCH_OPERATIONS = 100;
/** Ids per delete request. */
export const MAX_IDS_PER_REQUEST = 1000;
export const MAX_SEARCH_LIMIT = 1000;
/** Qdrant's own bound on a dense vector's size. */
export const MAX_VECTOR_SIZE = 65_536;
/** Longest caller id kept; ids are keys, not documents. */
const MAX_ID_LENGTH = 1024;
/** The issue of a value nested deeper than MAX_NESTING_DEPTH, if it is. */
function checkNesting(ctx: z.core.ParsePayload<Record<string, unknown>>): void {
  if (nestsDeeperThan(ctx.value, MAX_NESTING_DEPTH)) {
    ctx.issues.push({
      code: 'custom',
      input: ctx.value,
      message: `nests objects and arrays deeper than ${MAX_NESTING_DEPTH} levels`,
    });
  }
}
/** Qdrant stores vectors as float32: a larger magnitude would be stored as Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;

export const CollectionNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,255}$/, 'must be 1 to 255 letters, digits, "_" or "-"');

export const DistanceSchema = z.enum(['Cosine', 'Dot', 'Euclid', 'Manhattan']);
export type Distance = z.infer<typeof DistanceSchema>;

/** A caller's point id: an unsigned integer, or a string (UUID, decimal, or anything else, mapped). */
export const PointIdSchema = z.union(
  [
    z.int().nonnegative(),
    z
      .string()
      .max(MAX_ID_LENGTH)
      .refine((s) => s.trim() !== '', 'must not be empty'),
  ],
  { error: 'must be an unsigned integer or a non-empty string' },
);
export type CallerId = z.infer<typeof PointIdSchema>;

const VectorSchema = z
  .array(z.number())
  .min(1)
  .max(MAX_VECTOR_SIZE)
  .check((ctx) => {
    // Math.fround is Infinity exactly for the values float32 cannot hold (rounding included).
    const index = ctx.value.findIndex((x) => !Number.isFinite(Math.fround(x)));
    if (index === -1) return;
    ctx.issues.push({
      code: 'custom',
      input: ctx.value,
      message: `component ${index} (${ctx.value[index]}) is outside the float32 range Qdrant stores (magnitude at most ${FLOAT32_MAX})`,
    });
  });

const TextSchema = z.string().refine((s) => s.trim() !== '', 'must not be empty or whitespace only');

const PayloadSchema = z.record(z.string(), z.unknown()).check(checkNesting, (ctx) => {
  if (Object.hasOwn(ctx.value, ORIGINAL_ID_KEY)) {
    ctx.issues.push({
      code: 'custom',
      input: ctx.value,
      path: [ORIGINAL_ID_KEY],
      message: 'is reserved: it records the caller id of a mapped point id',
    });
  }
});

export const PointSchema = z
  .strictObject({
    id: PointIdSchema,
    vector: VectorSchema.optional(),
    text: TextSchema.optional(),
    payload: PayloadSchema.optional(),
  })
  .check((ctx) => {
    if ((ctx.value.vector === undefined) === (ctx.value.text === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message: 'must have exactly one of vector or text',
      });
    }
  });
export type PointInput = z.infer<typeof PointSchema>;

const UpsertFields = {
  collection: CollectionNameSchema.optional(),
  points: z.array(PointSchema).min(1).max(MAX_POINTS_PER_REQUEST),
  /** Whether Qdrant applies each write before answering (default true). */
  wait: z.boolean().default(true),
};

/** Two points with the same Qdrant id in one request: the second would silently replace the first. */
function rejectDuplicateIds(ctx: z.core.ParsePayload<{ points: PointInput[] }>): void {
  const seen = new Map<string | number, number>();
  ctx.value.points.forEach((point, index) => {
    // This check runs even when ids were refused (their issue is already reported): skip those.
    if (!PointIdSchema.safeParse(point.id).success) return;
    const { id } = toPointId(point.id);
    const first = seen.get(id);
    if (first === undefined) seen.set(id, index);
    else {
      ctx.issues.push({
        code: 'custom',
        input: point.id,
        path: ['points', index, 'id'],
        message: `duplicates points.${first}.id (same point id)`,
      });
    }
  });
}

export const UpsertBodySchema = z.strictObject(UpsertFields).check(rejectDuplicateIds);
export type UpsertBody = z.infer<typeof UpsertBodySchema>;

/** One condition list of a Qdrant filter; conditions themselves are checked by Qdrant. */
const Conditions = z
  .union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown()))])
  .nullable();

/** A Qdrant filter: its clauses are checked here, its conditions by Qdrant (a 400 names `filter`). */
export const FilterSchema = z
  .strictObject({
    must: Conditions.optional(),
    should: Conditions.optional(),
    must_not: Conditions.optional(),
    min_should: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .check(checkNesting);
export type Filter = z.infer<typeof FilterSchema>;

const SearchFields = {
  collection: CollectionNameSchema.optional(),
  vector: VectorSchema.optional(),
  text: TextSchema.optional(),
  filter: FilterSchema.optional(),
  limit: z.int().min(1).max(MAX_SEARCH_LIMIT).default(10),
  offset: z.int().min(0).max(100_000).default(0),
  scoreThreshold: z.number().optional(),
  withPayload: z.boolean().default(true),
  withVector: z.boolean().default(false),
};

function requireVectorOrText(
  ctx: z.core.ParsePayload<{ vector?: number[] | undefined; text?: string | undefined }>,
) {
  if ((ctx.value.vector === undefined) === (ctx.value.text === undefined)) {
    ctx.issues.push({
      code: 'custom',
      input: ctx.value,
      path: [ctx.value.text === undefined ? 'vector' : 'text'],
      message: 'give exactly one of vector or text',
    });
  }
}

export const SearchBodySchema = z.strictObject(SearchFields).check(requireVectorOrText);
export type SearchBody = z.infer<typeof SearchBodySchema>;

export const CreateCollectionBodySchema = z.strictObject({
  name: CollectionNameSchema,
  /** Defaults to the configured embedder's dimensions. */
  vectorSize: z.int().min(1).max(MAX_VECTOR_SIZE).optional(),
  distance: DistanceSchema.default('Cosine'),
});
export type CreateCollectionBody = z.infer<typeof CreateCollectionBodySchema>;

export const CollectionPathSchema = z.object({ name: CollectionNameSchema });

export const DeleteBodySchema = z
  .strictObject({
    collection: CollectionNameSchema.optional(),
    ids: z.array(PointIdSchema).min(1).max(MAX_IDS_PER_REQUEST).optional(),
    filter: FilterSchema.optional(),
  })
  .check((ctx) => {
    if ((ctx.value.ids === undefined) === (ctx.value.filter === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: [ctx.value.filter === undefined ? 'ids' : 'filter'],
        message: 'give exactly one of ids or filter',
      });
    }
  });
export type DeleteBody = z.infer<typeof DeleteBodySchema>;

const BooleanParam = z.enum(['true', 'false']).transform((v) => v === 'true');

export const PointPathSchema = z.object({
  id: z
    .string()
    .max(MAX_ID_LENGTH)
    .refine((s) => s.trim() !== '', 'must not be empty'),
});
export const PointQuerySchema = z.object({
  collection: CollectionNameSchema.optional(),
  withVector: BooleanParam.default(false),
});
export const CollectionQuerySchema = z.object({ collection: CollectionNameSchema.optional() });

/** The batch envelope: each operation is parsed on its own so that one bad operation fails alone. */
export const BatchBodySchema = z.strictObject({
  collection: CollectionNameSchema.optional(),
  operations: z.array(z.record(z.string(), z.unknown())).min(1).max(MAX_BATCH_OPERATIONS),
});
export type BatchBody = z.infer<typeof BatchBodySchema>;

export const BatchOperationSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('search'), ...SearchFields }).check(requireVectorOrText),
  z.strictObject({ type: z.literal('upsert'), ...UpsertFields }).check(rejectDuplicateIds),
]);
export type BatchOperation = z.infer<typeof BatchOperationSchema>;
