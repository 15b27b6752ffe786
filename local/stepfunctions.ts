import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { z } from 'zod';
import { AWS_JSON_1_0, AwsJsonError, awsJsonServer } from './aws-json.ts';
import { LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import type { LocalIamRoles } from './iam-roles.ts';
import { closeNow, listen } from './listen.ts';

/**
 * Local Step Functions: the API `@aws-sdk/client-sfn` speaks (AWS JSON 1.0,
 * `AWSStepFunctions.<Op>`) for STANDARD state machines: Create/Update/Delete/Describe/
 * ListStateMachines, StartExecution, DescribeExecution, ListExecutions, GetExecutionHistory,
 * StopExecution, each allowed by the caller's grants (`states:<Op>` on the state machine's or the
 * execution's ARN; a roleArn also needs `iam:PassRole` on it with `iam:PassedToService =
 * states.amazonaws.com`, and the role must exist in the local IAM roles and trust
 * `states.amazonaws.com`, else AccessDeniedException as AWS answers).
 *
 * Executions run in-process with `aws-local-stepfunctions` (which validates definitions: its
 * message is InvalidDefinition's). Every Task state is overridden by a handler that invokes its
 * Resource, a Lambda function ARN, through the local Lambda endpoint with the credentials of the
 * state machine's role (its inline policies within its boundary, `LocalIamRoles`), so a task the
 * role does not allow fails `Lambda.AWSLambdaException` as in AWS; a function error fails it with
 * the function's errorType and the error document as cause. Any other Resource fails
 * `States.Runtime`. The library overrides tasks by state name, which its validator keeps unique
 * in a definition (Parallel branches and Map processors included).
 *
 * History: the library's event log becomes GetExecutionHistory's events (AWS's types and detail
 * members), with the Lambda events the task handler records. Departures: `previousEventId` is
 * the event before (AWS links an event to its cause); the library reports neither retries nor
 * catches as AWS events (AWS has none either: a retry is a new LambdaFunctionScheduled), nor a
 * Map's item count (MapStateStarted has no `length`), nor a task left running by an abort
 * (no TaskStateAborted). A Task without TimeoutSeconds waits ~24 days for its function (the
 * library's default is 60 s; AWS waits as long as the function runs).
 *
 * Persistence, under `dataDir`: `state-machines.json` (written whole, tmp + rename) and one file
 * per execution in `executions/` (description + history), written at each status change and at
 * most every second while it runs. Executions a previous run left RUNNING (the runtime stopped, or
 * `close()` was called: it aborts running executions without recording an end) become FAILED on
 * the next start, error `States.Runtime`, cause `the local runtime stopped during the execution`.
 * DeleteStateMachine removes the machine and its finished executions; running ones run to their
 * end and stay describable.
 *
 * Each status change (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) is handed to
 * `onStatusChange` as a `Step Functions Execution Status Change` event (source `aws.states`,
 * AWS's detail, dates in epoch milliseconds) for the runtime to put on the default bus.
 */

export const SFN_TARGET = 'AWSStepFunctions';
export const STATES_SERVICE = 'states.amazonaws.com';
export const STATUS_CHANGE_DETAIL_TYPE = 'Step Functions Execution Status Change';
export const RECOVERY_CAUSE = 'the local runtime stopped during the execution';
/** Definitions up to 1 MB, inputs up to 256 KiB, with room for the JSON around them. */
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
const MAX_INPUT_BYTES = 256 * 1024;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const HISTORY_FLUSH_MS = 1000;
/** The longest timer Node keeps (2^31 - 1 ms), in seconds: a Task without TimeoutSeconds. */
const UNBOUNDED_TASK_SECONDS = 2_147_483;
const LAMBDA_FUNCTION_ARN =
  /^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9_-]+(:[a-zA-Z0-9$_-]+)?$/;
/** AWS's name rule: 1-80 characters, none of whitespace, brackets, wildcards, specials or controls. */
const NAME_SPECIALS = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;
const isValidName = (name: string) =>
  name.length >= 1 &&
  name.length <= 80 &&
  !NAME_SPECIALS.test(name) &&
  ![...name].some((c) => {
    const code = c.codePointAt(0)!;
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
  });

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** An event an AWS service puts on the account's default bus. */
export interface AwsServiceEvent {
  source: string;
  'detail-type': string;
  time: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** A history event before its place in the history is known: its time, type and details member. */
interface NewEvent {
  /** Epoch milliseconds (answered in seconds). */
  timestamp: number;
  type: string;
  [details: string]: unknown;
}

export interface HistoryEvent extends NewEvent {
  id: number;
  previousEventId: number;
}

interface StateMachineRecord {
  name: string;
  arn: string;
  definition: string;
  roleArn: string;
  creationDate: number;
}

interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  roleArn: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate?: number;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryEvent[];
}

const fail = (type: string, message: string) => new AwsJsonError(type, message);

// ---------------------------------------------------------------------------------------------
// Definitions.

