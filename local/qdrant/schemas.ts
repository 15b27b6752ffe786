import { z } from 'zod';
import { formatError, validationError } from './errors.ts';
import { isPayloadKey } from './filter.ts';
import { invalidPointIdMessage, type PointId, parsePointId } from './ids.ts';
import { DISTANCES } from './kernels.ts';
import type { Payload, PayloadSelector } from './payload.ts';
import { TOKENIZERS } from './text.ts';

/**
 * Zod schemas of the request bodies the embedded server accepts, with Qdrant's two error
 * classes: a body that does not deserialize is a 400 "Format error in JSON body: …" (serde's
 * wording, plus where: `at points[0].id`), a value out of range is a 422 "Validation error in
 * JSON body: [field: …]". Fields the server does not need are accepted and ignored, as serde does.
 */

type Kind = 'format' | 'validation';

/** `verbatim`: Qdrant prints this message without saying where (kept identical). */
function fail(ctx: z.RefinementCtx, kind: Kind, message: string, verbatim = false): never {
  ctx.addIssue({ code: 'custom', message, params: { kind, verbatim } });
  return z.NEVER as never;
}

/**
 * A required field checked by `check`. Zod runs a transform before it notices a missing key,
 * so absence is reported here, as serde's "missing field".
 */
function field<T>(check: (value: unknown, ctx: z.RefinementCtx) => T) {
  return z.unknown().transform((value, ctx): T => {
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: 'missing field', params: { kind: 'format', missing: true } });
      return z.NEVER as never;
    }
    return check(value, ctx);
  });
}

/** serde's description of an unexpected value: `string "a"`, `integer \`5\``, `a sequence`… */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'boolean') return `boolean \`${value}\``;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? `integer \`${value}\`` : `floating point \`${value}\``;
  }
  if (Array.isArray(value)) return 'a sequence';
  return 'a map';
}

const EXPECTED: Record<string, string> = {
  array: 'a sequence',
  object: 'a map',
  string: 'a string',
  boolean: 'a boolean',
  number: 'a number',
};

/** Path in Qdrant's validation style: `points[0].vector`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Parses `value` with `schema` or throws the QdrantApiError Qdrant would answer. */
export function parseBody<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = result.error.issues;
  const isValidation = (issue: z.core.$ZodIssue): boolean =>
    issue.code === 'custom' && (issue.params as { kind?: Kind } | undefined)?.kind === 'validation';
  const format = issues.find((issue) => !isValidation(issue));
  if (format === undefined) {
    throw validationError(issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`));
  }
  const where = formatPath(format.path);
  const input = (format as { input?: unknown }).input;
  const params = format.code === 'custom' ? (format.params as { verbatim?: boolean; missing?: boolean }) : {};
  if (
    (format.code === 'invalid_type' && (input === undefined || format.expected === 'nonoptional')) ||
    params.missing
  ) {
    throw formatError(`missing field \`${String(format.path[format.path.length - 1])}\``);
  }
  if (params.verbatim) {
    throw formatError(format.message);
  }
  let message =
    format.code === 'invalid_type'
      ? `invalid type: ${describeValue(input)}, expected ${EXPECTED[format.expected] ?? format.expected}`
      : format.message;
  if (where !== '') message += ` at ${where}`;
  throw formatError(message);
}

/* ------------------------------------------------------------------ building blocks ---- */

/** Optional field: absent and null both mean "not given" (serde's Option). */
function opt<T extends z.ZodType>(schema: T) {
  return z.optional(
    z.unknown().transform((value, ctx) => (value === null ? undefined : parseInner(schema, value, ctx))),
  );
}

/** Parses a nested value, re-reporting its issues under `prefix` (relative to the current field). */
function parseInner<T extends z.ZodType>(
  schema: T,
  value: unknown,
  ctx: z.RefinementCtx,
  prefix: PropertyKey[] = [],
): z.output<T> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    ctx.addIssue({ ...issue, path: [...prefix, ...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
  }
  return z.NEVER as never;
}

function uint(range: { min?: number; max?: number } = {}) {
  return field((value, ctx): number => {
    if (typeof value !== 'number')
      return fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected usize`);
    if (!Number.isInteger(value))
      return fail(ctx, 'format', `invalid type: floating point \`${value}\`, expected usize`);
    if (value < 0) return fail(ctx, 'format', `invalid value: integer \`${value}\`, expected usize`);
    const { min, max } = range;
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      const rule = max === undefined ? `must be ${min} or larger` : `must be from ${min ?? 0} to ${max}`;
      return fail(ctx, 'validation', `value ${value} invalid, ${rule}`);
    }
    return value;
  });
}

