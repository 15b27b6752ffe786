import { randomUUID } from 'node:crypto';
import type { Actor } from '../actor.ts';
import { allows, type Role } from '../auth/roles.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.ts';
import type { StateStore } from '../ports.ts';
import { taskManagers, tasksOf, translateDefinition, validateDefinition } from './definition.ts';
import {
  type ExecutionSummary,
  type ExecutionsQuery,
  type ExecutionView,
  type HistoryEvent,
  MAX_EXECUTION_INPUT_BYTES,
  type Workflow,
  type WorkflowInput,
  type WorkflowRecord,
} from './model.ts';
import { executionArnOf, executionIdOf, newWorkflowId, parseExecutionId } from './naming.ts';
import type { ExecutionDescription, ExecutionRoles, StateMachines } from './ports.ts';

/** One state item per workflow, keyed by its id. */
export const WORKFLOWS_PK = 'WORKFLOWS';

/** The history an execution's view carries at most (Step Functions keeps up to 25,000 events). */
export const HISTORY_LIMIT = 1_000;

/** Where the workflows run and what their tasks may call, as the `workflows:manage` access gives it. */
export interface WorkflowSettings {
  stateMachinePrefix: string;
  rolePath: string;
  boundaryArn: string;
  /** Manager id → its contract function's live alias ARN. */
  taskFunctions: Readonly<Record<string, string>>;
  /** Manager id → action name → the role the action needs (`MANAGER_ACTIONS`). */
  actionRoles: Readonly<Record<string, Readonly<Record<string, Role>>>>;
}

export interface WorkflowDeps {
  state: () => StateStore;
  machines: () => StateMachines;
  roles: () => ExecutionRoles;
  settings: () => WorkflowSettings;
}

/**
 * Workflows: Amazon States Language definitions whose tasks call manager actions, each run by its
 * own state machine with its own execution role (Step Functions in AWS; the local runtime's engine
 * on a laptop, through the same API). The definition a client wrote is stored as written; the
 * engine gets its translation (tasks → the managers' functions).
 */
export class WorkflowService {
  readonly #deps: WorkflowDeps;

  constructor(deps: WorkflowDeps) {
    this.#deps = deps;
  }

