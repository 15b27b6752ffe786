import type { Schemas } from '@qdrant/js-client-rest';
import { ConflictError } from '../errors.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';
import type { MigrationContext } from './context.ts';
import { withNote } from './jobs.ts';
import { type JobRecord, reportKey, type VerificationSummary } from './model.ts';
import {
  buildReport,
  type Cleanup,
  type MigrationReport,
  type Outcome,
  type Verification,
} from './report.ts';

/**
 * The end of a job: the alias switched (when it passed), the report written, the final status
 * recorded once and announced, and the collection of a failed job cleaned up.
 */

/**
 * Concludes a job that is `finalizing` (its chunks all recorded) or `planning` (a planning failure,
 * always with a reason): switches the alias of a passed, real migration, writes the report, then
 * records the final status conditionally, so that a repeat publishes nothing twice.
 */
export async function conclude(ctx: MigrationContext, job: JobRecord, outcome: Outcome): Promise<JobRecord> {
  const from = job.status;
  const completedAt = ctx.now();
  let alias: MigrationReport['alias'];
  let reason = outcome.reason;
  if (reason === undefined && !job.dryRun) {
    try {
      const previous = await switchAlias(ctx, job);
      alias = { name: job.target, collection: job.collection, ...(previous ? { previous } : {}) };
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      reason = err.message;
    }
  }
  const status = reason === undefined ? 'completed' : 'failed';
  const cleanup = reason === undefined || job.dryRun ? undefined : cleanupOf(job);
  const report = buildReport(job, outcome, { reason, alias, cleanup, completedAt });
  const key = reportKey(job.id);
  // Written before the status: an ended job always has its report.
  await ctx.deps.objects.put(key, JSON.stringify(report, null, 2), 'application/json');
  const final = await ctx.jobs.update(job.id, (j) => {
    if (j.status !== from) return undefined;
    const ended: JobRecord = {
      ...j,
      status,
      reportKey: key,
      completedAt,
      ...(alias?.previous ? { previousCollection: alias.previous } : {}),
      ...(alias ? { alias } : {}),
      ...(outcome.verification ? { verification: summaryOf(outcome.verification) } : {}),
      ...(reason ? { error: reason } : {}),
    };
    return cleanup?.action === 'keep' ? withNote(ended, completedAt, cleanup.reason) : ended;
  });
  if (!final) return (await ctx.jobs.get(job.id)).value;
  await ctx.publish(status === 'completed' ? 'MigrationCompleted' : 'MigrationFailed', {
    jobId: job.id,
    key: job.key,
    target: job.target,
    collection: job.collection,
    dryRun: job.dryRun,
    reportKey: key,
    ...job.counts,
    ...(reason ? { reason } : {}),
  });
  if (cleanup?.action === 'delete') return dropCollection(ctx, final);
  return final;
}

/** The verification on the job (what a poller of the job reads); the report keeps the mismatches. */
function summaryOf(verification: Verification): VerificationSummary {
  const { mismatches, ...rest } = verification;
  return { ...rest, mismatches: mismatches.length };
}

/**
 * What becomes of a failed job's collection: kept while a redrive of its failed chunks could still
 * complete the job, deleted otherwise (no alias points at it: the live alias is untouched).
 */
function cleanupOf(job: JobRecord): Cleanup {
  if (job.chunks.failed > 0) {
    return {
      collection: job.collection,
      action: 'keep',
      reason: `collection ${job.collection} kept for a redrive of the failed chunks (delete it if the job will not be redriven)`,
    };
  }
  return { collection: job.collection, action: 'delete', reason: 'nothing can complete this job any more' };
}

/** Deletes a failed job's collection if it exists and no alias serves it; the outcome goes to its history. */
async function dropCollection(ctx: MigrationContext, job: JobRecord): Promise<JobRecord> {
  const { qdrant } = ctx.deps;
  const name = job.collection;
  let message: string;
  try {
    const [{ aliases }, { collections }] = await Promise.all([
      qdrantCall({}, () => qdrant.getAliases()),
      qdrantCall({}, () => qdrant.getCollections()),
    ]);
    if (!collections.some((c) => c.name === name)) return job; // failed before it was created
    const alias = aliases.find((a) => a.collection_name === name)?.alias_name;
    if (alias) message = `collection ${name} kept: alias "${alias}" points at it`;
    else {
      await qdrantCall({ collection: name }, () => qdrant.deleteCollection(name));
      message = `collection ${name} deleted`;
    }
  } catch (err) {
    // The job has ended and nothing retries this: the orphan is named for a manual cleanup instead.
    message = `collection ${name} could not be checked or deleted (${(err as Error).message}): delete it with DELETE /api/v1/vectors/collections/${name}`;
  }
  return (await ctx.jobs.update(job.id, (j) => withNote(j, ctx.now(), message))) ?? job;
}

/**
 * Points the alias at `collection` in one atomic Qdrant call (delete + create); answers the
 * collection it pointed at before, if any. A real collection named like the alias is a conflict.
 */
async function switchAlias(ctx: MigrationContext, job: JobRecord): Promise<string | undefined> {
  const { qdrant } = ctx.deps;
  const { target: alias, collection } = job;
  const [{ aliases }, { collections }] = await Promise.all([
    qdrantCall({}, () => qdrant.getAliases()),
    qdrantCall({}, () => qdrant.getCollections()),
  ]);
  if (collections.some((c) => c.name === alias)) {
    throw new ConflictError(
      `a collection is named "${alias}", so no alias can take that name: rename or delete it, then migrate again`,
    );
  }
  const current = aliases.find((a) => a.alias_name === alias)?.collection_name;
  // Switched by an earlier attempt of this conclusion: the collection it replaced was saved first.
  if (current === collection) return job.previousCollection;
  const previous = current;
  if (previous) {
    // Saved before the switch, so that a retry after it still knows where rollback goes.
    await ctx.jobs.update(job.id, (j) =>
      j.status === 'finalizing' ? { ...j, previousCollection: previous } : undefined,
    );
  }
  const actions: Schemas['AliasOperations'][] = [
    ...(previous ? [{ delete_alias: { alias_name: alias } }] : []),
    { create_alias: { collection_name: collection, alias_name: alias } },
  ];
  await qdrantCall({ field: 'alias' }, () => qdrant.updateCollectionAliases({ actions }));
  return previous;
}
