import type { PointId } from '../ids.ts';
import { forEachLimit } from './bits.ts';
import { readChunk, writePoints } from './chunk-reader.ts';
import { conclude } from './conclusion.ts';
import type { MigrationContext } from './context.ts';
import { settled } from './jobs.ts';
import {
  type ChunkPoints,
  type ChunkRecord,
  chunkPointsKey,
  type JobRecord,
  MAX_REPORTED_REJECTS,
} from './model.ts';
import type { Duplicate } from './report.ts';
import { type Sample, verify } from './verify.ts';

/**
 * Verifies a job whose chunks are all recorded and switches its alias, or fails it. Safe to run
 * again (a retried message): the alias switch is one atomic call and the final state is written
 * conditionally, so events are published once.
 */
export async function finalize(ctx: MigrationContext, jobId: string): Promise<JobRecord> {
  const claimed = await ctx.jobs.update(jobId, (j) =>
    j.status === 'running' && settled(j) ? { ...j, status: 'finalizing' } : undefined,
  );
  const job = claimed ?? (await ctx.jobs.get(jobId)).value;
  if (job.status !== 'finalizing') return job;

  const chunkItems = await ctx.jobs.chunks(jobId);
  const rejects = [
    ...job.planRejects,
    ...chunkItems.flatMap((c) => c.rejects ?? []).slice(0, MAX_REPORTED_REJECTS),
  ].sort((a, b) => a.offset - b.offset);
  if (job.chunks.failed > 0) {
    const failed = chunkItems.filter((c) => c.status === 'failed').map((c) => c.index);
    return conclude(ctx, job, {
      reason: `${failed.length} chunk(s) failed after every retry (${failed.slice(0, 20).join(', ')}): redrive them`,
      rejects,
    });
  }

  // Every point written, by id: the same id in several records is a duplicate, and the last
  // occurrence in the export wins (rewritten here, as parallel workers finish in any order).
  const occurrences = new Map<PointId, Omit<Duplicate, 'id'>>();
  const samples: ChunkPoints['sample'] = [];
  await forEachLimit(chunkItems, 8, async (chunk) => {
    const file = JSON.parse(
      new TextDecoder().decode(await ctx.deps.objects.get(chunkPointsKey(jobId, chunk.index))),
    ) as ChunkPoints;
    for (const [id, offset, sourceId] of file.points) {
      const seen = occurrences.get(id) ?? { sourceIds: [], offsets: [] };
      occurrences.set(id, seen);
      seen.offsets.push(offset);
      if (sourceId !== undefined && !seen.sourceIds.includes(sourceId)) seen.sourceIds.push(sourceId);
    }
    samples.push(...file.sample);
  });
  const duplicates: Duplicate[] = [...occurrences]
    .filter(([, seen]) => seen.offsets.length > 1)
    .map(([id, seen]) => ({ id, sourceIds: seen.sourceIds, offsets: seen.offsets.sort((a, b) => a - b) }))
    .sort((a, b) => a.offsets[0]! - b.offsets[0]!);
  const winners = new Map(duplicates.map((d) => [d.id, d.offsets.at(-1)!]));
  // A superseded occurrence's vector is not what the collection holds: not a valid sample.
  const sample = samples.filter((s) => (winners.get(s.id) ?? s.offset) === s.offset);
  const rewritten = await rewriteWinners(ctx, job, chunkItems, winners);
  sample.push(...rewritten.slice(0, 10));

  const { verification, reasons, rejectRatio } = await verify(ctx, job, {
    distinctIds: occurrences.size,
    sample,
  });
  return conclude(ctx, job, {
    ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
    rejects,
    duplicates,
    points: occurrences.size,
    verification,
    rejectRatio,
  });
}

/** Rewrites the last occurrence of each duplicated id; answers the rewritten points. */
async function rewriteWinners(
  ctx: MigrationContext,
  job: JobRecord,
  chunks: ChunkRecord[],
  winners: Map<PointId, number>,
): Promise<Sample> {
  if (winners.size === 0) return [];
  const offsets = new Set(winners.values());
  const out: Sample = [];
  for (const chunk of chunks) {
    const inChunk = [...offsets].filter((o) => o >= chunk.start && o < chunk.end);
    if (inChunk.length === 0) continue;
    const { points } = await readChunk(ctx, job, chunk);
    const chosen = points.filter((p) => winners.get(p.id) === p.offset);
    await writePoints(ctx, job, chosen);
    out.push(...chosen.map((p) => ({ id: p.id, offset: p.offset, vector: p.vector })));
  }
  return out;
}
