import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import { ConflictError, NotFoundError } from '../errors.ts';
import { ORIGINAL_ID_KEY, toPointId } from '../ids.ts';
import { qdrantCall } from './qdrant-errors.ts';
import type { VectorService } from './service.ts';

/**
 * A collection of texts the platform embeds for its own lookups (packages similar to each other,
 * errors like one another, templates closest to a description): created on its first write with
 * the configured embedder (Cosine, the embedder's dimensions and model recorded), one point per
 * caller id. Reads of a collection that was never written answer nothing rather than 404.
 */

export interface TextItem {
  id: string;
  text: string;
  payload?: Record<string, unknown>;
}

export interface Neighbour {
  id: string;
  score: number;
  payload: Record<string, unknown>;
}

export interface NearestOptions {
  limit: number;
  /** Cosine similarity below which a point is not a neighbour. */
  minScore: number;
  /** A Qdrant filter over the items' payloads. */
  filter?: Schemas['Filter'];
}

/** Searches per Qdrant batch-query call in `neighbours`. */
const QUERY_BATCH = 64;

export class TextCollection {
  readonly name: string;
  readonly #vectors: () => VectorService;
  readonly #qdrant: () => QdrantClient;

  constructor(opts: { name: string; vectors: () => VectorService; qdrant: () => QdrantClient }) {
    this.name = opts.name;
    this.#vectors = opts.vectors;
    this.#qdrant = opts.qdrant;
  }

  /** Embeds and stores the items (replacing those with the same ids). */
  async put(items: readonly TextItem[]): Promise<void> {
    if (items.length === 0) return;
    const body = {
      collection: this.name,
      wait: true,
      points: items.map((i) => ({ id: i.id, text: i.text, payload: i.payload ?? {} })),
    };
    try {
      await this.#vectors().upsert(body);
    } catch (err) {
      if (!isMissingCollection(err)) throw err;
      await this.#create();
      await this.#vectors().upsert(body);
    }
  }

  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#ifExists(undefined, () =>
      this.#vectors().deletePoints({ collection: this.name, ids: [...ids] }),
    );
  }

  /** Which of `ids` are stored. */
  async has(ids: readonly string[]): Promise<Set<string>> {
    const points = await this.#retrieve(ids, false);
    return new Set(points.map((p) => p.id));
  }

  /** The items closest to a text, best first. */
  async nearestTo(text: string, options: NearestOptions): Promise<Neighbour[]> {
    const found = await this.#ifExists(undefined, () =>
      this.#vectors().search({
        collection: this.name,
        text,
        limit: options.limit,
        offset: 0,
        scoreThreshold: options.minScore,
        withPayload: true,
        withVector: false,
        ...(options.filter ? { filter: options.filter } : {}),
      }),
    );
    return (found?.results ?? []).map((r) => ({
      id: String(r.id),
      score: r.score ?? 0,
      payload: withoutText(r.payload ?? {}),
    }));
  }

  /** For each stored id among `ids`, the other items closest to it, best first. */
  async neighbours(ids: readonly string[], options: NearestOptions): Promise<Map<string, Neighbour[]>> {
    const out = new Map<string, Neighbour[]>();
    const points = (await this.#retrieve(ids, true)).filter((p) => Array.isArray(p.vector));
    for (let start = 0; start < points.length; start += QUERY_BATCH) {
      const batch = points.slice(start, start + QUERY_BATCH);
      const answers = await qdrantCall({ collection: this.name }, () =>
        this.#qdrant().queryBatch(this.name, {
          searches: batch.map((p) => ({
            query: p.vector as number[],
            // One more than asked: the point itself comes back first.
            limit: options.limit + 1,
            score_threshold: options.minScore,
            with_payload: true,
            ...(options.filter ? { filter: options.filter } : {}),
          })),
        }),
      );
      batch.forEach((p, i) => {
        const found = (answers[i]?.points ?? []).map((q) => ({
          id: callerId(q),
          score: Number(q.score),
          payload: withoutText(q.payload ?? {}),
        }));
        out.set(p.id, found.filter((n) => n.id !== p.id).slice(0, options.limit));
      });
    }
    return out;
  }

  async #retrieve(
    ids: readonly string[],
    withVector: boolean,
  ): Promise<Array<{ id: string; vector?: unknown }>> {
    if (ids.length === 0) return [];
    const points = await this.#ifExists([], () =>
      qdrantCall({ collection: this.name }, () =>
        this.#qdrant().retrieve(this.name, {
          ids: ids.map((id) => toPointId(id).id),
          with_payload: [ORIGINAL_ID_KEY],
          with_vector: withVector,
        }),
      ),
    );
    return points.map((p) => ({ id: callerId(p), vector: p.vector }));
  }

  async #create(): Promise<void> {
    try {
      await this.#vectors().createCollection({ name: this.name, distance: 'Cosine' });
    } catch (err) {
      // Created meanwhile by a concurrent writer: as good.
      if (!(err instanceof ConflictError)) throw err;
    }
  }

  /** `call`'s answer, or `absent` when the collection does not exist yet. */
  async #ifExists<T, A>(absent: A, call: () => Promise<T>): Promise<T | A> {
    try {
      return await call();
    } catch (err) {
      if (isMissingCollection(err)) return absent;
      throw err;
    }
  }
}

function isMissingCollection(err: unknown): boolean {
  return err instanceof NotFoundError && err.issues.some((i) => i.field === 'collection');
}

function callerId(point: { id: string | number | bigint; payload?: Record<string, unknown> | null }): string {
  const original = point.payload?.[ORIGINAL_ID_KEY];
  return typeof original === 'string' ? original : String(point.id);
}

function withoutText(payload: Record<string, unknown>): Record<string, unknown> {
  const { text: _text, [ORIGINAL_ID_KEY]: _id, ...rest } = payload;
  return rest;
}
