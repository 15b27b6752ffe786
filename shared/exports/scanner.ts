import { JsonSplitter, LineSplitter, type Splitter, type StructuralError } from './boundaries.ts';
import { type ExportFormat, METADATA_KEY, RECORDS_KEY } from './formats.ts';

/**
 * The planner's pass over an export: one streaming scan that finds every record's byte range and
 * groups consecutive records into chunks of about `targetChunkBytes`, each a byte range a worker
 * fetches and parses on its own. Memory stays bounded whatever the export's size: nothing is kept
 * but the scan state, the chunk being grouped and the captured `metadata` (bounded).
 */

export interface PlanOptions {
  format: ExportFormat;
  /** A chunk never exceeds this, unless one record alone does. */
  targetChunkBytes: number;
  /** Records larger than this go in no chunk and are reported (a worker must be able to hold one). */
  maxRecordBytes?: number;
  /** The legacy top-level `metadata` is captured only up to this size. */
  maxMetadataBytes?: number;
}

/** A byte range of whole records: `start` inclusive, `end` exclusive (HTTP range `start`-`end - 1`). */
export interface ChunkPlan {
  index: number;
  start: number;
  end: number;
  records: number;
}

export interface OversizedRecords {
  count: number;
  /** The first ones, in document order. */
  samples: Array<{ offset: number; bytes: number }>;
}

export interface ScanSummary {
  format: ExportFormat;
  /** Bytes read from the stream. */
  bytes: number;
  /** Records in the yielded chunks (oversized records excluded). */
  records: number;
  chunks: number;
  oversized: OversizedRecords;
  /** The top-level `metadata` object (legacy and Qdrant points formats), when present and captured. */
  metadata?: Record<string, unknown>;
  /** Why a present `metadata` was not captured. */
  metadataError?: string;
  /** A structural error ends the scan: the records before it are in the yielded chunks. */
  error?: StructuralError;
}

export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_METADATA_BYTES = 1024 * 1024;
const OVERSIZED_SAMPLES = 100;

/**
 * Yields the chunks as the scan finds them and returns the summary (read it with `next()`: a
 * `for await` loop drops a generator's return value). A truncated or corrupted document ends with
 * `summary.error`, never a throw; only the stream's own failures propagate.
 */
export async function* planChunks(
  stream: AsyncIterable<Uint8Array>,
  options: PlanOptions,
): AsyncGenerator<ChunkPlan, ScanSummary, undefined> {
  const { format, targetChunkBytes } = options;
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const maxMetadataBytes = options.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES;
  for (const [name, value] of Object.entries({ targetChunkBytes, maxRecordBytes, maxMetadataBytes })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  }

  const grouper = new ChunkGrouper(targetChunkBytes, maxRecordBytes);
  const onRecord = (start: number, end: number) => grouper.add(start, end);
  let json: JsonSplitter | undefined;
  let splitter: Splitter;
  if (format === 'jsonl') splitter = new LineSplitter(onRecord);
  else {
    json = new JsonSplitter(
      format === 'json-array'
        ? { kind: 'array' }
        : {
            kind: 'object',
            recordsKey: RECORDS_KEY[format],
            capture: { key: METADATA_KEY, maxBytes: maxMetadataBytes },
          },
      onRecord,
    );
    splitter = json;
  }

  for await (const piece of stream) {
    splitter.write(piece);
    yield* grouper.take();
    // Leaving the loop closes the stream: nothing after a structural error is worth reading.
    if (splitter.error) break;
  }
  splitter.finish();
  grouper.flush();
  yield* grouper.take();

  const summary: ScanSummary = {
    format,
    bytes: splitter.position,
    records: grouper.records,
    chunks: grouper.chunks,
    oversized: grouper.oversized,
  };
  const captured = json?.captured;
  if (captured && 'error' in captured) summary.metadataError = captured.error;
  else if (captured) {
    const { value } = captured;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      summary.metadata = value as Record<string, unknown>;
    } else summary.metadataError = `"${METADATA_KEY}" is not an object`;
  }
  if (splitter.error) summary.error = splitter.error;
  return summary;
}

/** Groups consecutive records into ranges of at most `target` bytes (one record may exceed it). */
class ChunkGrouper {
  records = 0;
  chunks = 0;
  readonly oversized: OversizedRecords = { count: 0, samples: [] };
  readonly #target: number;
  readonly #maxRecord: number;
  #ready: ChunkPlan[] = [];
  #start = 0;
  #end = 0;
  #count = 0;

  constructor(target: number, maxRecord: number) {
    this.#target = target;
    this.#maxRecord = maxRecord;
  }

  add(start: number, end: number): void {
    if (end - start > this.#maxRecord) {
      // The chunks on either side stay contiguous ranges of whole records.
      this.flush();
      this.oversized.count++;
      if (this.oversized.samples.length < OVERSIZED_SAMPLES) {
        this.oversized.samples.push({ offset: start, bytes: end - start });
      }
      return;
    }
    if (this.#count > 0 && end - this.#start > this.#target) this.flush();
    if (this.#count === 0) this.#start = start;
    this.#end = end;
    this.#count++;
  }

  flush(): void {
    if (this.#count === 0) return;
    this.#ready.push({ index: this.chunks++, start: this.#start, end: this.#end, records: this.#count });
    this.records += this.#count;
    this.#count = 0;
  }

  /** The chunks completed since the last call. */
  take(): ChunkPlan[] {
    const ready = this.#ready;
    this.#ready = [];
    return ready;
  }
}
