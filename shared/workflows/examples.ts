import type { Actor } from '../actor.ts';
import type { StateStore } from '../ports.ts';
import type { WorkflowInput } from './model.ts';
import type { WorkflowService } from './service.ts';

/**
 * The workflows the platform ships: installed once, when the workflow manager first runs (its
 * schedule's first run, at `npm start` locally), and then the users' to edit or delete. Each
 * waits on a stopped manager (Retry on ManagerStopped) and tells the operators when it fails
 * (the notifications manager's `notify`, which mails the default subscription).
 */

/** A stopped manager is waited for, a minute at a time, up to an hour. */
const WAIT_FOR_STOPPED_MANAGER = [
  { ErrorEquals: ['ManagerStopped'], IntervalSeconds: 60, MaxAttempts: 60, BackoffRate: 1 },
];
const ON_FAILURE = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Notify failure' }];

function notifyFailure(workflow: string) {
  return {
    'Notify failure': {
      Type: 'Task',
      Resource: 'manager:notifications:notify',
      Parameters: {
        subject: `Workflow failed: ${workflow}`,
        'message.$': "States.Format('{}: {}', $.failure.Error, $.failure.Cause)",
        severity: 'critical',
      },
      Retry: WAIT_FOR_STOPPED_MANAGER,
      ResultPath: null,
      Next: 'Failed',
    },
    Failed: {
      Type: 'Fail',
      Error: 'WorkflowFailed',
      Cause: `${workflow} failed; the operators were notified`,
    },
  };
}

const REINDEX_AND_BACK_UP = 'Reindex plans and back up tasks';
const MIGRATE_AND_SWITCH = 'Migrate an export and switch its alias';

