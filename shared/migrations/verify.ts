import type { PointId } from '../ids.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';
import { cosine } from './bits.ts';
import type { MigrationContext } from './context.ts';
import type { JobRecord } from './model.ts';
import type { Verification } from './report.ts';

/** Minimum cosine between a source vector and the stored one for verification to pass. */
const MIN_SAMPLE_COSINE = 0.999;

export type Sample = Array<{ id: PointId; offset: number; vector: number[] }>;

/**
 * Checks a job whose chunks are all counted: counts add up, the collection holds one point per
 * distinct id, the sample reads back as written, the reject ratio is within the threshold.
 * Answers the verification and the reasons it failed (none when it passed).
 */
export async function verify(
  ctx: MigrationContext,
  job: JobRecord,
  written: { distinctIds: number; sample: Sample },
): Promise<{ verification: Verification; reasons: string[]; rejectRatio: number }> {
  const { counts } = job;
  const countsMatch =
    counts.records === counts.written + counts.rejected && counts.records === job.plannedRecords;
  const verification: Verification = { countsMatch, sampled: 0, mismatches: [], passed: false };
  if (!job.dryRun) {
    const { count } = await qdrantCall({ collection: job.collection }, () =>
      ctx.deps.qdrant.count(job.collection, { exact: true }),
    );
    verification.pointsInCollection = count;
    await verifySample(ctx, job, written.sample, verification);
  }
  const rejectRatio = counts.records === 0 ? 1 : counts.rejected / counts.records;
  const reasons: string[] = [];
  if (!countsMatch) {
    reasons.push(
      `counts do not add up: ${counts.records} records read, ${counts.written} written, ${counts.rejected} rejected, ${job.plannedRecords} planned`,
    );
  }
  if (
    verification.pointsInCollection !== undefined &&
    verification.pointsInCollection !== written.distinctIds
  ) {
    reasons.push(
      `the collection holds ${verification.pointsInCollection} points, ${written.distinctIds} distinct ids were written`,
    );
  }
  if (verification.mismatches.length > 0) {
    reasons.push(`${verification.mismatches.length} sampled point(s) differ from the export`);
  }
  if (rejectRatio > job.rejectThreshold) {
    reasons.push(
      `${(rejectRatio * 100).toFixed(2)}% of records were rejected, above the threshold of ${(job.rejectThreshold * 100).toFixed(2)}%`,
    );
  }
  verification.passed = reasons.length === 0;
  return { verification, reasons, rejectRatio };
}

/** Reads the sampled points back and compares them with the source vectors. */
async function verifySample(
  ctx: MigrationContext,
  job: JobRecord,
  sample: Sample,
  verification: Verification,
): Promise<void> {
  let min = 1;
  for (let i = 0; i < sample.length; i += 100) {
    const part = sample.slice(i, i + 100);
    const stored = await qdrantCall({ collection: job.collection }, () =>
      ctx.deps.qdrant.retrieve(job.collection, {
        ids: part.map((s) => s.id),
        with_vector: true,
        with_payload: false,
      }),
    );
    const byId = new Map(stored.map((p) => [typeof p.id === 'bigint' ? Number(p.id) : p.id, p.vector]));
    for (const s of part) {
      const vector = byId.get(s.id);
      if (!Array.isArray(vector) || typeof vector[0] !== 'number') {
        verification.mismatches.push({ id: s.id, offset: s.offset, reason: 'missing from the collection' });
        continue;
      }
      const similarity = cosine(s.vector, vector as number[]);
      min = Math.min(min, similarity);
      if (similarity < MIN_SAMPLE_COSINE) {
        verification.mismatches.push({
          id: s.id,
          offset: s.offset,
          reason: `cosine ${similarity.toFixed(6)} to the source vector`,
        });
      }
    }
  }
  verification.sampled = sample.length;
  if (sample.length > 0) verification.minCosine = min;
}
