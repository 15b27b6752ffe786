import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import * as z from 'zod';
import type { Embedder } from '../embeddings/embedder.ts';
import {
  AppError,
  ConflictError,
  type FieldIssue,
  NotFoundError,
  toErrorResponse,
  UpstreamError,
  ValidationError,
} from '../errors.ts';
import { ORIGINAL_ID_KEY, type PointId, toPointId } from '../ids.ts';
import { logger } from '../powertools.ts';
import { parseWith } from '../validation.ts';
import { qdrantCall } from './qdrant-errors.ts';
import {
  type BatchBody,
  BatchOperationSchema,
  type CallerId,
  type CreateCollectionBody,
  type DeleteBody,
  type Distance,
  type SearchBody,
  type UpsertBody,
} from './schemas.ts';

/**
 * The vector API's business logic over Qdrant's REST API. Inputs are the parsed request schemas
 * (`schemas.ts`); every write is validated and embedded in full before the first point is sent, so
 * a bad request never changes stored data.
 */

/** Points per Qdrant upsert call: well under Qdrant's 32 MB request limit at 1536 dimensions. */
const UPSERT_BATCH = 256;

export interface EmbeddingInfo {
  model: string;
  dimensions: number;
}

export interface CollectionView {
  name: string;
  /** Null for a collection with named vectors (created outside this API), which it does not serve. */
  vectorSize: number | null;
  distance: Distance | null;
  pointsCount: number;
  /** The model whose vectors the collection holds; null for a vector-only collection. */
  embedding: EmbeddingInfo | null;
  status: string;
}

export interface CollectionList {
  collections: Array<{ name: string; aliases: string[] }>;
  aliases: Array<{ alias: string; collection: string }>;
}

export interface PointView {
  /** The caller's id: the original string of a mapped id, otherwise the stored id. */
  id: CallerId;
  payload?: Record<string, unknown>;
  vector?: unknown;
}

export interface SearchHit extends PointView {
  /** null when the score overflowed float32 (Qdrant answers ±inf as null). */
  score: number | null;
}

export interface UpsertResult {
  collection: string;
  upserted: number;
  ids: CallerId[];
}

export interface SearchResult {
  collection: string;
  results: SearchHit[];
}

export type BatchOperationResult =
  | { index: number; type: string | null; status: 'ok'; result: UpsertResult | SearchResult }
  | {
      index: number;
      type: string | null;
      status: 'error';
      error: { code: string; message: string; issues?: FieldIssue[] };
    };

export interface VectorServiceOptions {
  qdrant: QdrantClient;
  /** Called only when text must be embedded or a collection created: reads never build one. */
  embedder: () => Embedder;
  defaultCollection: string;
}

const EmbeddingMetadataSchema = z.object({ model: z.string().min(1), dimensions: z.int().positive() });

/** The embedding recorded in a collection's metadata (`{embedding: {model, dimensions}}`), if any. */
export function recordedEmbedding(info: Schemas['CollectionInfo']): EmbeddingInfo | null {
  const metadata = info.config.metadata as { embedding?: unknown } | null | undefined;
  const parsed = EmbeddingMetadataSchema.safeParse(metadata?.embedding);
  return parsed.success ? parsed.data : null;
}

/** The single unnamed vector's parameters, or undefined for named vectors. */
function denseParams(info: Schemas['CollectionInfo']): { size: number; distance: Distance } | undefined {
  const vectors = info.config.params.vectors as { size?: unknown; distance?: unknown } | undefined;
  if (typeof vectors?.size !== 'number') return undefined;
  return { size: vectors.size, distance: vectors.distance as Distance };
}

/**
 * The dense vector size of each collection (per client, i.e. per Qdrant) as last read, so that a
 * vector search can skip the collection-info round trip. An entry is a hint, never a verdict: a
 * vector of another size, or a query Qdrant refuses, takes the checked path (fresh info), so a
 * stale entry can neither fail a valid request nor change an error; Qdrant checks dimensions itself.
 */
const knownSizes = new WeakMap<QdrantClient, Map<string, number>>();

/**
 * Qdrant's JSON parser turns integers beyond 2^53 into BigInt, which JSON.stringify refuses: such
 * a value (stored by another writer) is answered as the nearest number, as our own parser reads it.
 */
function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