export const EXAMPLES: Readonly<Record<string, WorkflowInput>> = {
  'reindex-and-back-up': {
    name: REINDEX_AND_BACK_UP,
    description:
      'Indexes again every plan stored from an object key, then backs up the tasks collection and waits for the backup to complete; notifies the operators if a step fails.',
    definition: {
      Comment: 'Reindex every plan, back up the tasks collection, notify on failure',
      StartAt: 'Reindex plans',
      States: {
        'Reindex plans': {
          Type: 'Task',
          Resource: 'manager:roadmap:reindex',
          Parameters: {},
          Retry: WAIT_FOR_STOPPED_MANAGER,
          Catch: ON_FAILURE,
          ResultPath: '$.reindex',
          Next: 'Back up tasks',
        },
        'Back up tasks': {
          Type: 'Task',
          Resource: 'manager:backup:backup',
          Parameters: { collections: ['roadmap_tasks'] },
          Retry: WAIT_FOR_STOPPED_MANAGER,
          Catch: ON_FAILURE,
          ResultSelector: { 'id.$': '$.backup.id' },
          ResultPath: '$.backup',
          Next: 'Wait for the backup',
        },
        'Wait for the backup': { Type: 'Wait', Seconds: 5, Next: 'Check the backup' },
        'Check the backup': {
          Type: 'Task',
          Resource: 'manager:backup:get',
          Parameters: { 'id.$': '$.backup.id' },
          Retry: WAIT_FOR_STOPPED_MANAGER,
          Catch: ON_FAILURE,
          ResultSelector: { 'id.$': '$.backup.id', 'status.$': '$.backup.status' },
          ResultPath: '$.backup',
          Next: 'Backup done?',
        },
        'Backup done?': {
          Type: 'Choice',
          Choices: [
            { Variable: '$.backup.status', StringEquals: 'completed', Next: 'Done' },
            { Variable: '$.backup.status', StringEquals: 'failed', Next: 'Backup failed' },
          ],
          Default: 'Wait for the backup',
        },
        'Backup failed': {
          Type: 'Pass',
          Parameters: { Error: 'BackupFailed', 'Cause.$': "States.Format('backup {} failed', $.backup.id)" },
          ResultPath: '$.failure',
          Next: 'Notify failure',
        },
        Done: { Type: 'Succeed' },
        ...notifyFailure(REINDEX_AND_BACK_UP),
      },
    },
  },
  'migrate-and-switch': {
    name: MIGRATE_AND_SWITCH,
    description:
      'Migrates an uploaded export (input: {"key": "exports/….json", "collection": "<alias>"}) into a fresh collection, waits while the migration verifies every record and switches the alias to it, then notifies the operators of the outcome.',
    definition: {
      Comment: 'Migrate an export, verify, switch the alias, notify',
      StartAt: 'Migrate',
      States: {
        Migrate: {
          Type: 'Task',
          Resource: 'manager:migration:start',
          Parameters: { 'key.$': '$.key', 'collection.$': '$.collection' },
          Retry: WAIT_FOR_STOPPED_MANAGER,
          Catch: ON_FAILURE,
          ResultSelector: { 'id.$': '$.job.id', 'status.$': '$.job.status' },
          ResultPath: '$.job',
          Next: 'Wait for the migration',
        },
        'Wait for the migration': { Type: 'Wait', Seconds: 5, Next: 'Check the migration' },
        'Check the migration': {
          Type: 'Task',
          Resource: 'manager:migration:get',
          Parameters: { 'jobId.$': '$.job.id' },
          Retry: WAIT_FOR_STOPPED_MANAGER,
          Catch: ON_FAILURE,
          ResultSelector: { 'id.$': '$.job.id', 'status.$': '$.job.status', 'counts.$': '$.job.counts' },
          ResultPath: '$.job',
          Next: 'Verified and switched?',
        },
        // A job completes only once every record is verified in the new collection and the alias
        // points to it; it fails (alias untouched) otherwise.
        'Verified and switched?': {
          Type: 'Choice',
          Choices: [
            { Variable: '$.job.status', StringEquals: 'completed', Next: 'Notify success' },
            {
              Or: [
                { Variable: '$.job.status', StringEquals: 'failed' },
                { Variable: '$.job.status', StringEquals: 'rolled-back' },
              ],
              Next: 'Migration failed',
            },
          ],
          Default: 'Wait for the migration',
        },
        'Migration failed': {
          Type: 'Pass',
          Parameters: {
            Error: 'MigrationFailed',
            'Cause.$': "States.Format('migration {} ended {}', $.job.id, $.job.status)",
          },
          ResultPath: '$.failure',
          Next: 'Notify failure',
        },
        'Notify success': {
          Type: 'Task',
          Resource: 'manager:notifications:notify',
          Parameters: {
            subject: 'Migration switched',
            'message.$':
              "States.Format('{} now serves {} (migration {}: {} records written)', $.collection, $.key, $.job.id, $.job.counts.written)",
          },
          Retry: WAIT_FOR_STOPPED_MANAGER,
          ResultPath: null,
          End: true,
        },
        ...notifyFailure(MIGRATE_AND_SWITCH),
      },
    },
  },
};

/** Whether the examples were installed once (then never again on their own: the users own them). */
const META_PK = 'WORKFLOWS_META';
const EXAMPLES_SK = 'examples';

export interface ExamplesInstalled {
  installed: string[];
  present: string[];
  /** With `firstRun`: installed before, or `installExamples` is off; nothing was done. */
  skipped?: 'installed-before' | 'disabled';
}

/**
 * Installs the examples missing by name. With `firstRun` (the schedule), only the first time ever:
 * a user who deleted one does not get it back on the next run.
 */
export async function installExamples(
  service: WorkflowService,
  state: StateStore,
  actor: Actor,
  options: { firstRun: boolean },
): Promise<ExamplesInstalled> {
  const marker = await state.get<{ at: string }>(META_PK, EXAMPLES_SK);
  if (options.firstRun && marker) return { installed: [], present: [], skipped: 'installed-before' };
  const names = new Set((await service.list()).map((w) => w.name.toLowerCase()));
  const installed: string[] = [];
  const present: string[] = [];
  for (const [key, example] of Object.entries(EXAMPLES)) {
    if (names.has(example.name.toLowerCase())) {
      present.push(example.name);
      continue;
    }
    await service.create(example, actor, key);
    installed.push(example.name);
  }
  await state.put(META_PK, EXAMPLES_SK, { at: new Date().toISOString() });
  return { installed, present };
}
