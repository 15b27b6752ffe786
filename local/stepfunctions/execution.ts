import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
} from 'aws-local-stepfunctions';
import { LOCAL_ACCOUNT_ID, type LocalIam } from '../iam.ts';
import type { LocalIamRoles } from '../iam-roles.ts';
import { type ParsedDefinition, runnable } from './definition.ts';
import { addEvent, type ExecutionRecord, historyRecorder, terminalEvent } from './history.ts';

/**
 * Running executions in-process with `aws-local-stepfunctions`. Every Task state is overridden by a
 * handler that invokes its Resource, a Lambda function ARN, through the local Lambda endpoint with
 * the credentials of the state machine's role (its inline policies within its boundary,
 * `LocalIamRoles`), so a task the role does not allow fails `Lambda.AWSLambdaException` as in AWS;
 * a function error fails it with the function's errorType and the error document as cause. Any
 * other Resource fails `States.Runtime`.
 *
 * An execution's record is saved at each status change and at most every second while it runs;
 * each status change (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) is handed to
 * `onStatusChange` as a `Step Functions Execution Status Change` event (source `aws.states`,
 * AWS's detail, dates in epoch milliseconds) for the runtime to put on the default bus.
 */

export const STATUS_CHANGE_DETAIL_TYPE = 'Step Functions Execution Status Change';
const HISTORY_FLUSH_MS = 1000;
const LAMBDA_FUNCTION_ARN =
  /^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9_-]+(:[a-zA-Z0-9$_-]+)?$/;

/** An event an AWS service puts on the account's default bus. */
export interface AwsServiceEvent {
  source: string;
  'detail-type': string;
  time: string;
  resources: string[];
  detail: Record<string, unknown>;
}

export interface ExecutionRunnerOptions {
  region: string;
  iam: LocalIam;
  roles: LocalIamRoles;
  /** The local Lambda endpoint tasks invoke their functions through. */
  lambdaUrl: string;
  /** When set, every Wait state and retry pause lasts this many milliseconds. */
  waitsMs?: number;
  onStatusChange(event: AwsServiceEvent): void;
  saveExecution(record: ExecutionRecord): Promise<void>;
  /** True once the endpoint closes: an execution ending then is left RUNNING on disk. */
  closing(): boolean;
  log(message: string): void;
}

interface Running {
  abort(): void;
  stop?: { error?: string; cause?: string };
  done: Promise<void>;
}

/** The executions running in this process. */
export class ExecutionRunner {
  readonly #opts: ExecutionRunnerOptions;
  readonly #running = new Map<string, Running>();
  /** The roles' credentials, registered again only when the role's grants change. */
  readonly #clients = new Map<string, { key: string; client: LambdaClient }>();

  constructor(opts: ExecutionRunnerOptions) {
    this.#opts = opts;
  }

  /** Saves the record and hands its status change to `onStatusChange`. */
  async statusChanged(record: ExecutionRecord): Promise<void> {
    await this.#opts.saveExecution(record);
    try {
      this.#opts.onStatusChange(statusEvent(record));
    } catch (err) {
      this.#opts.log(
        `[stepfunctions] the status change of ${record.executionArn} was not delivered: ${(err as Error).message}`,
      );
    }
  }

  start(record: ExecutionRecord, parsed: ParsedDefinition, machineName: string): void {
    this.#running.set(record.executionArn, this.#execute(record, parsed, machineName));
  }

  /** Aborts a running execution, which ends ABORTED with the error and cause given. */
  async stop(executionArn: string, stop: NonNullable<Running['stop']>): Promise<void> {
    const run = this.#running.get(executionArn);
    if (!run) return;
    run.stop = stop;
    run.abort();
    await run.done;
  }

  /** Aborts the running executions (recording no end: see `closing`) and waits for them. */
  async close(): Promise<void> {
    const runs = [...this.#running.values()];
    for (const run of runs) run.abort();
    await Promise.allSettled(runs.map((r) => r.done));
    for (const { client } of this.#clients.values()) client.destroy();
  }

  #lambdaAs(roleArn: string): LambdaClient {
    const { roles, iam } = this.#opts;
    const grants = roles.statementsOf(roleArn) ?? [];
    const boundary = roles.boundaryOf(roleArn);
    const key = JSON.stringify([grants, boundary]);
    const cached = this.#clients.get(roleArn);
    if (cached?.key === key) return cached.client;
    const roleName = roleArn.slice(roleArn.lastIndexOf('/') + 1);
    const credentials = iam.register(`states-${roleName}`, grants, {
      arn: `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/${roleName}/StepFunctions`,
      ...(boundary ? { boundary } : {}),
    });
    const client = new LambdaClient({
      region: this.#opts.region,
      endpoint: this.#opts.lambdaUrl,
      credentials,
      maxAttempts: 1,
    });
    this.#clients.set(roleArn, { key, client });
    return client;
  }

  #execute(record: ExecutionRecord, parsed: ParsedDefinition, machineName: string): Running {
    const history = historyRecorder(record);
    const handlers: Record<string, (input: unknown) => Promise<never> | Promise<unknown>> = {};
    for (const [state, resource] of parsed.tasks) {
      handlers[state] = async (input: unknown) => {
        const invocation = history.invocation(state);
        if (!LAMBDA_FUNCTION_ARN.test(resource)) {
          invocation.done = true;
          throw taskError(
            'States.Runtime',
            `The local Step Functions runs Lambda function tasks only: ${state}'s Resource is ${resource}`,
            true,
          );
        }
        invocation.note('LambdaFunctionScheduled', {
          resource,
          input: JSON.stringify(input),
          inputDetails: { truncated: false },
        });
        invocation.note('LambdaFunctionStarted');
        let answer: InvokeCommandOutput;
        try {
          answer = await this.#lambdaAs(record.roleArn).send(
            new InvokeCommand({ FunctionName: resource, Payload: Buffer.from(JSON.stringify(input)) }),
          );
        } catch (err) {
          const failure = invokeFailure(err);
          invocation.note('LambdaFunctionFailed', { error: failure.name, cause: failure.message });
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
          invocation.note('LambdaFunctionFailed', { error: errorType, cause: payload });
          invocation.done = true;
          throw taskError(errorType, payload);
        }
        invocation.note('LambdaFunctionSucceeded', { output: payload, outputDetails: { truncated: false } });
        invocation.done = true;
        return JSON.parse(payload) as unknown;
      };
    }

    const waits = this.#opts.waitsMs;
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

    let dirty = false;
    const consume = async () => {
      for await (const event of run.eventLogs) {
        history.add(event);
        dirty = true;
      }
    };
    const flusher = setInterval(() => {
      if (!dirty) return;
      dirty = false;
      void this.#opts.saveExecution(record).catch(() => undefined);
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
        this.#opts.log(
          `[stepfunctions] the history of ${record.executionArn} is incomplete: ${(err as Error).message}`,
        ),
      );
      clearInterval(flusher);
      this.#running.delete(record.executionArn);
      if (this.#opts.closing()) {
        // Left RUNNING on disk for the next start's recovery.
        await this.#opts.saveExecution(record).catch(() => undefined);
        return;
      }
      Object.assign(record, { ...end, stopDate: Date.now() });
      addEvent(record, terminalEvent(record));
      await this.statusChanged(record).catch(() => undefined);
    })();
    return entry;
  }
}

function statusEvent(record: ExecutionRecord): AwsServiceEvent {
  return {
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
  };
}

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
