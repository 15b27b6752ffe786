import { ConflictError, NotFoundError } from '../errors.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';
import type { MigrationContext } from './context.ts';
import { withNote } from './jobs.ts';
import { type JobRecord, reportKey } from './model.ts';
import type { MigrationReport } from './report.ts';

/**
 * Points the alias back at the collection it served before this migration switched it, then
 * records it in the report and the job. A rollback that stopped after the switch is finished by a
 * repeat (the alias already serves the previous collection).
 */
export async function rollback(ctx: MigrationContext, jobId: string): Promise<JobRecord> {
  const job = (await ctx.jobs.get(jobId)).value;
  if (job.status !== 'completed' || job.dryRun) {
    throw new ConflictError(
      `migration ${jobId} is ${job.dryRun ? 'a dry run' : job.status}: only a completed migration can be rolled back`,
    );
  }
  const previous = job.previousCollection;
  if (!previous) {
    throw new ConflictError(
      `migration ${jobId} created alias "${job.target}": there is no earlier collection to go back to`,
    );
  }
  const { qdrant } = ctx.deps;
  const { aliases } = await qdrantCall({}, () => qdrant.getAliases());
  const current = aliases.find((a) => a.alias_name === job.target)?.collection_name;
  if (current !== previous) {
    if (current !== job.collection) {
      throw new ConflictError(
        `alias "${job.target}" now points to "${current ?? 'nothing'}", not to this migration's collection`,
      );
    }
    await qdrantCall({ collection: previous }, () => qdrant.getCollection(previous));
    await qdrantCall({ field: 'alias' }, () =>
      qdrant.updateCollectionAliases({
        actions: [
          { delete_alias: { alias_name: job.target } },
          { create_alias: { collection_name: previous, alias_name: job.target } },
        ],
      }),
    );
  }
  const at = ctx.now();
  const reported = await reportRollback(ctx, jobId, { at, collection: previous });
  const rolled = await ctx.jobs.update(jobId, (j) => {
    if (j.status !== 'completed') return undefined;
    const next: JobRecord = { ...j, status: 'rolled-back' };
    return reported ? next : withNote(next, at, 'the report was missing: it does not record the rollback');
  });
  if (!rolled) return (await ctx.jobs.get(jobId)).value;
  await ctx.publish('MigrationRolledBack', { jobId, target: job.target, collection: previous });
  return rolled;
}

/** Marks the job's report rolled back; false when there is no report to mark (deleted by hand). */
async function reportRollback(
  ctx: MigrationContext,
  jobId: string,
  rolledBack: NonNullable<MigrationReport['rolledBack']>,
): Promise<boolean> {
  const key = reportKey(jobId);
  let report: MigrationReport;
  try {
    report = JSON.parse(new TextDecoder().decode(await ctx.deps.objects.get(key))) as MigrationReport;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    return false;
  }
  const marked: MigrationReport = { ...report, status: 'rolled-back', rolledBack };
  await ctx.deps.objects.put(key, JSON.stringify(marked, null, 2), 'application/json');
  return true;
}