interface ParsedDefinition {
  definition: StateMachineDefinition;
  /** Task states' Resource, Wait states and states with a Retry, by (unique) state name. */
  tasks: Map<string, string>;
  waits: string[];
  retriers: string[];
}

type StatesNode = { States?: Record<string, Record<string, unknown>> };

/** Every state of a definition, Parallel branches and Map processors included. */
function* allStates(node: StatesNode): Generator<[string, Record<string, unknown>]> {
  for (const [name, state] of Object.entries(node.States ?? {})) {
    yield [name, state];
    const branches = state.Branches;
    if (Array.isArray(branches)) for (const branch of branches) yield* allStates(branch as StatesNode);
    const processor = (state.ItemProcessor ?? state.Iterator) as StatesNode | undefined;
    if (processor && typeof processor === 'object') yield* allStates(processor);
  }
}

const invalidDefinition = (message: string) =>
  fail('InvalidDefinition', `Invalid State Machine Definition: '${message}'`);

export function parseDefinition(text: string): ParsedDefinition {
  let definition: StateMachineDefinition;
  try {
    definition = JSON.parse(text) as StateMachineDefinition;
  } catch (err) {
    throw invalidDefinition(`INVALID_JSON_DESCRIPTION: ${(err as Error).message}`);
  }
  try {
    new StateMachine(definition);
  } catch (err) {
    throw invalidDefinition(`SCHEMA_VALIDATION_FAILED: ${(err as Error).message}`);
  }
  const tasks = new Map<string, string>();
  const waits: string[] = [];
  const retriers: string[] = [];
  // State names are unique in the whole definition (the validator refuses duplicates).
  for (const [name, state] of allStates(definition as unknown as StatesNode)) {
    if (state.Type === 'Task') tasks.set(name, String(state.Resource));
    if (state.Type === 'Wait') waits.push(name);
    if (Array.isArray(state.Retry)) retriers.push(name);
  }
  return { definition, tasks, waits, retriers };
}

/** The definition the library runs: a Task without a timeout waits for its function (see above). */
function runnable(definition: StateMachineDefinition): StateMachineDefinition {
  const copy = structuredClone(definition);
  for (const [, state] of allStates(copy as unknown as StatesNode)) {
    if (
      state.Type === 'Task' &&
      state.TimeoutSeconds === undefined &&
      state.TimeoutSecondsPath === undefined
    ) {
      state.TimeoutSeconds = UNBOUNDED_TASK_SECONDS;
    }
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Requests.

const Arn = z.string().min(1);
const Page = { maxResults: z.int().min(0).max(MAX_PAGE).optional(), nextToken: z.string().min(1).optional() };
const schemas = {
  CreateStateMachine: z.looseObject({
    name: z.string(),
    definition: z.string().min(1),
    roleArn: Arn,
    type: z.enum(['STANDARD', 'EXPRESS']).optional(),
  }),
  UpdateStateMachine: z.looseObject({
    stateMachineArn: Arn,
    definition: z.string().min(1).optional(),
    roleArn: Arn.optional(),
  }),
  DeleteStateMachine: z.looseObject({ stateMachineArn: Arn }),
  DescribeStateMachine: z.looseObject({ stateMachineArn: Arn }),
  ListStateMachines: z.looseObject({ ...Page }),
  StartExecution: z.looseObject({
    stateMachineArn: Arn,
    name: z.string().optional(),
    input: z.string().optional(),
  }),
  DescribeExecution: z.looseObject({ executionArn: Arn }),
  ListExecutions: z.looseObject({
    stateMachineArn: Arn,
    statusFilter: z
      .enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'])
      .optional(),
    ...Page,
  }),
  GetExecutionHistory: z.looseObject({
    executionArn: Arn,
    reverseOrder: z.boolean().optional(),
    includeExecutionData: z.boolean().optional(),
    ...Page,
  }),
  StopExecution: z.looseObject({
    executionArn: Arn,
    error: z.string().max(256).optional(),
    cause: z.string().max(32768).optional(),
  }),
} as const;
type Operation = keyof typeof schemas;

function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const member = issue.path.join('.') || 'request';
  const missing = issue.code === 'invalid_type' && issue.input === undefined;
  throw fail(
    'ValidationException',
    missing
      ? `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`
      : `1 validation error detected: Value at '${member}' failed to satisfy constraint: ${issue.message}`,
  );
}

function checkName(name: string): void {
  if (!isValidName(name)) throw fail('InvalidName', `Invalid Name: '${name}'`);
}

const epochSeconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

/** A page of `items` from the offset a token carries; the token is the next offset, opaque. */
function page<T>(items: T[], token: string | undefined, max: number | undefined) {
  let offset = 0;
  if (token !== undefined) {
    offset = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      !Number.isInteger(offset) ||
      offset < 0 ||
      Buffer.from(String(offset)).toString('base64url') !== token
    ) {
      throw fail('InvalidToken', `Invalid Token: '${token}'`);
    }
  }
  const size = max || DEFAULT_PAGE;
  const next =
    offset + size < items.length ? Buffer.from(String(offset + size)).toString('base64url') : undefined;
  return { items: items.slice(offset, offset + size), next };
}

