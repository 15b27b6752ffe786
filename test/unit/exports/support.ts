import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExportFormat } from '#shared/exports/formats.ts';
import { type NormalizedRecord, parseChunk, type RecordReject } from '#shared/exports/records.ts';
import { type ChunkPlan, type PlanOptions, planChunks, type ScanSummary } from '#shared/exports/scanner.ts';

export const encoder = new TextEncoder();

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The reconstructed legacy export beside the checkout (`../shared`, reference material; may be absent). */
export const LEGACY_SAMPLE_RELATIVE =
  '../shared/fixtures/email-sender-1/task_vectors.RECONSTRUCTED-sample.json';
export const LEGACY_SAMPLE = resolve(REPO_ROOT, LEGACY_SAMPLE_RELATIVE);

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The bytes as a stream of pieces whose sizes cycle through `sizes` (one piece by default). */
export async function* pieces(
  bytes: Uint8Array,
  sizes: readonly number[] = [bytes.length],
): AsyncGenerator<Uint8Array> {
  let k = 0;
  for (let i = 0; i < bytes.length; ) {
    const size = Math.max(1, sizes[k++ % sizes.length]!);
    yield bytes.subarray(i, i + size);
    i += size;
  }
}

/** Every chunk and the summary (a `for await` loop would drop the summary). */
export async function plan(
  bytes: Uint8Array,
  options: PlanOptions,
  sizes?: readonly number[],
): Promise<{ chunks: ChunkPlan[]; summary: ScanSummary }> {
  const chunks: ChunkPlan[] = [];
  const generator = planChunks(pieces(bytes, sizes), options);
  for (;;) {
    const step = await generator.next();
    if (step.done) return { chunks, summary: step.value };
    chunks.push(step.value);
  }
}

/** Parses every chunk of `bytes` as a worker would (its byte range only), in order. */
export function parseChunks(
  bytes: Uint8Array,
  chunks: readonly ChunkPlan[],
  format: ExportFormat,
): { records: NormalizedRecord[]; rejects: RecordReject[] } {
  const records: NormalizedRecord[] = [];
  const rejects: RecordReject[] = [];
  for (const chunk of chunks) {
    const parsed = parseChunk(bytes.slice(chunk.start, chunk.end), { format, startOffset: chunk.start });
    records.push(...parsed.records);
    rejects.push(...parsed.rejects);
  }
  return { records, rejects };
}

/** Scans and parses a whole document in one call. */
export async function scanAndParse(bytes: Uint8Array, options: PlanOptions, sizes?: readonly number[]) {
  const { chunks, summary } = await plan(bytes, options, sizes);
  return { chunks, summary, ...parseChunks(bytes, chunks, options.format) };
}
