import type { Embedder } from '../embeddings/embedder.ts';
import { validateTexts } from '../embeddings/validate.ts';
import { UpstreamError, ValidationError } from '../errors.ts';
import {
  checkDimension,
  type ExportPoint,
  type NormalizedRecord,
  parseChunk,
  type RecordReject,
  toPoint,
} from '../exports/records.ts';
import type { PointId } from '../ids.ts';
import { mapQdrantError } from '../vectors/qdrant-errors.ts';
import type { MigrationContext } from './context.ts';
import type { ChunkPoints, ChunkRecord, JobRecord } from './model.ts';

/** A chunk's records as points: read by its worker, and again by the finalizer for duplicates. */

const DEFAULT_UPSERT_BATCH = 128;
const DEFAULT_RETRY_DELAYS_MS = [250, 1000, 4000];

interface ChunkResult {
  records: number;
  /** Every accepted record's point id, offset and source id, superseded duplicates included. */
  accepted: ChunkPoints['points'];
  /** What is upserted: one point per id, the chunk's last occurrence. */
  points: Array<ExportPoint & { vector: number[]; offset: number }>;
  rejects: RecordReject[];
}

/** Parses and validates a chunk and embeds its text-only records; duplicates within it: last wins. */
export async function readChunk(
  ctx: MigrationContext,
  job: JobRecord,
  chunk: Pick<ChunkRecord, 'start' | 'end'>,
): Promise<ChunkResult> {
  const bytes = await ctx.deps.objects.get(job.key, { start: chunk.start, end: chunk.end - 1 });
  const parsed = parseChunk(bytes, { format: job.format!, startOffset: chunk.start });
  const size = job.vectorSize!;
  const rejects = [...parsed.rejects];
  const valid: NormalizedRecord[] = [];
  for (const record of parsed.records) {
    const reason = checkDimension(record, size);
    if (reason) rejects.push({ offset: record.offset, reason, sourceId: record.sourceId });
    else valid.push(record);
  }
  const needText = valid.filter((r) => r.vector === undefined);
  let embedded = new Map<NormalizedRecord, number[] | null>();
  if (needText.length > 0) {
    const embedder = ctx.deps.embedder();
    if (embedder.dimensions !== size) {
      for (const r of needText) {
        rejects.push({
          offset: r.offset,
          sourceId: r.sourceId,
          reason: `text-only record, but the embedder "${embedder.model}" makes ${embedder.dimensions} dimensions and the collection has ${size}`,
        });
      }
    } else {
      embedded = await embedTexts(embedder, needText, rejects, job.dryRun);
    }
  }
  const accepted: ChunkPoints['points'] = [];
  const byId = new Map<PointId, ExportPoint & { vector: number[]; offset: number }>();
  for (const record of valid) {
    if (record.vector === undefined && !embedded.has(record)) continue; // rejected above
    // A text-only record keeps its text in the payload, under its own field name.
    const point = toPoint(record);
    accepted.push([point.id, record.offset, record.sourceId]);
    const vector = record.vector ?? embedded.get(record);
    if (!vector) continue; // a dry run's text record: checked, not embedded
    byId.delete(point.id); // re-inserted: the map keeps the winners in document order
    byId.set(point.id, { id: point.id, payload: point.payload, vector, offset: record.offset });
  }
  rejects.sort((a, b) => a.offset - b.offset);
  return {
    records: parsed.records.length + parsed.rejects.length,
    accepted,
    points: [...byId.values()],
    rejects,
  };
}

/**
 * Upserts in batches, waiting for each; transient Qdrant failures are retried with backoff. Before
 * each retry, `stillWanted` (when given) is asked: a retry waits out a backoff, and meanwhile
 * another delivery of the same chunk may have written and recorded it and the job been finalized
 * (duplicates' winners rewritten), so writing then would put superseded vectors back. Answers
 * false when it stopped for that reason.
 */
export async function writePoints(
  ctx: MigrationContext,
  job: JobRecord,
  points: ChunkResult['points'],
  stillWanted?: () => Promise<boolean>,
): Promise<boolean> {
  if (job.dryRun) return true;
  const batch = ctx.deps.upsertBatch ?? DEFAULT_UPSERT_BATCH;
  const delays = ctx.deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  for (let i = 0; i < points.length; i += batch) {
    const slice = points.slice(i, i + batch).map(({ id, vector, payload }) => ({ id, vector, payload }));
    for (let attempt = 0; ; attempt++) {
      try {
        await ctx.deps.qdrant.upsert(job.collection, { wait: true, points: slice });
        break;
      } catch (err) {
        const mapped = mapQdrantError(err, { collection: job.collection, field: 'points' });
        const delay = delays[attempt];
        if (!(mapped instanceof UpstreamError && mapped.retryable) || delay === undefined) throw mapped;
        await new Promise((r) => setTimeout(r, delay));
        if (stillWanted && !(await stillWanted())) return false;
      }
    }
  }
  return true;
}

/**
 * The vectors of text-only records. A text the embedders refuse (empty, over the token limit)
 * rejects its record alone, found before any call. A dry run checks the texts but embeds nothing:
 * its records are accepted with no vector (`null`).
 */
async function embedTexts(
  embedder: Embedder,
  records: NormalizedRecord[],
  rejects: RecordReject[],
  dryRun: boolean,
): Promise<Map<NormalizedRecord, number[] | null>> {
  const bad = new Map<number, string>();
  for (const [i, r] of records.entries()) {
    try {
      validateTexts([r.text]);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      bad.set(i, err.issues[0]?.reason ?? err.message);
    }
  }
  const good = records.filter((_, i) => !bad.has(i));
  for (const [i, reason] of bad) {
    const r = records[i]!;
    rejects.push({ offset: r.offset, sourceId: r.sourceId, reason: `text: ${reason}` });
  }
  const out = new Map<NormalizedRecord, number[] | null>();
  if (dryRun || good.length === 0) {
    for (const r of good) out.set(r, null);
    return out;
  }
  const vectors = await embedder.embed(good.map((r) => r.text!));
  for (const [i, r] of good.entries()) out.set(r, vectors[i]!);
  return out;
}
