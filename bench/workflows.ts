import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { startLocalRuntime } from '../local/runtime.ts';
import type { ExecutionView } from '../shared/workflows/model.ts';

/**
 * Workflows on the local runtime (issue 13), waits and retry pauses at 0 ms (`workflowWaitsMs`):
 * (1) the local engine's cost per state transition: a chain of N Pass states created and executed
 * through the API, its time per transition read from the execution's history (ExecutionStarted →
 * ExecutionSucceeded, over the states entered), against the same definition run directly by
 * `aws-local-stepfunctions` in the same process (no endpoint, history, persistence nor events);
 * (2) per Task: a chain of K Tasks calling `manager:templates:reindex` (nothing to reindex on an
 * empty platform) against the same action called through the coordinator's API route;
 * (3) the shipped example "Reindex plans and back up tasks" end to end, and its transitions.
 * Each execution also reports its start (StartExecution's startDate → ExecutionStarted: the
 * RUNNING record saved, its status event put, the definition validated again) and the client's
 * time (POST execute → GET answering it ended, polled every 10 ms).
 * Engine and library runs alternate, so a drifting machine weighs on both; medians of the runs.
 *
 * `npx node bench/workflows.ts [runs] [exampleRuns]` prints the JSON result.
 */

/** 400 Pass states make 802 history events: under the API's 1,000, and ms timestamps resolve them. */
const PASS_CHAINS = [50, 400];
const TASK_CHAIN = 20;
const POLL_MS = 10;

const round3 = (n: number) => Math.round(n * 1000) / 1000;
const round2 = (n: number) => Math.round(n * 100) / 100;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)]!;

/** `prefix1` → `prefix2` → … → `prefix<n>` (End), each state made by `state`. */
function chain(n: number, prefix: string, state: object): StateMachineDefinition {
  const States = Object.fromEntries(
    Array.from({ length: n }, (_, i) => [
      `${prefix}${i + 1}`,
      { ...state, ...(i + 1 < n ? { Next: `${prefix}${i + 2}` } : { End: true }) },
    ]),
  );
  return { StartAt: `${prefix}1`, States } as StateMachineDefinition;
}

/** What one execution's history says: its span (engine time) and what it went through. */
function measured(view: ExecutionView, clientMs: number) {
  if (view.status !== 'SUCCEEDED') {
    const failed = view.history.filter((e) => e.type.endsWith('Failed'));
    throw new Error(`execution ${view.executionId} ended ${view.status}: ${JSON.stringify(failed)}`);
  }
  if (view.historyTruncated) throw new Error(`execution ${view.executionId}: history truncated`);
  const at = (type: string) => Date.parse(view.history.find((e) => e.type === type)!.timestamp);
  const count = (suffix: string) => view.history.filter((e) => e.type.endsWith(suffix)).length;
  return {
    historyMs: at('ExecutionSucceeded') - at('ExecutionStarted'),
    /** StartExecution's own work before the run: the RUNNING record saved, its status event put. */
    startMs: at('ExecutionStarted') - Date.parse(view.startedAt),
    clientMs,
    transitions: count('StateEntered'),
    tasks: count('LambdaFunctionScheduled'),
    events: view.history.length,
  };
}