// ---------------------------------------------------------------------------------------------
// Task errors as the library matches them (by name; retryable and catchable unless said).

function taskError(name: string, cause: string, runtime = false): Error {
  const error = new Error(cause);
  error.name = name;
  if (runtime) Object.assign(error, { isRetryable: false, isCatchable: false });
  return error;
}

/** A failed Invoke call, as Step Functions names it (`Lambda.<Exception>`; an unmodelled one generic). */
function invokeFailure(err: unknown): Error {
  const e = err as Error & { $metadata?: { httpStatusCode?: number; requestId?: string } };
  if (!e.$metadata)
    return taskError('Lambda.SdkClientException', `Unable to execute HTTP request: ${e.message}`);
  const generic = e.name === 'AccessDeniedException' || e.name === 'UnknownError' || e.name === 'Error';
  return taskError(
    generic ? 'Lambda.AWSLambdaException' : `Lambda.${e.name}`,
    `${e.message} (Service: AWSLambda; Status Code: ${e.$metadata.httpStatusCode}; Error Code: ${e.name}; Request ID: ${e.$metadata.requestId})`,
  );
}

// ---------------------------------------------------------------------------------------------

export interface StepFunctionsEndpointOptions {
  region: string;
  iam: LocalIam;
  roles: LocalIamRoles;
  /** The local Lambda endpoint tasks invoke their functions through. */
  lambdaUrl: string;
  dataDir: string;
  /** When set, every Wait state and retry pause lasts this many milliseconds. */
  waitsMs?: number;
  onStatusChange(event: AwsServiceEvent): void;
  host?: string;
  port?: number;
  log?: (message: string) => void;
}

export interface StepFunctionsEndpoint {
  url: string;
  /** Stops answering and aborts running executions without recording an end (see the module comment). */
  close(): Promise<void>;
}

interface Running {
  abort(): void;
  stop?: { error?: string; cause?: string };
  done: Promise<void>;
}

/** A task invocation's Lambda events, held until the library reports the task's end. */
interface TaskInvocation {
  state: string;
  events: NewEvent[];
  done: boolean;
}

