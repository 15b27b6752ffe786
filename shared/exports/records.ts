import { ORIGINAL_ID_KEY, type PointId, toPointId } from '../ids.ts';
import { MAX_NESTING_DEPTH, nestsDeeperThan } from '../validation.ts';
import { MAX_VECTOR_SIZE, PointIdSchema } from '../vectors/schemas.ts';
import { JsonSplitter, LineSplitter, type RecordSink } from './boundaries.ts';
import type { ExportFormat } from './formats.ts';

/**
 * A worker's pass over one chunk: each record is decoded and `JSON.parse`d on its own, so a bad
 * record is rejected with its absolute byte offset and never sinks its neighbours. Every record
 * shape of every format normalizes to one `NormalizedRecord`.
 */

export interface NormalizedRecord {
  sourceId: string | number;
  vector?: number[];
  /** Text to embed when there is no vector (also kept in the payload under its own field name). */
  text?: string;
  /** Every field but the id and the vector, under its original name. */
  payload: Record<string, unknown>;
  /** Absolute byte offset of the record in the export. */
  offset: number;
}

export interface RecordReject {
  offset: number;
  reason: string;
  /** The record's id, when it had a valid one. */
  sourceId?: string | number;
}

export interface ParsedChunk {
  records: NormalizedRecord[];
  rejects: RecordReject[];
}

/** Where a record's id, vector and text are looked for, first match wins. */
export const ID_FIELDS = ['id', '_id', 'TaskId'] as const;
export const VECTOR_FIELDS = ['vector', 'embedding', 'Vector'] as const;
export const TEXT_FIELDS = ['text', 'content', 'document', 'description', 'Description'] as const;

/**
 * What is wrong with a dense vector (`[i]: reason`, or `: reason` for the whole), or undefined.
 * A plain loop rather than a schema: it runs on every number of every record of an export.
 */
