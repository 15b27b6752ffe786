import type { Schemas } from '@qdrant/js-client-rest';
import { ConflictError } from '../errors.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';
import type { MigrationContext } from './context.ts';
import { type JobRecord, reportKey } from './model.ts';
import { buildReport, type MigrationReport, type Outcome } from './report.ts';

/**
 * The end of a job: the alias switched (when it passed), the report written, the final status
 * recorded once and announced.
 */

/**
 * Concludes a `finalizing` job: switches its alias unless it failed or is a dry run, writes the
 * report, then records the final status (conditionally, so events are published once).
 */
export async function conclude(ctx: MigrationContext, job: JobRecord, outcome: Outcome): Promise<JobRecord> {
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
  const report = buildReport(job, outcome, { reason, alias, completedAt });
  const key = reportKey(job.id);
  await ctx.deps.objects.put(key, JSON.stringify(report, null, 2), 'application/json');
  const final = await ctx.jobs.update(job.id, (j) =>
    j.status !== 'finalizing'
      ? undefined
      : {
          ...j,
          status,
          reportKey: key,
          completedAt,
          ...(alias?.previous ? { previousCollection: alias.previous } : {}),
          ...(reason ? { error: reason } : {}),
        },
  );
  if (!final) return (await ctx.jobs.get(job.id)).value;
  await ctx.publish(status === 'completed' ? 'MigrationCompleted' : 'MigrationFailed', {
    jobId: job.id,
    target: job.target,
    collection: job.collection,
    dryRun: job.dryRun,
    reportKey: key,
    ...job.counts,
    ...(reason ? { reason } : {}),
  });
  return final;
}

/** Fails a job still in one of the `from` statuses (a planning failure). */
export async function failJob(
  ctx: MigrationContext,
  jobId: string,
  reason: string,
  from: JobRecord['status'][],
): Promise<JobRecord | undefined> {
  const failed = await ctx.jobs.update(jobId, (j) =>
    from.includes(j.status) ? { ...j, status: 'failed', error: reason, completedAt: ctx.now() } : undefined,
  );
  if (failed) {
    await ctx.publish('MigrationFailed', { jobId, target: failed.target, key: failed.key, reason });
  }
  return failed;
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