/** A stored point as the caller sees it: own id back, internal payload key removed. */
function toPointView(
  point: {
    id: Schemas['ExtendedPointId'] | bigint;
    payload?: Record<string, unknown> | null;
    vector?: unknown;
  },
  options: { withPayload: boolean; withVector: boolean },
): PointView {
  const { [ORIGINAL_ID_KEY]: original, ...payload } = point.payload ?? {};
  const stored = typeof point.id === 'bigint' ? point.id.toString() : point.id;
  return {
    id: typeof original === 'string' ? original : stored,
    ...(options.withPayload ? { payload: jsonSafe(payload) as Record<string, unknown> } : {}),
    ...(options.withVector && point.vector != null ? { vector: point.vector } : {}),
  };
}

/** Prefixes issue fields of a ValidationError thrown by the embedder for `texts.<i>`. */
function remapTextIssues(err: ValidationError, fieldOf: (textIndex: number) => string): ValidationError {
  const issues = err.issues.map((issue) => {
    const match = /^texts\.(\d+)$/.exec(issue.field);
    return match ? { field: fieldOf(Number(match[1])), reason: issue.reason } : issue;
  });
  return issues.length > 0 ? validation(issues) : err;
}

export class VectorService {
  readonly #qdrant: QdrantClient;
  readonly #embedder: () => Embedder;
  readonly #defaultCollection: string;

  constructor(options: VectorServiceOptions) {
    this.#qdrant = options.qdrant;
    this.#embedder = options.embedder;
    this.#defaultCollection = options.defaultCollection;
  }