  async list(): Promise<Workflow[]> {
    const items = await this.#deps.state().list<WorkflowRecord>(WORKFLOWS_PK);
    return items.map((i) => publicWorkflow(i.value, i.version)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(id: string): Promise<Workflow> {
    const { record, version } = await this.#record(id);
    return publicWorkflow(record, version);
  }

  async create(input: WorkflowInput, actor: Actor, example?: string): Promise<Workflow> {
    const settings = this.#deps.settings();
    const managers = this.#checked(input.definition, actor, settings);
    await this.#refuseTakenName(input.name);
    const id = newWorkflowId();
    const roleArn = await this.#deps.roles().put(this.#role(id, managers, settings));
    let stateMachineArn: string;
    try {
      stateMachineArn = await this.#deps
        .machines()
        .create(
          `${settings.stateMachinePrefix}${id}`,
          this.#engineDefinition(input.definition, settings),
          roleArn,
        );
    } catch (err) {
      await this.#deps.roles().remove(roleName(id));
      throw err;
    }
    const now = new Date().toISOString();
    const record: WorkflowRecord = {
      id,
      name: input.name,
      ...(input.description !== undefined ? { description: input.description } : {}),
      definition: input.definition,
      managers,
      stateMachineArn,
      roleArn,
      ...(example !== undefined ? { example } : {}),
      createdAt: now,
      updatedAt: now,
      createdBy: actor.id,
      updatedBy: actor.id,
    };
    const { version } = await this.#deps.state().put(WORKFLOWS_PK, id, record, { expectedVersion: 0 });
    return publicWorkflow(record, version);
  }

  async replace(id: string, input: WorkflowInput, actor: Actor): Promise<Workflow> {
    const settings = this.#deps.settings();
    const { record, version } = await this.#record(id);
    const managers = this.#checked(input.definition, actor, settings);
    // Replacing a workflow it cannot run would let a writer change what an administrator runs.
    this.#authorize(record.definition, actor, settings);
    await this.#refuseTakenName(input.name, id);
    // The role first: the new definition may call a manager the old role could not invoke.
    await this.#deps.roles().put(this.#role(id, managers, settings));
    await this.#deps
      .machines()
      .update(record.stateMachineArn, this.#engineDefinition(input.definition, settings), record.roleArn);
    const next: WorkflowRecord = {
      ...record,
      name: input.name,
      definition: input.definition,
      managers,
      updatedAt: new Date().toISOString(),
      updatedBy: actor.id,
    };
    if (input.description !== undefined) next.description = input.description;
    else delete next.description;
    const saved = await this.#deps.state().put(WORKFLOWS_PK, id, next, { expectedVersion: version });
    return publicWorkflow(next, saved.version);
  }

  /** Deletes the state machine (Step Functions stops its running executions), its role, then the record. */
  async delete(id: string, actor: Actor): Promise<void> {
    const { record } = await this.#record(id);
    this.#authorize(record.definition, actor, this.#deps.settings());
    await this.#deps.machines().delete(record.stateMachineArn);
    await this.#deps.roles().remove(roleName(id));
    await this.#deps.state().delete(WORKFLOWS_PK, id);
  }

  async execute(id: string, input: unknown, actor: Actor): Promise<ExecutionSummary> {
    const { record } = await this.#record(id);
    this.#authorize(record.definition, actor, this.#deps.settings());
    const text = JSON.stringify(input ?? {});
    if (Buffer.byteLength(text, 'utf8') > MAX_EXECUTION_INPUT_BYTES) {
      throw ValidationError.field('input', `must be at most ${MAX_EXECUTION_INPUT_BYTES} bytes as JSON`);
    }
    const name = randomUUID();
    const started = await this.#deps.machines().start(record.stateMachineArn, name, text);
    return {
      executionId: executionIdOf(id, name),
      workflowId: id,
      status: 'RUNNING',
      startedAt: started.startDate.toISOString(),
    };
  }

  async executions(
    id: string,
    query: ExecutionsQuery,
  ): Promise<{ executions: ExecutionSummary[]; nextToken?: string }> {
    const { record } = await this.#record(id);
    const page = await this.#deps.machines().list(record.stateMachineArn, {
      limit: query.limit,
      ...(query.status ? { status: query.status } : {}),
      ...(query.nextToken ? { nextToken: query.nextToken } : {}),
    });
    return {
      executions: page.executions.map((e) => summaryOf(id, e)),
      ...(page.nextToken ? { nextToken: page.nextToken } : {}),
    };
  }

  async execution(executionId: string): Promise<ExecutionView> {
    const { workflowId, description } = await this.#execution(executionId);
    const { events, truncated } = await this.#deps
      .machines()
      .history(description.executionArn, HISTORY_LIMIT);
    return {
      ...summaryOf(workflowId, description),
      executionArn: description.executionArn,
      input: parsed(description.input),
      ...(description.output !== undefined ? { output: parsed(description.output) } : {}),
      ...(description.error !== undefined ? { error: description.error } : {}),
      ...(description.cause !== undefined ? { cause: description.cause } : {}),
      states: statesOf(events),
      history: events,
      historyTruncated: truncated,
    };
  }

  async stop(
    executionId: string,
    reason: { error?: string; cause?: string },
    actor: Actor,
  ): Promise<ExecutionView> {
    const { workflowId, description } = await this.#execution(executionId);
    const { record } = await this.#record(workflowId);
    this.#authorize(record.definition, actor, this.#deps.settings());
    if (description.status !== 'RUNNING') {
      throw new ConflictError(`execution ${executionId} is ${description.status}, not RUNNING`, [
        { field: 'executionId', reason: `the execution already ended (${description.status})` },
      ]);
    }
    await this.#deps.machines().stop(description.executionArn, reason.error, reason.cause);
    return this.execution(executionId);
  }

  /** How many workflows there are, and the latest `perWorkflow` executions of each. */
  async recent(perWorkflow: number): Promise<{ workflows: number; executions: ExecutionSummary[] }> {
    const workflows = await this.#deps.state().list<WorkflowRecord>(WORKFLOWS_PK);
    const pages = await Promise.all(
      workflows.map(async ({ value }) => {
        const { executions } = await this.#deps
          .machines()
          .list(value.stateMachineArn, { limit: perWorkflow });
        return executions.map((e) => summaryOf(value.id, e));
      }),
    );
    return { workflows: workflows.length, executions: pages.flat() };
  }

  /**
   * Executions of every workflow (with `status`, those only), newest first, at most `limit`: each
   * workflow's latest `limit` are read, so none of the newest is missed.
   */
  async allExecutions(
    query: Omit<ExecutionsQuery, 'nextToken'>,
  ): Promise<Array<ExecutionSummary & { workflowName: string }>> {
    const workflows = await this.#deps.state().list<WorkflowRecord>(WORKFLOWS_PK);
    const pages = await Promise.all(
      workflows.map(async ({ value }) => {
        const { executions } = await this.#deps.machines().list(value.stateMachineArn, {
          limit: query.limit,
          ...(query.status ? { status: query.status } : {}),
        });
        return executions.map((e) => ({ ...summaryOf(value.id, e), workflowName: value.name }));
      }),
    );
    return pages
      .flat()
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
      .slice(0, query.limit);
  }

  async #record(id: string): Promise<{ record: WorkflowRecord; version: number }> {
    const item = await this.#deps.state().get<WorkflowRecord>(WORKFLOWS_PK, id);
    if (!item) throw new NotFoundError(`no workflow ${id}`, [{ field: 'id', reason: 'no such workflow' }]);
    return { record: item.value, version: item.version };
  }

  async #execution(executionId: string): Promise<{ workflowId: string; description: ExecutionDescription }> {
    const ref = parseExecutionId(executionId);
    if (!ref) {
      throw ValidationError.field('executionId', 'must be an execution id (<workflow id>.<uuid>)');
    }
    const { record } = await this.#record(ref.workflowId).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw missingExecution(executionId);
      throw err;
    });
    const description = await this.#deps
      .machines()
      .describe(executionArnOf(record.stateMachineArn, ref.name));
    if (!description) throw missingExecution(executionId);
    return { workflowId: ref.workflowId, description };
  }

  /** Validates a definition and the caller's right to every action it calls; answers its managers. */
  #checked(definition: Record<string, unknown>, actor: Actor, settings: WorkflowSettings): string[] {
    const actions = Object.fromEntries(
      Object.entries(settings.actionRoles).map(([id, roles]) => [id, Object.keys(roles)]),
    );
    const issues = validateDefinition(definition, actions);
    if (issues.length > 0) {
      throw new ValidationError(`the definition is not valid: ${issues[0]!.reason}`, issues);
    }
    this.#authorize(definition, actor, settings);
    return taskManagers(definition);
  }

  /** A workflow runs its actions as the platform: only someone allowed every one may save or run it. */
  #authorize(definition: Record<string, unknown>, actor: Actor, settings: WorkflowSettings): void {
    for (const task of tasksOf(definition)) {
      const required = settings.actionRoles[task.manager]?.[task.action] ?? 'admin';
      if (!allows(actor.role, required)) {
        throw new ForbiddenError(
          `state "${task.state}" calls ${task.manager}:${task.action}, which needs the ${required} role`,
          [{ field: task.field, reason: `${task.manager}:${task.action} needs the ${required} role` }],
        );
      }
    }
  }

  #engineDefinition(definition: Record<string, unknown>, settings: WorkflowSettings): string {
    return JSON.stringify(translateDefinition(definition, settings.taskFunctions));
  }

  #role(id: string, managers: readonly string[], settings: WorkflowSettings) {
    return {
      name: roleName(id),
      path: settings.rolePath,
      boundaryArn: settings.boundaryArn,
      functionArns: managers.map((m) => {
        const arn = settings.taskFunctions[m];
        if (!arn) throw new Error(`no function is known for manager ${m}`);
        return arn;
      }),
    };
  }

  /** Names are unique whatever their case; `own`: the workflow being renamed may keep its own. */
  async #refuseTakenName(name: string, own?: string): Promise<void> {
    const taken = (await this.#deps.state().list<WorkflowRecord>(WORKFLOWS_PK)).some(
      (i) => i.value.id !== own && i.value.name.toLowerCase() === name.toLowerCase(),
    );
    if (taken) {
      throw new ConflictError(`a workflow is already named "${name}"`, [
        { field: 'name', reason: 'another workflow has this name' },
      ]);
    }
  }
}