export async function benchWorkflows(runs = 15, exampleRuns = 5): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-workflows-'));
  const runtime = await startLocalRuntime({
    dataDir,
    port: 0,
    quiet: true,
    limits: false,
    workflowWaitsMs: 0,
  });
  try {
    const token = await runtime.issueToken({ groups: ['admin'] });
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${runtime.apiUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const answer = (await res.json()) as Record<string, unknown>;
      if (res.status >= 300)
        throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(answer)}`);
      return answer;
    };
    const create = async (name: string, definition: object) =>
      ((await api('POST', '/workflows', { name, definition })) as { workflow: { id: string } }).workflow.id;
    /** Started through the API, polled until it ends: its history's figures and the client's. */
    const execute = async (workflowId: string, input: unknown = {}) => {
      const t0 = performance.now();
      const { execution } = (await api('POST', `/workflows/${workflowId}/execute`, { input })) as {
        execution: { executionId: string };
      };
      for (;;) {
        const { execution: view } = (await api('GET', `/executions/${execution.executionId}`)) as {
          execution: ExecutionView;
        };
        if (view.status !== 'RUNNING') return measured(view, performance.now() - t0);
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    };
    /**
     * The same definition in the library alone, timed around its run; its constructor (which
     * validates the definition, as the local engine's StartExecution does) timed apart.
     */
    const direct = async (definition: StateMachineDefinition) => {
      const t0 = performance.now();
      const machine = new StateMachine(definition);
      const t1 = performance.now();
      await machine.run({ n: 1 }).result;
      return { runMs: performance.now() - t1, validateMs: t1 - t0 };
    };

    // First, the examples installed (the workflow manager's first schedule run, at start): this
    // also starts the workflows function (its cold start is Lambda's, not the engine's).
    const deadline = Date.now() + 180_000;
    let exampleId: string | undefined;
    while (exampleId === undefined) {
      const listed = await api('GET', '/workflows').catch((err: Error) => {
        if (Date.now() > deadline) throw err;
        return { workflows: [] };
      });
      exampleId = (listed.workflows as Array<{ id: string; example?: string }>).find(
        (w) => w.example === 'reindex-and-back-up',
      )?.id;
      if (exampleId === undefined) {
        if (Date.now() > deadline) throw new Error('the example workflows were not installed within 180 s');
        await new Promise((r) => setTimeout(r, 500));
      }
    }

    // (1) Pass chains: engine (through the API) and library, alternated.
    const pass: Record<string, unknown> = {};
    for (const n of PASS_CHAINS) {
      const definition = chain(n, 'Pass', { Type: 'Pass' });
      const id = await create(`bench pass ${n}`, definition);
      for (let i = 0; i < 3; i++) {
        await execute(id, { n: 1 });
        await direct(definition);
      }
      const engine: ReturnType<typeof measured>[] = [];
      const library: number[] = [];
      const validate: number[] = [];
      for (let r = 0; r < runs; r++) {
        if (r % 2 === 0) engine.push(await execute(id, { n: 1 }));
        const { runMs, validateMs } = await direct(definition);
        library.push(runMs);
        validate.push(validateMs);
        if (r % 2 === 1) engine.push(await execute(id, { n: 1 }));
      }
      const transitions = engine[0]!.transitions;
      if (transitions !== n) throw new Error(`a chain of ${n} Pass states made ${transitions} transitions`);
      const perTransition = engine.map((e) => e.historyMs / n);
      const libraryPer = library.map((ms) => ms / n);
      pass[`chain${n}`] = {
        transitions,
        historyEvents: engine[0]!.events,
        engineMsPerTransition: { p50: round3(median(perTransition)), p95: round3(p95(perTransition)) },
        libraryMsPerTransition: { p50: round3(median(libraryPer)), p95: round3(p95(libraryPer)) },
        engineOverLibrary: round2(median(perTransition) / median(libraryPer)),
        executionMs: {
          history: median(engine.map((e) => e.historyMs)),
          start: median(engine.map((e) => e.startMs)),
          client: round2(median(engine.map((e) => e.clientMs))),
        },
        library: round2(median(library)),
        libraryValidateMs: Math.round(median(validate)),
        raw: {
          engineHistoryMs: engine.map((e) => e.historyMs),
          engineStartMs: engine.map((e) => e.startMs),
          libraryMs: library.map(round2),
        },
      };
    }

    // (2) Task chain vs the coordinator's action route, alternated, after warming both.
    const reindex = () => api('POST', '/managers/templates/actions/reindex', {});
    const taskDefinition = chain(TASK_CHAIN, 'Reindex', {
      Type: 'Task',
      Resource: 'manager:templates:reindex',
      Parameters: {},
      ResultPath: null,
    });
    const taskId = await create(`bench tasks ${TASK_CHAIN}`, taskDefinition);
    for (let i = 0; i < 10; i++) await reindex();
    for (let i = 0; i < 2; i++) await execute(taskId);
    const tasks: ReturnType<typeof measured>[] = [];
    const routeMs: number[] = [];
    const routeCall = async () => {
      for (let i = 0; i < TASK_CHAIN; i++) {
        const t0 = performance.now();
        await reindex();
        routeMs.push(performance.now() - t0);
      }
    };
    for (let r = 0; r < runs; r++) {
      if (r % 2 === 0) tasks.push(await execute(taskId));
      await routeCall();
      if (r % 2 === 1) tasks.push(await execute(taskId));
    }
    if (tasks[0]!.tasks !== TASK_CHAIN)
      throw new Error(`${TASK_CHAIN} Tasks invoked ${tasks[0]!.tasks} functions`);
    const perTask = tasks.map((e) => e.historyMs / TASK_CHAIN);
    const task = {
      action: 'templates:reindex (nothing to reindex)',
      tasks: TASK_CHAIN,
      historyEvents: tasks[0]!.events,
      workflowMsPerTask: { p50: round2(median(perTask)), p95: round2(p95(perTask)) },
      routeMsPerCall: { p50: round2(median(routeMs)), p95: round2(p95(routeMs)) },
      workflowOverRoute: round2(median(perTask) / median(routeMs)),
      raw: { workflowHistoryMs: tasks.map((e) => e.historyMs) },
    };

    // (3) The shipped example: its backup needs the tasks collection, which the first plan
    // indexed creates (on an empty platform it fails NOT_FOUND, then notifies).
    for (const name of ['alpha', 'beta', 'gamma']) {
      await api('POST', '/plans', {
        planId: `plans/${name}.md`,
        markdown: `# ${name}\n\n## Work\n- [ ] Ship ${name}\n`,
      });
    }
    const example: ReturnType<typeof measured>[] = [];
    for (let r = 0; r < exampleRuns; r++) example.push(await execute(exampleId));
    return {
      runs,
      pass,
      task,
      example: {
        workflow: 'Reindex plans and back up tasks',
        runs: exampleRuns,
        endToEndMs: {
          history: median(example.map((e) => e.historyMs)),
          start: median(example.map((e) => e.startMs)),
          client: Math.round(median(example.map((e) => e.clientMs))),
        },
        transitions: median(example.map((e) => e.transitions)),
        tasks: median(example.map((e) => e.tasks)),
        raw: example.map(({ historyMs, startMs, clientMs, transitions, tasks }) => ({
          historyMs,
          startMs,
          clientMs: Math.round(clientMs),
          transitions,
          tasks,
        })),
      },
    };
  } finally {
    await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [runs, exampleRuns] = process.argv.slice(2).map(Number);
  process.stdout.write(
    `${JSON.stringify(await benchWorkflows(runs || undefined, exampleRuns || undefined), null, 2)}\n`,
  );
}