const finiteNumber = field((value, ctx): number => {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected f32`);
  }
  return value;
});

const bool = field((value, ctx): boolean =>
  typeof value === 'boolean'
    ? value
    : fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected a boolean`),
);

const text = field((value, ctx): string =>
  typeof value === 'string'
    ? value
    : fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected a string`),
);

const stringList = z.array(text);

export const pointIdSchema = field(
  (value, ctx): PointId => parsePointId(value) ?? fail(ctx, 'format', invalidPointIdMessage(value), true),
);

const pointIdList = z.array(pointIdSchema);

/** A payload object; null means empty (as in Qdrant). */
const payloadOrNull = z.unknown().transform((value, ctx): Payload => {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    return fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected a map`);
  }
  return value as Payload;
});

const payloadRequired = field((value, ctx): Payload => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected a map`);
  }
  return value as Payload;
});

/** A value passed on untouched (filters are compiled by filter.ts, vectors checked per collection). */
const anyValue = z.unknown();

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

const withPayloadSchema = field((value, ctx): PayloadSelector => {
  if (typeof value === 'boolean' || stringArray(value)) return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const only = keys.length === 1 ? keys[0] : undefined;
    const list = only === undefined ? undefined : (value as Record<string, unknown>)[only];
    if (only === 'include' && stringArray(list)) return { include: list };
    if (only === 'exclude' && stringArray(list)) return { exclude: list };
  }
  return fail(ctx, 'format', 'data did not match any variant of untagged enum WithPayloadInterface');
});

const withVectorSchema = field((value, ctx): boolean | string[] => {
  if (typeof value === 'boolean' || stringArray(value)) return value;
  return fail(ctx, 'format', 'data did not match any variant of untagged enum WithVector');
});

/**
 * A request body whose `with_vector` may also be spelled `with_vectors` (a serde alias in Qdrant:
 * both at once are a duplicate field).
 */
function withVectorAlias<T extends z.ZodType>(schema: T) {
  return z.preprocess((value, ctx) => {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, 'with_vectors')) return value;
    const { with_vectors, ...rest } = value as Record<string, unknown>;
    if (Object.hasOwn(rest, 'with_vector')) {
      ctx.addIssue({ code: 'custom', message: 'duplicate field `with_vector`', params: { kind: 'format' } });
      return value;
    }
    return { ...rest, with_vector: with_vectors };
  }, schema);
}

/* ------------------------------------------------------------------ collections -------- */

const distanceSchema = field((value, ctx) => {
  if (typeof value === 'string' && (DISTANCES as readonly string[]).includes(value)) {
    return value as (typeof DISTANCES)[number];
  }
  const shown =
    typeof value === 'string' ? `unknown variant \`${value}\`` : `invalid type: ${describeValue(value)}`;
  return fail(ctx, 'format', `${shown}, expected one of ${DISTANCES.map((d) => `\`${d}\``).join(', ')}`);
});

export const MAX_DIMENSION = 65_536;

export const vectorParamsSchema = z.object({
  size: uint({ min: 1, max: MAX_DIMENSION }),
  distance: distanceSchema,
  on_disk: opt(bool),
  datatype: opt(text),
  multivector_config: opt(anyValue),
  hnsw_config: opt(anyValue),
  quantization_config: opt(anyValue),
  memory: opt(anyValue),
});

export type VectorParamsBody = z.output<typeof vectorParamsSchema>;

/** `vectors`: one unnamed vector (`{size, distance}`), or a map of named ones. */
const vectorsConfigSchema = field(
  (value, ctx): { single: VectorParamsBody } | { named: Record<string, unknown> } => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail(ctx, 'format', 'data did not match any variant of untagged enum VectorsConfig');
    }
    if ('size' in value || 'distance' in value) return { single: parseInner(vectorParamsSchema, value, ctx) };
    return { named: value as Record<string, unknown> };
  },
);

const hnswDiffSchema = z.object({
  m: opt(uint()),
  ef_construct: opt(uint({ min: 4 })),
  full_scan_threshold: opt(uint({ min: 10 })),
  max_indexing_threads: opt(uint()),
  on_disk: opt(bool),
  payload_m: opt(uint()),
  inline_storage: opt(bool),
});

const optimizerThreads = field((value, ctx): number | null => {
  if (value === 'auto') return null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  return fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected usize or "auto"`);
});

