import { createStateStore } from '../../adapters/index.ts';
import { workflowService } from '../../workflows/clients.ts';
import { installExamples } from '../../workflows/examples.ts';
import { EXECUTION_STATUSES } from '../../workflows/model.ts';
import { check, type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';

/** The latest executions of each workflow its figures and health look at. */
const EXECUTIONS_SCANNED = 50;
const ENDED_BADLY = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

/** Workflows and their executions (Step Functions, or the local engine); installs the examples. */
export const workflows: ManagerImplementation<'workflows'> = {
  async checks(ctx) {
    return Promise.all([
      stateStoreCheck(ctx.app),
      check('executions', async () => {
        const since = Date.now() - ctx.config.windowMinutes * 60_000;
        const { executions } = await workflowService(ctx.app).recent(EXECUTIONS_SCANNED);
        const failed = executions.filter(
          (e) => ENDED_BADLY.has(e.status) && e.stoppedAt !== undefined && Date.parse(e.stoppedAt) >= since,
        ).length;
        const detail = `${failed} failed, timed out or aborted in the last ${ctx.config.windowMinutes} min`;
        return failed >= ctx.config.degradedAfterFailedExecutions
          ? { status: 'degraded', detail }
          : { detail };
      }),
    ]);
  },

  async gauges(ctx) {
    const { workflows: count, executions } = await workflowService(ctx.app).recent(EXECUTIONS_SCANNED);
    return [
      { name: 'workflows_workflows', help: 'Stored workflows', value: count },
      ...EXECUTION_STATUSES.map((status) => ({
        name: 'workflows_executions',
        help: `Executions by status (the latest ${EXECUTIONS_SCANNED} of each workflow)`,
        value: executions.filter((e) => e.status === status).length,
        labels: { status: status.toLowerCase() },
      })),
    ];
  },

  actions: {
    async 'install-examples'(input: { firstRun: boolean }, ctx, by) {
      // The schedule's run honours the configuration; an administrator's asks explicitly.
      if (input.firstRun && !ctx.config.installExamples)
        return { installed: [], present: [], skipped: 'disabled' };
      return installExamples(
        workflowService(ctx.app),
        createStateStore(ctx.app),
        { id: by, role: 'admin' },
        input,
      );
    },
  },
};