  get #sizes(): Map<string, number> {
    let sizes = knownSizes.get(this.#qdrant);
    if (!sizes) {
      sizes = new Map();
      knownSizes.set(this.#qdrant, sizes);
    }
    return sizes;
  }

  async listCollections(): Promise<CollectionList> {
    const [{ collections }, { aliases }] = await Promise.all([
      qdrantCall({}, () => this.#qdrant.getCollections()),
      qdrantCall({}, () => this.#qdrant.getAliases()),
    ]);
    return {
      collections: collections
        .map(({ name }) => ({
          name,
          aliases: aliases.filter((a) => a.collection_name === name).map((a) => a.alias_name),
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      aliases: aliases.map((a) => ({ alias: a.alias_name, collection: a.collection_name })),
    };
  }

  /**
   * Creates a collection. Its size defaults to the embedder's dimensions; when the size is the
   * embedder's, the embedder's model is recorded in the collection metadata so that text can later
   * be embedded into it (and only with that model). Any other size makes a vector-only collection.
   */
  async createCollection(body: CreateCollectionBody): Promise<CollectionView> {
    const embedder = this.#embedder();
    const size = body.vectorSize ?? embedder.dimensions;
    if (await this.#exists(body.name)) throw new ConflictError(`collection "${body.name}" already exists`);
    const embedding =
      size === embedder.dimensions ? { model: embedder.model, dimensions: embedder.dimensions } : null;
    await qdrantCall({ field: 'name' }, () =>
      this.#qdrant.createCollection(body.name, {
        vectors: { size, distance: body.distance },
        ...(embedding ? { metadata: { embedding } } : {}),
      }),
    );
    return this.getCollection(body.name);
  }

  async getCollection(name: string): Promise<CollectionView> {
    const info = await this.#info(name);
    const dense = denseParams(info);
    return {
      name,
      vectorSize: dense?.size ?? null,
      distance: dense?.distance ?? null,
      pointsCount: info.points_count ?? 0,
      embedding: recordedEmbedding(info),
      status: info.status,
    };
  }

  async deleteCollection(name: string): Promise<{ name: string; deleted: true }> {
    // Qdrant answers a delete of an unknown collection with `false` (older) or 404 (newer).
    await this.#info(name);
    this.#sizes.delete(name);
    const deleted = await qdrantCall({ collection: name }, () => this.#qdrant.deleteCollection(name));
    if (!deleted) throw notFound(name);
    return { name, deleted: true };
  }

  /** Upserts points given as vectors or as text; answers the caller's ids in request order. */
  async upsert(body: UpsertBody): Promise<UpsertResult> {
    const collection = body.collection ?? this.#defaultCollection;
    const info = await this.#info(collection);
    const size = this.#denseSize(info, collection);

    const issues: FieldIssue[] = [];
    body.points.forEach((point, i) => {
      if (point.vector && point.vector.length !== size) {
        issues.push({
          field: `points.${i}.vector`,
          reason: `has ${point.vector.length} dimensions; collection "${collection}" holds vectors of ${size}`,
        });
      }
    });
    if (issues.length > 0) throw validation(issues);

    const textIndexes = body.points.flatMap((point, i) => (point.text === undefined ? [] : [i]));
    const embedded = new Map<number, number[]>();
    if (textIndexes.length > 0) {
      const vectors = await this.#embed(
        collection,
        info,
        size,
        textIndexes.map((i) => body.points[i]!.text!),
        (j) => `points.${textIndexes[j]}.text`,
      );
      for (const [j, pointIndex] of textIndexes.entries()) embedded.set(pointIndex, vectors[j]!);
    }

    const points: Schemas['PointStruct'][] = body.points.map((point, i) => {
      const { id, original } = toPointId(point.id);
      const payload: Record<string, unknown> = { ...point.payload };
      if (point.text !== undefined && !Object.hasOwn(payload, 'text')) payload.text = point.text;
      if (original !== undefined) payload[ORIGINAL_ID_KEY] = original;
      return { id, vector: point.vector ?? embedded.get(i)!, payload };
    });
    for (let start = 0; start < points.length; start += UPSERT_BATCH) {
      const batch = points.slice(start, start + UPSERT_BATCH);
      await qdrantCall({ collection, field: 'points' }, () =>
        this.#qdrant.upsert(collection, { wait: body.wait, points: batch }),
      );
    }
    return { collection, upserted: points.length, ids: body.points.map((p) => p.id) };
  }

  /** Nearest points by vector or by text (through Qdrant's query API), filtered and paged. */
  async search(body: SearchBody): Promise<SearchResult> {
    const collection = body.collection ?? this.#defaultCollection;
    if (body.vector && body.vector.length === this.#sizes.get(collection)) {
      try {
        return await this.#query(collection, body, body.vector);
      } catch (err) {
        // Refused by Qdrant: answer exactly as a search without the hint would (fresh info, checks).
        if (!(err instanceof ValidationError || err instanceof NotFoundError)) throw err;
        this.#sizes.delete(collection);
      }
    }
    const info = await this.#info(collection);
    const size = this.#denseSize(info, collection);
    let vector: number[];
    if (body.vector) {
      if (body.vector.length !== size) {
        throw ValidationError.field(
          'vector',
          `has ${body.vector.length} dimensions; collection "${collection}" holds vectors of ${size}`,
        );
      }
      vector = body.vector;
    } else {
      [vector] = (await this.#embed(collection, info, size, [body.text!], () => 'text')) as [number[]];
    }
    return this.#query(collection, body, vector);
  }

  async #query(collection: string, body: SearchBody, vector: number[]): Promise<SearchResult> {
    const { points } = await qdrantCall({ collection, field: body.filter ? 'filter' : 'body' }, () =>
      this.#qdrant.query(collection, {
        query: vector,
        ...(body.filter ? { filter: body.filter as Schemas['Filter'] } : {}),
        limit: body.limit,
        offset: body.offset,
        ...(body.scoreThreshold !== undefined ? { score_threshold: body.scoreThreshold } : {}),
        // The original-id key is needed to answer the caller's ids even without the payload.
        with_payload: body.withPayload ? true : [ORIGINAL_ID_KEY],
        with_vector: body.withVector,
      }),
    );
    return {
      collection,
      results: points.map((p) => ({
        ...toPointView(p, { withPayload: body.withPayload, withVector: body.withVector }),
        // An integral score beyond 2^53 (Dot, Euclid, Manhattan) comes back from the client as BigInt;
        // one beyond float32 (an overflowed product) as null, which Qdrant writes for ±inf: kept null.
        score: p.score === null ? null : Number(p.score),
      })),
    };
  }

  /**
   * Runs searches and upserts in order, each on its own: one failing operation is reported in its
   * slot and does not stop the others. Issue fields are relative to the operation (`points.0.vector`).
   */
  async batch(body: BatchBody): Promise<{ results: BatchOperationResult[] }> {
    const results: BatchOperationResult[] = [];
    for (const [index, raw] of body.operations.entries()) {
      const type = typeof raw.type === 'string' ? raw.type : null;
      try {
        const op = parseWith(BatchOperationSchema, raw, '');
        const collection = op.collection ?? body.collection;
        const result =
          op.type === 'search'
            ? await this.search({ ...op, collection })
            : await this.upsert({ ...op, collection });
        results.push({ index, type, status: 'ok', result });
      } catch (err) {
        if (!(err instanceof AppError))
          logger.error('batch operation failed', { index, error: err as Error });
        results.push({ index, type, status: 'error', error: toErrorResponse(err).body.error });
      }
    }
    return { results };
  }

  /** One point by the caller's id (mapped the way upsert maps it). */
  async getPoint(input: {
    collection?: string | undefined;
    id: string;
    withVector: boolean;
  }): Promise<{ collection: string } & PointView> {
    const collection = input.collection ?? this.#defaultCollection;
    const id = mapId(input.id, 'id');
    const records = await qdrantCall({ collection }, () =>
      this.#qdrant.retrieve(collection, { ids: [id], with_payload: true, with_vector: input.withVector }),
    );
    const record = records[0];
    if (!record) {
      throw new NotFoundError(`point "${input.id}" does not exist in collection "${collection}"`, [
        { field: 'id', reason: 'no such point' },
      ]);
    }
    return { collection, ...toPointView(record, { withPayload: true, withVector: input.withVector }) };
  }

  /** Deletes by ids or by filter; answers how many points existed and were deleted. */
  async deletePoints(body: DeleteBody): Promise<{ collection: string; deleted: number }> {
    const collection = body.collection ?? this.#defaultCollection;
    if (body.ids) {
      const ids = [...new Set(body.ids.map((raw, i) => mapId(raw, `ids.${i}`)))];
      const existing = await qdrantCall({ collection }, () =>
        this.#qdrant.retrieve(collection, { ids, with_payload: false, with_vector: false }),
      );
      await qdrantCall({ collection }, () => this.#qdrant.delete(collection, { wait: true, points: ids }));
      return { collection, deleted: existing.length };
    }
    const filter = body.filter as Schemas['Filter'];
    const { count } = await qdrantCall({ collection, field: 'filter' }, () =>
      this.#qdrant.count(collection, { filter, exact: true }),
    );
    await qdrantCall({ collection, field: 'filter' }, () =>
      this.#qdrant.delete(collection, { wait: true, filter }),
    );
    return { collection, deleted: count };
  }

  async #info(collection: string): Promise<Schemas['CollectionInfo']> {
    let info: Schemas['CollectionInfo'];
    try {
      info = await qdrantCall({ collection }, () => this.#qdrant.getCollection(collection));
    } catch (err) {
      this.#sizes.delete(collection);
      throw err;
    }
    const dense = denseParams(info);
    if (dense) this.#sizes.set(collection, dense.size);
    else this.#sizes.delete(collection);
    return info;
  }

  async #exists(collection: string): Promise<boolean> {
    try {
      await this.#info(collection);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  #denseSize(info: Schemas['CollectionInfo'], collection: string): number {
    const dense = denseParams(info);
    if (!dense) {
      throw ValidationError.field(
        'collection',
        `"${collection}" has named vectors, which this API does not serve`,
      );
    }
    return dense.size;
  }

  /**
   * Embeds texts for a collection, after checking that the collection was created for the
   * configured embedder's model and dimensions: vectors of two models are not comparable.
   */
  async #embed(
    collection: string,
    info: Schemas['CollectionInfo'],
    size: number,
    texts: string[],
    fieldOf: (textIndex: number) => string,
  ): Promise<number[][]> {
    const embedder = this.#embedder();
    const recorded = recordedEmbedding(info);
    const field = fieldOf(0);
    const configured = `the configured embedder is "${embedder.model}" (${embedder.dimensions} dimensions)`;
    if (!recorded) {
      throw ValidationError.field(
        field,
        `collection "${collection}" records no embedding model (it holds vectors only), so text cannot be embedded into it; ${configured}`,
      );
    }
    if (
      recorded.model !== embedder.model ||
      recorded.dimensions !== embedder.dimensions ||
      size !== embedder.dimensions
    ) {
      throw ValidationError.field(
        field,
        `collection "${collection}" holds embeddings of model "${recorded.model}" (${recorded.dimensions} dimensions), but ${configured}`,
      );
    }
    let vectors: number[][];
    try {
      vectors = await embedder.embed(texts);
    } catch (err) {
      throw err instanceof ValidationError ? remapTextIssues(err, fieldOf) : err;
    }
    if (vectors.length !== texts.length || vectors.some((v) => v.length !== size)) {
      throw new UpstreamError(`embedder "${embedder.model}" answered vectors of the wrong count or size`);
    }
    return vectors;
  }
}

function notFound(collection: string): NotFoundError {
  return new NotFoundError(`collection "${collection}" does not exist`, [
    { field: 'collection', reason: `"${collection}" does not exist` },
  ]);
}

function validation(issues: FieldIssue[]): ValidationError {
  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return new ValidationError(`${first.field}: ${first.reason}${more}`, issues);
}

function mapId(raw: CallerId, field: string): PointId {
  try {
    return toPointId(raw).id;
  } catch (err) {
    throw ValidationError.field(field, (err as Error).message);
  }
}