const optimizersDiffSchema = z.object({
  deleted_threshold: opt(finiteNumber),
  vacuum_min_vector_number: opt(uint({ min: 100 })),
  default_segment_number: opt(uint()),
  max_segment_size: opt(uint({ min: 1 })),
  memmap_threshold: opt(uint()),
  indexing_threshold: opt(uint()),
  flush_interval_sec: opt(uint()),
  max_optimization_threads: opt(optimizerThreads),
  prevent_unoptimized: opt(bool),
});

const walDiffSchema = z.object({
  wal_capacity_mb: opt(uint({ min: 1 })),
  wal_segments_ahead: opt(uint()),
  wal_retain_closed: opt(uint({ min: 1 })),
});

export const createCollectionSchema = z.object({
  vectors: opt(vectorsConfigSchema),
  shard_number: opt(uint({ min: 1 })),
  sharding_method: opt(text),
  replication_factor: opt(uint({ min: 1 })),
  write_consistency_factor: opt(uint({ min: 1 })),
  on_disk_payload: opt(bool),
  hnsw_config: opt(hnswDiffSchema),
  wal_config: opt(walDiffSchema),
  optimizers_config: opt(optimizersDiffSchema),
  quantization_config: opt(payloadRequired),
  sparse_vectors: opt(payloadRequired),
  strict_mode_config: opt(anyValue),
  payload: opt(anyValue),
  metadata: opt(payloadRequired),
});
export type CreateCollectionBody = z.output<typeof createCollectionSchema>;
export type HnswDiff = z.output<typeof hnswDiffSchema>;
export type OptimizersDiff = z.output<typeof optimizersDiffSchema>;
export type WalDiff = z.output<typeof walDiffSchema>;