export async function startStepFunctionsEndpoint(
  opts: StepFunctionsEndpointOptions,
): Promise<StepFunctionsEndpoint> {
  const { region, iam, roles } = opts;
  const log = opts.log ?? ((message) => process.stderr.write(`${message}\n`));
  const machinesFile = join(opts.dataDir, 'state-machines.json');
  const executionsDir = join(opts.dataDir, 'executions');
  await mkdir(executionsDir, { recursive: true });

  const machines = new Map<string, StateMachineRecord>(
    Object.entries(await readJson<Record<string, StateMachineRecord>>(machinesFile, {})),
  );
  const executions = new Map<string, ExecutionRecord>();
  /**
   * Each state machine's parsed definition, checked once: the library's validating constructor
   * takes ~100 ms of the event loop, too much to pay again at every StartExecution.
   */
  const parsedMachines = new Map<string, { text: string; parsed: ParsedDefinition }>();
  const parsedOf = (machine: StateMachineRecord): ParsedDefinition => {
    const cached = parsedMachines.get(machine.arn);
    if (cached?.text === machine.definition) return cached.parsed;
    const parsed = parseDefinition(machine.definition);
    parsedMachines.set(machine.arn, { text: machine.definition, parsed });
    return parsed;
  };
  const running = new Map<string, Running>();
  const writes = new Map<string, Promise<void>>();
  let closing = false;

  const machineArn = (name: string) => `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:stateMachine:${name}`;
  const executionArn = (machine: string, name: string) =>
    `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:execution:${machine}:${name}`;
  const executionFile = (arn: string) =>
    join(executionsDir, `${createHash('sha256').update(arn).digest('hex').slice(0, 40)}.json`);

  /** Writes are serialized per file; each writes the latest content (tmp + rename). */
  const writeFileAtomic = (file: string, content: () => string): Promise<void> => {
    const write = (writes.get(file) ?? Promise.resolve()).then(async () => {
      const temp = `${file}.${process.pid}.tmp`;
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(content());
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    });
    writes.set(
      file,
      write.catch((err: unknown) =>
        log(`[stepfunctions] could not write ${file}: ${(err as Error).message}`),
      ),
    );
    return write;
  };
  const saveMachines = () =>
    writeFileAtomic(machinesFile, () => `${JSON.stringify(Object.fromEntries(machines), null, 2)}\n`);
  const saveExecution = (record: ExecutionRecord) =>
    writeFileAtomic(executionFile(record.executionArn), () => `${JSON.stringify(record)}\n`);

  const addEvent = (record: ExecutionRecord, event: NewEvent) => {
    const id = record.history.length + 1;
    record.history.push({ ...event, id, previousEventId: id - 1 });
  };

  const statusEvent = (record: ExecutionRecord): AwsServiceEvent => ({
    source: 'aws.states',
    'detail-type': STATUS_CHANGE_DETAIL_TYPE,
    time: new Date(record.stopDate ?? record.startDate).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    resources: [record.executionArn],
    detail: {
      executionArn: record.executionArn,
      stateMachineArn: record.stateMachineArn,
      name: record.name,
      status: record.status,
      startDate: record.startDate,
      stopDate: record.stopDate ?? null,
      input: record.input,
      output: record.output ?? null,
      inputDetails: { included: true },
      outputDetails: record.output === undefined ? null : { included: true },
      error: record.error ?? null,
      cause: record.cause ?? null,
    },
  });
  const statusChanged = async (record: ExecutionRecord) => {
    await saveExecution(record);
    try {
      opts.onStatusChange(statusEvent(record));
    } catch (err) {
      log(
        `[stepfunctions] the status change of ${record.executionArn} was not delivered: ${(err as Error).message}`,
      );
    }
  };

  // Executions: load them; those a previous run left RUNNING failed with it.
  for (const file of (await readdir(executionsDir)).filter((f) => f.endsWith('.json'))) {
    let record: ExecutionRecord;
    try {
      record = JSON.parse(await readFile(join(executionsDir, file), 'utf8')) as ExecutionRecord;
    } catch (err) {
      log(`[stepfunctions] skipped the unreadable execution file ${file}: ${(err as Error).message}`);
      continue;
    }
    executions.set(record.executionArn, record);
    if (record.status === 'RUNNING') {
      Object.assign(record, {
        status: 'FAILED',
        stopDate: Date.now(),
        error: 'States.Runtime',
        cause: RECOVERY_CAUSE,
      });
      addEvent(record, {
        timestamp: record.stopDate!,
        type: 'ExecutionFailed',
        executionFailedEventDetails: { error: record.error, cause: record.cause },
      });
      await statusChanged(record);
    }
  }

  // The roles' credentials, registered again only when the role's grants change.
  const clients = new Map<string, { key: string; client: LambdaClient }>();
  const lambdaAs = (roleArn: string): LambdaClient => {
    const grants = roles.statementsOf(roleArn) ?? [];
    const boundary = roles.boundaryOf(roleArn);
    const key = JSON.stringify([grants, boundary]);
    const cached = clients.get(roleArn);
    if (cached?.key === key) return cached.client;
    const roleName = roleArn.slice(roleArn.lastIndexOf('/') + 1);
    const credentials = iam.register(`states-${roleName}`, grants, {
      arn: `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/${roleName}/StepFunctions`,
      ...(boundary ? { boundary } : {}),
    });
    const client = new LambdaClient({ region, endpoint: opts.lambdaUrl, credentials, maxAttempts: 1 });
    clients.set(roleArn, { key, client });
    return client;
  };

  const execute = (record: ExecutionRecord, parsed: ParsedDefinition, machineName: string): Running => {
    const pending: TaskInvocation[] = [];
    const handlers: Record<string, (input: unknown) => Promise<never> | Promise<unknown>> = {};
    for (const [state, resource] of parsed.tasks) {
      handlers[state] = async (input: unknown) => {
        const invocation: TaskInvocation = { state, events: [], done: false };
        pending.push(invocation);
        const note = (type: string, details?: Record<string, unknown>) =>
          invocation.events.push({
            timestamp: Date.now(),
            type,
            ...(details ? lambdaDetails(type, details) : {}),
          });
        if (!LAMBDA_FUNCTION_ARN.test(resource)) {
          invocation.done = true;
          throw taskError(
            'States.Runtime',
            `The local Step Functions runs Lambda function tasks only: ${state}'s Resource is ${resource}`,
            true,
          );
        }
        note('LambdaFunctionScheduled', {
          resource,
          input: JSON.stringify(input),
          inputDetails: { truncated: false },
        });
        note('LambdaFunctionStarted');
        let answer: InvokeCommandOutput;
        try {
          answer = await lambdaAs(record.roleArn).send(
            new InvokeCommand({ FunctionName: resource, Payload: Buffer.from(JSON.stringify(input)) }),
          );
        } catch (err) {
          const failure = invokeFailure(err);
          note('LambdaFunctionFailed', { error: failure.name, cause: failure.message });
          invocation.done = true;
          throw failure;
        }
        const payload = answer.Payload ? Buffer.from(answer.Payload).toString('utf8') : 'null';
        if (answer.FunctionError) {
          let errorType = 'Error';
          try {
            errorType = String((JSON.parse(payload) as { errorType?: unknown }).errorType ?? errorType);
          } catch {
            // A payload that is not an error document: the error keeps its generic name.
          }
          note('LambdaFunctionFailed', { error: errorType, cause: payload });
          invocation.done = true;
          throw taskError(errorType, payload);
        }
        note('LambdaFunctionSucceeded', { output: payload, outputDetails: { truncated: false } });
        invocation.done = true;
        return JSON.parse(payload) as unknown;
      };
    }

    const waits = opts.waitsMs;
    const runOptions: RunOptions = {
      overrides: {
        taskResourceLocalHandlers: handlers as NonNullable<
          RunOptions['overrides']
        >['taskResourceLocalHandlers'],
        ...(waits !== undefined
          ? {
              waitTimeOverrides: Object.fromEntries(parsed.waits.map((s) => [s, waits])),
              retryIntervalOverrides: Object.fromEntries(parsed.retriers.map((s) => [s, waits])),
            }
          : {}),
      },
      context: {
        Execution: { Id: record.executionArn, Name: record.name, RoleArn: record.roleArn },
        StateMachine: { Id: record.stateMachineArn, Name: machineName },
      },
    };
    const machine = new StateMachine(runnable(parsed.definition), {
      validationOptions: { noValidate: true },
    });
    const run = machine.run(JSON.parse(record.input), runOptions);

    /** The Lambda events of the task whose end the library reports (the first finished one). */
    const flushTask = (state: string, timedOut: boolean) => {
      const index = pending.findIndex((p) => p.state === state && (p.done || timedOut));
      if (index < 0) return;
      const [invocation] = pending.splice(index, 1);
      for (const event of invocation!.events) addEvent(record, event);
      if (timedOut && !invocation!.done) {
        invocation!.done = true;
        addEvent(record, {
          timestamp: Date.now(),
          type: 'LambdaFunctionTimedOut',
          lambdaFunctionTimedOutEventDetails: { error: 'States.Timeout' },
        });
      }
    };
    const started = new Set<string>();
    let dirty = false;
    const consume = async () => {
      for await (const event of run.eventLogs) {
        const timestamp = event.timestamp;
        switch (event.type) {
          case 'ExecutionStarted':
            addEvent(record, {
              timestamp,
              type: 'ExecutionStarted',
              executionStartedEventDetails: {
                input: record.input,
                inputDetails: { truncated: false },
                roleArn: record.roleArn,
              },
            });
            break;
          case 'StateEntered':
            started.delete(event.state.name);
            addEvent(record, {
              timestamp,
              type: `${event.state.type}StateEntered`,
              stateEnteredEventDetails: {
                name: event.state.name,
                input: JSON.stringify(event.state.input ?? null),
                inputDetails: { truncated: false },
              },
            });
            break;
          case 'StateExited':
            if (event.state.type === 'Task') flushTask(event.state.name, false);
            if (event.state.type === 'Map' || event.state.type === 'Parallel') {
              addEvent(record, { timestamp, type: `${event.state.type}StateSucceeded` });
            }
            addEvent(record, {
              timestamp,
              type: `${event.state.type}StateExited`,
              stateExitedEventDetails: {
                name: event.state.name,
                output: JSON.stringify(event.state.output ?? null),
                outputDetails: { truncated: false },
              },
            });
            break;
          case 'StateFailed':
            if (event.state.type === 'Task') flushTask(event.state.name, event.Error === 'States.Timeout');
            if (event.state.type === 'Map' || event.state.type === 'Parallel') {
              addEvent(record, { timestamp, type: `${event.state.type}StateFailed` });
            }
            break;
          case 'MapIterationStarted':
          case 'ParallelBranchStarted': {
            const parent = event.parentState.name;
            if (!started.has(parent)) {
              started.add(parent);
              addEvent(record, {
                timestamp,
                type: `${event.parentState.type}StateStarted`,
                ...(event.type === 'MapIterationStarted' ? { mapStateStartedEventDetails: {} } : {}),
              });
            }
            if (event.type === 'MapIterationStarted') {
              addEvent(record, {
                timestamp,
                type: 'MapIterationStarted',
                mapIterationStartedEventDetails: { name: parent, index: event.index },
              });
            }
            break;
          }
          case 'MapIterationSucceeded':
          case 'MapIterationFailed': {
            const key =
              event.type === 'MapIterationSucceeded'
                ? 'mapIterationSucceededEventDetails'
                : 'mapIterationFailedEventDetails';
            addEvent(record, {
              timestamp,
              type: event.type,
              [key]: { name: event.parentState.name, index: event.index },
            });
            break;
          }
          default:
            // ExecutionSucceeded/Failed/Aborted/Timeout are recorded with the execution's end;
            // StateRetried, StateCaught and ParallelBranch* have no AWS history event.
            break;
        }
        dirty = true;
      }
    };

    const flusher = setInterval(() => {
      if (!dirty) return;
      dirty = false;
      void saveExecution(record).catch(() => undefined);
    }, HISTORY_FLUSH_MS).unref();

    const entry: Running = { abort: () => run.abort(), done: Promise.resolve() };
    entry.done = (async () => {
      const consumed = consume();
      let end: Pick<ExecutionRecord, 'status' | 'output' | 'error' | 'cause'>;
      try {
        end = { status: 'SUCCEEDED', output: JSON.stringify((await run.result) ?? null) };
      } catch (err) {
        end = endOf(err, entry.stop);
      }
      await consumed.catch((err: unknown) =>
        log(`[stepfunctions] the history of ${record.executionArn} is incomplete: ${(err as Error).message}`),
      );
      clearInterval(flusher);
      running.delete(record.executionArn);
      if (closing) {
        // Left RUNNING on disk for the next start's recovery.
        await saveExecution(record).catch(() => undefined);
        return;
      }
      Object.assign(record, { ...end, stopDate: Date.now() });
      addEvent(record, terminalEvent(record));
      await statusChanged(record).catch(() => undefined);
    })();
    return entry;
  };

  // ---------------------------------------------------------------------------------------------

  const parseMachineArn = (arn: string) => {
    const match = /^arn:aws:states:([a-z0-9-]+):(\d{12}):stateMachine:([^:]+)$/.exec(arn);
    if (!match) throw fail('InvalidArn', `Invalid Arn: '${arn}'`);
    return match[3]!;
  };
  const parseExecutionArn = (arn: string) => {
    if (!/^arn:aws:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/.test(arn)) {
      throw fail('InvalidArn', `Invalid Arn: '${arn}'`);
    }
  };
  const machineOf = (arn: string): StateMachineRecord => {
    parseMachineArn(arn);
    const machine = machines.get(arn);
    if (!machine) throw fail('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return machine;
  };
  const executionOf = (arn: string): ExecutionRecord => {
    parseExecutionArn(arn);
    const record = executions.get(arn);
    if (!record) throw fail('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return record;
  };

  const dispatch = async (target: string, body: unknown, req: IncomingMessage, raw: string) => {
    const [service, operation] = target.split('.', 2) as [string, Operation];
    if (service !== SFN_TARGET || !Object.hasOwn(schemas, operation)) {
      throw fail('UnknownOperationException', `The local Step Functions does not answer ${target}`);
    }
    const signed = { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body: raw };
    const authorize = async (action: string, resource: string, context?: Record<string, string>) => {
      const denial = await iam.authorize(signed, action, resource, context);
      if (!denial) return;
      if (denial.reason === 'signature')
        throw new AwsJsonError('InvalidSignatureException', denial.message, 403);
      throw new AwsJsonError('AccessDeniedException', denial.message);
    };
    /** PassRole, then the role as Step Functions checks it: it exists and trusts the service. */
    const passRole = async (roleArn: string) => {
      await authorize('iam:PassRole', roleArn, { 'iam:PassedToService': STATES_SERVICE });
      if (!roles.trusts(roleArn, STATES_SERVICE)) {
        throw fail(
          'AccessDeniedException',
          `Neither the global service principal ${STATES_SERVICE}, nor the regional one is authorized to assume the provided role.`,
        );
      }
    };

    switch (operation) {
      case 'CreateStateMachine': {
        const input = parse(schemas.CreateStateMachine, body);
        checkName(input.name);
        const arn = machineArn(input.name);
        await authorize('states:CreateStateMachine', arn);
        if (input.type === 'EXPRESS') {
          throw fail(
            'ValidationException',
            'type: the local Step Functions runs STANDARD state machines only',
          );
        }
        await passRole(input.roleArn);
        parseDefinition(input.definition);
        const existing = machines.get(arn);
        if (existing) {
          // AWS answers a repeated identical request with the machine it made.
          if (existing.definition === input.definition && existing.roleArn === input.roleArn) {
            return { stateMachineArn: arn, creationDate: epochSeconds(existing.creationDate) };
          }
          throw fail('StateMachineAlreadyExists', `State Machine Already Exists: '${arn}'`);
        }
        const machine = {
          name: input.name,
          arn,
          definition: input.definition,
          roleArn: input.roleArn,
          creationDate: Date.now(),
        };
        machines.set(arn, machine);
        await saveMachines();
        return { stateMachineArn: arn, creationDate: epochSeconds(machine.creationDate) };
      }
      case 'UpdateStateMachine': {
        const input = parse(schemas.UpdateStateMachine, body);
        parseMachineArn(input.stateMachineArn);
        await authorize('states:UpdateStateMachine', input.stateMachineArn);
        if (input.definition === undefined && input.roleArn === undefined) {
          throw fail('MissingRequiredParameter', 'Either the definition or the roleArn must be specified.');
        }
        if (input.roleArn !== undefined) await passRole(input.roleArn);
        if (input.definition !== undefined) parseDefinition(input.definition);
        const machine = machineOf(input.stateMachineArn);
        const updated = {
          ...machine,
          ...(input.definition !== undefined ? { definition: input.definition } : {}),
          ...(input.roleArn !== undefined ? { roleArn: input.roleArn } : {}),
        };
        machines.set(machine.arn, updated);
        await saveMachines();
        return { updateDate: epochSeconds(Date.now()) };
      }
      case 'DeleteStateMachine': {
        const input = parse(schemas.DeleteStateMachine, body);
        parseMachineArn(input.stateMachineArn);
        await authorize('states:DeleteStateMachine', input.stateMachineArn);
        parsedMachines.delete(input.stateMachineArn);
        if (machines.delete(input.stateMachineArn)) await saveMachines();
        for (const record of [...executions.values()]) {
          if (record.stateMachineArn !== input.stateMachineArn || record.status === 'RUNNING') continue;
          executions.delete(record.executionArn);
          await unlink(executionFile(record.executionArn)).catch(() => undefined);
        }
        return {};
      }
      case 'DescribeStateMachine': {
        const input = parse(schemas.DescribeStateMachine, body);
        parseMachineArn(input.stateMachineArn);
        await authorize('states:DescribeStateMachine', input.stateMachineArn);
        const machine = machineOf(input.stateMachineArn);
        return {
          stateMachineArn: machine.arn,
          name: machine.name,
          status: 'ACTIVE',
          definition: machine.definition,
          roleArn: machine.roleArn,
          type: 'STANDARD',
          creationDate: epochSeconds(machine.creationDate),
          loggingConfiguration: { level: 'OFF', includeExecutionData: false },
          tracingConfiguration: { enabled: false },
        };
      }
      case 'ListStateMachines': {
        const input = parse(schemas.ListStateMachines, body);
        await authorize('states:ListStateMachines', '*');
        const all = [...machines.values()].sort((a, b) => a.name.localeCompare(b.name));
        const { items, next } = page(all, input.nextToken, input.maxResults);
        return {
          stateMachines: items.map((m) => ({
            stateMachineArn: m.arn,
            name: m.name,
            type: 'STANDARD',
            creationDate: epochSeconds(m.creationDate),
          })),
          ...(next ? { nextToken: next } : {}),
        };
      }
      case 'StartExecution': {
        const input = parse(schemas.StartExecution, body);
        const machineName = parseMachineArn(input.stateMachineArn);
        await authorize('states:StartExecution', input.stateMachineArn);
        const machine = machineOf(input.stateMachineArn);
        const name = input.name ?? randomUUID();
        checkName(name);
        const text = input.input ?? '{}';
        if (Buffer.byteLength(text, 'utf8') > MAX_INPUT_BYTES) {
          throw fail(
            'ValidationException',
            `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${MAX_INPUT_BYTES}`,
          );
        }
        try {
          JSON.parse(text);
        } catch (err) {
          throw fail(
            'InvalidExecutionInput',
            `Invalid State Machine Execution Input: '${(err as Error).message}'`,
          );
        }
        const arn = executionArn(machineName, name);
        const existing = executions.get(arn);
        if (existing) {
          // AWS answers a repeated start of a running execution with the same input with that execution.
          if (existing.status === 'RUNNING' && existing.input === text) {
            return { executionArn: arn, startDate: epochSeconds(existing.startDate) };
          }
          throw fail('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
        }
        const record: ExecutionRecord = {
          executionArn: arn,
          stateMachineArn: machine.arn,
          name,
          roleArn: machine.roleArn,
          status: 'RUNNING',
          startDate: Date.now(),
          input: text,
          history: [],
        };
        executions.set(arn, record);
        await statusChanged(record);
        running.set(arn, execute(record, parsedOf(machine), machine.name));
        return { executionArn: arn, startDate: epochSeconds(record.startDate) };
      }
      case 'DescribeExecution': {
        const input = parse(schemas.DescribeExecution, body);
        parseExecutionArn(input.executionArn);
        await authorize('states:DescribeExecution', input.executionArn);
        const record = executionOf(input.executionArn);
        return {
          executionArn: record.executionArn,
          stateMachineArn: record.stateMachineArn,
          name: record.name,
          status: record.status,
          startDate: epochSeconds(record.startDate),
          stopDate: epochSeconds(record.stopDate),
          input: record.input,
          inputDetails: { included: true },
          ...(record.output !== undefined
            ? { output: record.output, outputDetails: { included: true } }
            : {}),
          ...(record.error !== undefined ? { error: record.error } : {}),
          ...(record.cause !== undefined ? { cause: record.cause } : {}),
        };
      }
      case 'ListExecutions': {
        const input = parse(schemas.ListExecutions, body);
        parseMachineArn(input.stateMachineArn);
        await authorize('states:ListExecutions', input.stateMachineArn);
        machineOf(input.stateMachineArn);
        const all = [...executions.values()]
          .filter((e) => e.stateMachineArn === input.stateMachineArn)
          .filter((e) => input.statusFilter === undefined || e.status === input.statusFilter)
          .sort((a, b) => b.startDate - a.startDate || a.name.localeCompare(b.name));
        const { items, next } = page(all, input.nextToken, input.maxResults);
        return {
          executions: items.map((e) => ({
            executionArn: e.executionArn,
            stateMachineArn: e.stateMachineArn,
            name: e.name,
            status: e.status,
            startDate: epochSeconds(e.startDate),
            ...(e.stopDate !== undefined ? { stopDate: epochSeconds(e.stopDate) } : {}),
          })),
          ...(next ? { nextToken: next } : {}),
        };
      }
      case 'GetExecutionHistory': {
        const input = parse(schemas.GetExecutionHistory, body);
        parseExecutionArn(input.executionArn);
        await authorize('states:GetExecutionHistory', input.executionArn);
        const record = executionOf(input.executionArn);
        const ordered = input.reverseOrder ? [...record.history].reverse() : record.history;
        const { items, next } = page(ordered, input.nextToken, input.maxResults);
        const withData = input.includeExecutionData ?? true;
        return {
          events: items.map((e) => ({ ...(withData ? e : withoutData(e)), timestamp: e.timestamp / 1000 })),
          ...(next ? { nextToken: next } : {}),
        };
      }
      case 'StopExecution': {
        const input = parse(schemas.StopExecution, body);
        parseExecutionArn(input.executionArn);
        await authorize('states:StopExecution', input.executionArn);
        const record = executionOf(input.executionArn);
        const run = running.get(record.executionArn);
        if (run) {
          run.stop = {
            ...(input.error !== undefined ? { error: input.error } : {}),
            ...(input.cause !== undefined ? { cause: input.cause } : {}),
          };
          run.abort();
          await run.done;
        }
        return { stopDate: epochSeconds(record.stopDate ?? Date.now()) };
      }
    }
  };

  const server = awsJsonServer({ maxRequestBytes: MAX_REQUEST_BYTES, contentType: AWS_JSON_1_0, dispatch });
  return {
    url: await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0),
    close: async () => {
      closing = true;
      await closeNow(server);
      const runs = [...running.values()];
      for (const run of runs) run.abort();
      await Promise.allSettled(runs.map((r) => r.done));
      await Promise.allSettled([...writes.values()]);
      for (const { client } of clients.values()) client.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** The detail member of a Lambda history event (`LambdaFunctionScheduled` → `lambdaFunctionScheduledEventDetails`). */
function lambdaDetails(type: string, details: Record<string, unknown>) {
  return { [`${type[0]!.toLowerCase()}${type.slice(1)}EventDetails`]: details };
}

/** How an execution that did not succeed ended, from the library's error. */
function endOf(err: unknown, stop: Running['stop']): Pick<ExecutionRecord, 'status' | 'error' | 'cause'> {
  if (err instanceof ExecutionAbortedError) {
    return {
      status: 'ABORTED',
      ...(stop?.error !== undefined ? { error: stop.error } : {}),
      ...(stop?.cause !== undefined ? { cause: stop.cause } : {}),
    };
  }
  if (err instanceof ExecutionTimeoutError) {
    return {
      status: 'TIMED_OUT',
      error: 'States.Timeout',
      cause: "The execution timed out (the definition's TimeoutSeconds).",
    };
  }
  const failure = err instanceof ExecutionError && err.cause instanceof Error ? err.cause : (err as Error);
  // A Fail state without Error or Cause: the library's placeholders, which AWS leaves out.
  const error = failure.name === 'FailStateError' ? undefined : failure.name;
  const cause = failure.message === 'Execution failed because of a Fail state' ? undefined : failure.message;
  return {
    status: 'FAILED',
    ...(error !== undefined ? { error } : {}),
    ...(cause !== undefined ? { cause } : {}),
  };
}

function terminalEvent(record: ExecutionRecord): NewEvent {
  const timestamp = record.stopDate ?? Date.now();
  const errorDetails = {
    ...(record.error !== undefined ? { error: record.error } : {}),
    ...(record.cause !== undefined ? { cause: record.cause } : {}),
  };
  switch (record.status) {
    case 'SUCCEEDED':
      return {
        timestamp,
        type: 'ExecutionSucceeded',
        executionSucceededEventDetails: { output: record.output, outputDetails: { truncated: false } },
      };
    case 'ABORTED':
      return { timestamp, type: 'ExecutionAborted', executionAbortedEventDetails: errorDetails };
    case 'TIMED_OUT':
      return { timestamp, type: 'ExecutionTimedOut', executionTimedOutEventDetails: errorDetails };
    default:
      return { timestamp, type: 'ExecutionFailed', executionFailedEventDetails: errorDetails };
  }
}

/** An event without its input and output (GetExecutionHistory's includeExecutionData: false). */
function withoutData(event: HistoryEvent): HistoryEvent {
  const copy: Record<string, unknown> = { ...event };
  for (const [key, value] of Object.entries(event)) {
    if (!key.endsWith('EventDetails') || typeof value !== 'object' || value === null) continue;
    const { input: _input, output: _output, ...rest } = value as Record<string, unknown>;
    copy[key] = rest;
  }
  return copy as HistoryEvent;
}

async function readJson<T>(file: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw err;
  }
}