function vectorProblem(raw: unknown): string | undefined {
  if (!Array.isArray(raw)) return ': must be an array of numbers';
  if (raw.length > MAX_VECTOR_SIZE) return `: must have at most ${MAX_VECTOR_SIZE} dimensions`;
  for (let i = 0; i < raw.length; i++) {
    const x: unknown = raw[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) return `[${i}]: must be a finite number`;
  }
  return undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses the records of `bytes`, the byte range `[startOffset, startOffset + bytes.length)` of an
 * export as `planChunks` cut it. Never throws on bad input: a range that is not a run of records
 * (the object changed since planning, a wrong range) ends in a reject at the offset it broke.
 */
export function parseChunk(
  bytes: Uint8Array,
  options: { format: ExportFormat; startOffset: number },
): ParsedChunk {
  const { format, startOffset } = options;
  const result: ParsedChunk = { records: [], rejects: [] };
  const onRecord: RecordSink = (start, end) => {
    const parsed = parseRecord(bytes.subarray(start - startOffset, end - startOffset), start);
    if ('reason' in parsed) result.rejects.push(parsed);
    else result.records.push(parsed);
  };
  const splitter =
    format === 'jsonl'
      ? new LineSplitter(onRecord, startOffset, startOffset === 0)
      : new JsonSplitter({ kind: 'elements' }, onRecord, startOffset);
  splitter.write(bytes);
  splitter.finish();
  if (splitter.error) {
    result.rejects.push({
      offset: splitter.error.offset,
      reason: `the chunk is not a run of records: ${splitter.error.message}`,
    });
  }
  return result;
}

function parseRecord(bytes: Uint8Array, offset: number): NormalizedRecord | RecordReject {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { offset, reason: 'not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { offset, reason: `not valid JSON: ${(err as Error).message}` };
  }
  return normalizeRecord(value, offset);
}

/**
 * One parsed record in any accepted shape: legacy tasks (`TaskId`, `Vector`, `Description`, other
 * fields), array and JSONL records (`id`, `vector` or `embedding`, the rest under `payload`,
 * `metadata` or as sibling fields) and Qdrant points (`id`, `vector`, `payload`).
 */
export function normalizeRecord(value: unknown, offset: number): NormalizedRecord | RecordReject {
  if (!isPlainObject(value))
    return { offset, reason: `a record must be a JSON object, found ${kindOf(value)}` };

  const idField = ID_FIELDS.find((field) => Object.hasOwn(value, field));
  if (idField === undefined) return { offset, reason: `no id (looked for ${ID_FIELDS.join(', ')})` };
  const id = PointIdSchema.safeParse(value[idField]);
  if (!id.success) {
    return {
      offset,
      reason: `${idField}: must be an unsigned integer or a non-empty string, found ${excerpt(value[idField])}`,
    };
  }
  const sourceId = id.data;
  const reject = (reason: string): RecordReject => ({ offset, reason, sourceId });

  const vectorField = VECTOR_FIELDS.find((field) => Object.hasOwn(value, field));
  let vector: number[] | undefined;
  const rawVector = vectorField === undefined ? undefined : value[vectorField];
  // null and [] mean "not embedded yet", as legacy exporters wrote them: the text decides.
  if (rawVector != null && !(Array.isArray(rawVector) && rawVector.length === 0)) {
    if (isPlainObject(rawVector)) {
      return reject(`${vectorField}: named vectors are not supported, expected one dense vector`);
    }
    const problem = vectorProblem(rawVector);
    if (problem) return reject(`${vectorField}${problem}`);
    vector = rawVector as number[];
  }

  // `payload` (Qdrant) or else an object `metadata` is flattened into the payload; `payload: null`
  // is Qdrant's empty payload.
  let container: 'payload' | 'metadata' | undefined;
  if (Object.hasOwn(value, 'payload') && value.payload !== null) {
    if (!isPlainObject(value.payload))
      return reject(`payload must be an object, found ${kindOf(value.payload)}`);
    container = 'payload';
  } else if (isPlainObject(value.metadata)) container = 'metadata';
  const nested = container === undefined ? {} : (value[container] as Record<string, unknown>);

  const entries: Array<[string, unknown]> = [];
  for (const [key, field] of Object.entries(value)) {
    if (key === idField || key === vectorField || key === container || key === 'payload') continue;
    if (Object.hasOwn(nested, key))
      return reject(`"${key}" is both a field of the record and of its ${container}`);
    entries.push([key, field]);
  }
  const fields = [...entries, ...Object.entries(nested)];

  // The reserved key is how the platform remembers the id a point id was derived from: accepted
  // only when it says the truth (a re-import of this platform's own points), which restores the id.
  const reserved = fields.find(([key]) => key === ORIGINAL_ID_KEY);
  let originalId: string | undefined;
  if (reserved) {
    const [, original] = reserved;
    if (
      typeof original !== 'string' ||
      original.trim() === '' ||
      toPointId(original).id !== toPointId(sourceId).id
    ) {
      return reject(
        `"${ORIGINAL_ID_KEY}" is reserved for the id the point id derives from, and ${excerpt(original)} is not`,
      );
    }
    originalId = original;
  }
  // Object.fromEntries defines keys (even "__proto__") as own data properties.
  const payload: Record<string, unknown> = Object.fromEntries(
    reserved ? fields.filter(([key]) => key !== ORIGINAL_ID_KEY) : fields,
  );

  // A payload the API would refuse is refused here too: deeper ones are stored but cannot be read back.
  if (nestsDeeperThan(payload, MAX_NESTING_DEPTH)) {
    return reject(`payload nests objects and arrays deeper than ${MAX_NESTING_DEPTH} levels`);
  }

  const textField = TEXT_FIELDS.find(
    (field) => typeof payload[field] === 'string' && payload[field].trim() !== '',
  );
  const text = textField === undefined ? undefined : (payload[textField] as string);
  if (vector === undefined && text === undefined) {
    const empty = rawVector != null ? ` (${vectorField} is empty)` : '';
    return reject(
      `neither a vector${empty} (looked for ${VECTOR_FIELDS.join(', ')}) nor text (looked for ${TEXT_FIELDS.join(', ')})`,
    );
  }
  return {
    sourceId: originalId ?? sourceId,
    ...(vector === undefined ? {} : { vector }),
    ...(text === undefined ? {} : { text }),
    payload,
    offset,
  };
}

/** Why the record cannot go into a collection of `size` dimensions, or undefined when it can. */
export function checkDimension(record: NormalizedRecord, size: number): string | undefined {
  if (record.vector === undefined || record.vector.length === size) return undefined;
  return `vector has ${record.vector.length} dimensions, the collection has ${size}`;
}

export interface ExportPoint {
  id: PointId;
  payload: Record<string, unknown>;
  /** Present when the record had a vector; `text` is then omitted. */
  vector?: number[];
  /** Present when the record must be embedded. */
  text?: string;
}

/** The Qdrant point of a record: mapped id, original id kept in the payload when it was mapped. */
export function toPoint(record: NormalizedRecord): ExportPoint {
  const { id, original } = toPointId(record.sourceId);
  const payload =
    original === undefined ? { ...record.payload } : { ...record.payload, [ORIGINAL_ID_KEY]: original };
  if (record.vector !== undefined) return { id, payload, vector: record.vector };
  return record.text === undefined ? { id, payload } : { id, payload, text: record.text };
}

/**
 * Records that map to the same Qdrant point (`"7"` and `7` included), in order of first
 * appearance: the later ones would silently replace the earlier ones.
 */
export function duplicateIds(
  records: readonly NormalizedRecord[],
): Array<{ id: PointId; offsets: number[] }> {
  const byId = new Map<PointId, number[]>();
  for (const record of records) {
    const { id } = toPointId(record.sourceId);
    const offsets = byId.get(id);
    if (offsets) offsets.push(record.offset);
    else byId.set(id, [record.offset]);
  }
  return [...byId].filter(([, offsets]) => offsets.length > 1).map(([id, offsets]) => ({ id, offsets }));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short JSON rendering of a value, for a message. */
function excerpt(value: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(value) ?? String(value);
  } catch {
    json = String(value);
  }
  return json.length > 40 ? `${json.slice(0, 40)}…` : json;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
