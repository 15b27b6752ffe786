import { ConflictError } from '../errors.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';
import type { MigrationContext } from './context.ts';
import type { JobRecord } from './model.ts';

/** Points the alias back at the collection it served before this migration switched it. */
export async function rollback(ctx: MigrationContext, jobId: string): Promise<JobRecord> {
  const job = (await ctx.jobs.get(jobId)).value;
  if (job.status !== 'completed' || job.dryRun) {
    throw new ConflictError(
      `migration ${jobId} is ${job.dryRun ? 'a dry run' : job.status}: only a completed migration can be rolled back`,
    );
  }
  if (!job.previousCollection) {
    throw new ConflictError(
      `migration ${jobId} created alias "${job.target}": there is no earlier collection to go back to`,
    );
  }
  const { qdrant } = ctx.deps;
  const { aliases } = await qdrantCall({}, () => qdrant.getAliases());
  const current = aliases.find((a) => a.alias_name === job.target)?.collection_name;
  if (current !== job.collection) {
    throw new ConflictError(
      `alias "${job.target}" now points to "${current ?? 'nothing'}", not to this migration's collection`,
    );
  }
  const previous = job.previousCollection;
  await qdrantCall({ collection: previous }, () => qdrant.getCollection(previous));
  await qdrantCall({ field: 'alias' }, () =>
    qdrant.updateCollectionAliases({
      actions: [
        { delete_alias: { alias_name: job.target } },
        { create_alias: { collection_name: previous, alias_name: job.target } },
      ],
    }),
  );
  const rolled = await ctx.jobs.update(jobId, (j) =>
    j.status === 'completed' ? { ...j, status: 'rolled-back' } : undefined,
  );
  await ctx.publish('MigrationRolledBack', { jobId, target: job.target, collection: previous });
  return rolled ?? (await ctx.jobs.get(jobId)).value;
}