const nullableMetadata = z.optional(
  z.unknown().transform((value, ctx): Payload | null => {
    if (value === null) return null;
    if (typeof value !== 'object' || Array.isArray(value)) {
      return fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected a map`);
    }
    return value as Payload;
  }),
);

export const updateCollectionSchema = z.object({
  vectors: opt(payloadRequired),
  optimizers_config: opt(optimizersDiffSchema),
  params: opt(payloadRequired),
  hnsw_config: opt(hnswDiffSchema),
  quantization_config: opt(anyValue),
  sparse_vectors: opt(payloadRequired),
  strict_mode_config: opt(anyValue),
  metadata: nullableMetadata,
});
export type UpdateCollectionBody = z.output<typeof updateCollectionSchema>;

const aliasNames = {
  create_alias: z.object({ collection_name: text, alias_name: text }),
  delete_alias: z.object({ alias_name: text }),
  rename_alias: z.object({ old_alias_name: text, new_alias_name: text }),
};

export type AliasAction =
  | { create_alias: { collection_name: string; alias_name: string } }
  | { delete_alias: { alias_name: string } }
  | { rename_alias: { old_alias_name: string; new_alias_name: string } };

const aliasAction = field((value, ctx): AliasAction => {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const kind = keys.find((key): key is keyof typeof aliasNames => key in aliasNames);
    if (kind !== undefined && keys.length === 1) {
      const inner = parseInner(aliasNames[kind], (value as Record<string, unknown>)[kind], ctx, [kind]);
      return { [kind]: inner } as AliasAction;
    }
  }
  return fail(ctx, 'format', 'data did not match any variant of untagged enum AliasOperations');
});

export const changeAliasesSchema = z.object({ actions: z.array(aliasAction) });

export const PAYLOAD_SCHEMA_TYPES = [
  'keyword',
  'integer',
  'float',
  'geo',
  'text',
  'bool',
  'datetime',
  'uuid',
] as const;

const isUint = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= 0;
const isBool = (value: unknown) => typeof value === 'boolean';
const isStringList = (value: unknown) =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/** Checks of the index parameters the server applies (others are kept as given). */
const PARAM_CHECKS: Record<string, Record<string, (value: unknown) => boolean>> = {
  integer: { lookup: isBool, range: isBool },
  text: {
    tokenizer: (value) => (TOKENIZERS as readonly unknown[]).includes(value),
    lowercase: isBool,
    min_token_len: isUint,
    max_token_len: isUint,
    stopwords: (value) =>
      typeof value === 'string' ||
      (typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        ['languages', 'custom'].every((key) => {
          const list = (value as Payload)[key];
          return list === undefined || list === null || isStringList(list);
        })),
  },
};

const fieldSchema = field((value, ctx): string | Payload => {
  const known = (type: unknown): boolean => (PAYLOAD_SCHEMA_TYPES as readonly unknown[]).includes(type);
  // An untagged enum: serde names no variant when none matches.
  const mismatch = () =>
    fail(ctx, 'format', 'data did not match any variant of untagged enum PayloadFieldSchema');
  if (known(value)) return value as string;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return mismatch();
  const params = value as Payload;
  if (!known(params.type)) return mismatch();
  const checks = PARAM_CHECKS[params.type as string] ?? {};
  for (const [key, check] of Object.entries(checks)) {
    const param = params[key];
    // `tokenizer` has a default but is no Option: null does not deserialize.
    const absent = param === undefined || (param === null && key !== 'tokenizer');
    if (!absent && !check(param)) return mismatch();
  }
  if (params.type === 'integer' && params.lookup === false && params.range === false) {
    ctx.addIssue({
      code: 'custom',
      message: "the 'lookup' and 'range' capabilities can't be both disabled",
      params: { kind: 'validation' },
      path: ['lookup'],
    });
    return z.NEVER as never;
  }
  return params;
});

/** A payload key, read as Qdrant reads a JsonPath: an empty or malformed one is a format error. */
const jsonPath = field((value, ctx): string => {
  if (typeof value !== 'string')
    return fail(ctx, 'format', `invalid type: ${describeValue(value)}, expected a string`);
  return isPayloadKey(value) ? value : fail(ctx, 'format', `Invalid json path: '${value}'`);
});

export const createFieldIndexSchema = z.object({ field_name: jsonPath, field_schema: opt(fieldSchema) });

/* ------------------------------------------------------------------ points ------------- */

const updateModeSchema = field((value, ctx) => {
  if (value === 'upsert' || value === 'insert_only' || value === 'update_only') return value;
  const shown =
    typeof value === 'string' ? `unknown variant \`${value}\`` : `invalid type: ${describeValue(value)}`;
  return fail(ctx, 'format', `${shown}, expected one of \`insert_only\`, \`upsert\`, \`update_only\``);
});

const pointStructSchema = z.object({
  id: pointIdSchema,
  vector: anyValue,
  payload: z.optional(payloadOrNull),
});

export const pointsListSchema = z.object({
  points: z.array(pointStructSchema),
  update_filter: opt(anyValue),
  update_mode: opt(updateModeSchema),
});

export const pointsBatchSchema = z.object({
  batch: z.object({
    ids: pointIdList,
    vectors: anyValue,
    payloads: opt(z.array(payloadOrNull)),
  }),
  update_filter: opt(anyValue),
  update_mode: opt(updateModeSchema),
});

export const pointRequestSchema = withVectorAlias(
  z.object({
    ids: pointIdList,
    with_payload: opt(withPayloadSchema),
    with_vector: opt(withVectorSchema),
  }),
);

/** Body selecting points: `{points: [...]}` or `{filter: {...}}`. */
export const pointsSelectorSchema = z.object({ points: opt(pointIdList), filter: opt(anyValue) });

export const setPayloadSchema = z.object({
  payload: payloadRequired,
  points: opt(pointIdList),
  filter: opt(anyValue),
  key: opt(text),
});

export const deletePayloadSchema = z.object({
  keys: stringList,
  points: opt(pointIdList),
  filter: opt(anyValue),
});

export const scrollSchema = withVectorAlias(
  z.object({
    offset: opt(pointIdSchema),
    limit: opt(uint({ min: 1 })),
    filter: opt(anyValue),
    with_payload: opt(withPayloadSchema),
    with_vector: opt(withVectorSchema),
    order_by: opt(anyValue),
  }),
);

export const countSchema = z.object({ filter: opt(anyValue), exact: opt(bool) });

/** Search parameters: exact search makes them moot, but Qdrant validates them. */
const searchParamsSchema = z.object({
  hnsw_ef: opt(uint({ min: 1 })),
  exact: opt(bool),
  indexed_only: opt(bool),
  quantization: opt(anyValue),
  acorn: opt(anyValue),
});

export const queryRequestSchema = withVectorAlias(
  z.object({
    query: opt(anyValue),
    prefetch: opt(anyValue),
    using: opt(text),
    filter: opt(anyValue),
    params: opt(searchParamsSchema),
    score_threshold: opt(finiteNumber),
    limit: opt(uint({ min: 1 })),
    offset: opt(uint()),
    with_payload: opt(withPayloadSchema),
    with_vector: opt(withVectorSchema),
    lookup_from: opt(anyValue),
  }),
);
export type QueryRequestBody = z.output<typeof queryRequestSchema>;

export const queryBatchSchema = z.object({ searches: z.array(queryRequestSchema) });
