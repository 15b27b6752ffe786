import { createMigrationQueue } from '../../adapters/index.ts';
import { NotFoundError } from '../../errors.ts';
import { migrationService } from '../../migrations/clients.ts';
import type { CreateMigrationBody } from '../../migrations/model.ts';
import { publicJob } from '../../migrations/service.ts';
import { check, type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';

/** The most recent jobs the figures look at. */
const JOBS_SCANNED = 1_000;
const JOB_STATES = ['planning', 'running', 'finalizing', 'completed', 'failed', 'rolled-back'] as const;

const within = (iso: string | undefined, since: number) => iso !== undefined && Date.parse(iso) >= since;

/** Migrations of legacy exports: jobs by state, records/s, failures; start, get, redrive and rollback. */
export const migration: ManagerImplementation<'migration'> = {
  async checks(ctx) {
    const since = Date.now() - ctx.config.windowMinutes * 60_000;
    return Promise.all([
      stateStoreCheck(ctx.app),
      check('queue', async () => {
        await createMigrationQueue(ctx.app).ping();
      }),
      check('recent-failures', async () => {
        const jobs = await migrationService(ctx.app).list(JOBS_SCANNED);
        const failed = jobs.filter((j) => j.status === 'failed' && within(j.updatedAt, since)).length;
        const detail = `${failed} failed in the last ${ctx.config.windowMinutes} min`;
        return failed >= ctx.config.degradedAfterFailedJobs ? { status: 'degraded', detail } : { detail };
      }),
    ]);
  },

  async gauges(ctx) {
    const jobs = await migrationService(ctx.app).list(JOBS_SCANNED);
    const since = Date.now() - ctx.config.windowMinutes * 60_000;
    const finished = jobs.filter(
      (j) => j.status === 'completed' && j.startedAt && within(j.completedAt, since),
    );
    const written = finished.reduce((n, j) => n + j.counts.written, 0);
    const seconds = finished.reduce(
      (s, j) => s + (Date.parse(j.completedAt!) - Date.parse(j.startedAt!)) / 1000,
      0,
    );
    return [
      ...JOB_STATES.map((state) => ({
        name: 'migration_jobs',
        help: `Migration jobs by state (the latest ${JOBS_SCANNED})`,
        value: jobs.filter((j) => j.status === state).length,
        labels: { state },
      })),
      {
        name: 'migration_records_per_second',
        help: 'Records written per second of work by the jobs completed in the window',
        value: seconds > 0 ? Math.round((written / seconds) * 100) / 100 : 0,
      },
    ];
  },

  actions: {
    async start(input: CreateMigrationBody, ctx) {
      const { job } = await migrationService(ctx.app).start(input);
      return { job: publicJob(job) };
    },
    async get(input: { jobId: string }, ctx) {
      try {
        return { job: await migrationService(ctx.app).get(input.jobId) };
      } catch (err) {
        // The service names its route's path parameter; the action's caller sent `input.jobId`.
        if (err instanceof NotFoundError)
          throw new NotFoundError(err.message, [{ field: 'input.jobId', reason: 'no such migration' }]);
        throw err;
      }
    },
    async redrive(input: { jobId: string }, ctx) {
      const { job, resent, deadLettersRemoved } = await migrationService(ctx.app).redrive(input.jobId);
      return { job: publicJob(job), resent, deadLettersRemoved };
    },
    async rollback(input: { jobId: string }, ctx) {
      return { job: publicJob(await migrationService(ctx.app).rollback(input.jobId)) };
    },
  },
};