/** A workflow's execution role: `wf-<10 hex>` (its id) under the stage's path. */
export function roleName(workflowId: string): string {
  return workflowId;
}

function publicWorkflow(record: WorkflowRecord, version: number): Workflow {
  const { roleArn: _role, ...rest } = record;
  return { ...rest, version };
}

function summaryOf(workflowId: string, e: ExecutionDescription): ExecutionSummary {
  return {
    executionId: executionIdOf(workflowId, e.name),
    workflowId,
    status: e.status,
    startedAt: e.startDate.toISOString(),
    ...(e.stopDate ? { stoppedAt: e.stopDate.toISOString() } : {}),
  };
}

function missingExecution(executionId: string): NotFoundError {
  return new NotFoundError(`no execution ${executionId}`, [
    { field: 'executionId', reason: 'no such execution' },
  ]);
}

/** Step Functions' input and output are JSON text. */
function parsed(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The states in the order they were entered, from `<Type>StateEntered` / `<Type>StateExited` events. */
function statesOf(events: readonly HistoryEvent[]): ExecutionView['states'] {
  const states: ExecutionView['states'] = [];
  const open = new Map<string, ExecutionView['states'][number]>();
  for (const event of events) {
    const entered = /^(\w+)StateEntered$/.exec(event.type);
    const exited = /^(\w+)StateExited$/.exec(event.type);
    const details = (event.stateEnteredEventDetails ?? event.stateExitedEventDetails) as
      | { name?: string }
      | undefined;
    const name = details?.name;
    if (!name) continue;
    if (entered) {
      const state = { name, type: entered[1]!, enteredAt: event.timestamp };
      states.push(state);
      open.set(name, state);
    } else if (exited) {
      const state = open.get(name);
      if (state) {
        state.exitedAt = event.timestamp;
        open.delete(name);
      }
    }
  }
  return states;
}
