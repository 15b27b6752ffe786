import type { StateMachine } from 'aws-local-stepfunctions';

/**
 * An execution's record and its history in GetExecutionHistory's shape: the library's event log
 * and the Lambda events of its tasks become AWS's event types and detail members. Departures:
 * `previousEventId` is the event before (AWS links an event to its cause); the library reports
 * neither retries nor catches as AWS events (AWS has none either: a retry is a new
 * LambdaFunctionScheduled), nor a Map's item count (MapStateStarted has no `length`), nor a task
 * left running by an abort (no TaskStateAborted).
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** A history event before its place in the history is known: its time, type and details member. */
export interface NewEvent {
  /** Epoch milliseconds (answered in seconds). */
  timestamp: number;
  type: string;
  [details: string]: unknown;
}

export interface HistoryEvent extends NewEvent {
  id: number;
  previousEventId: number;
}

export interface ExecutionRecord {
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

/** An event of the library's event log (the library does not export its type). */
type LibraryEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export function addEvent(record: ExecutionRecord, event: NewEvent): void {
  const id = record.history.length + 1;
  record.history.push({ ...event, id, previousEventId: id - 1 });
}

/** A task invocation's Lambda events, held until the library reports the task's end. */
class TaskInvocation {
  readonly state: string;
  readonly events: NewEvent[] = [];
  done = false;
  constructor(state: string) {
    this.state = state;
  }

  /** Notes a Lambda event now, its details as its member (`lambdaFunctionScheduledEventDetails`). */
  note(type: string, details?: Record<string, unknown>): void {
    this.events.push({
      timestamp: Date.now(),
      type,
      ...(details ? { [`${type[0]!.toLowerCase()}${type.slice(1)}EventDetails`]: details } : {}),
    });
  }
}

/**
 * Records an execution's history as it runs: each of the library's events (`add`), with the
 * Lambda events of the task invocations (`invocation`) placed when the library reports their
 * task's end.
 */
export function historyRecorder(record: ExecutionRecord) {
  const pending: TaskInvocation[] = [];
  const started = new Set<string>();

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

  return {
    invocation(state: string): TaskInvocation {
      const invocation = new TaskInvocation(state);
      pending.push(invocation);
      return invocation;
    },

    add(event: LibraryEvent): void {
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
    },
  };
}

/** The event that ends an execution's history, from its recorded end. */
export function terminalEvent(record: ExecutionRecord): NewEvent {
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
export function withoutData(event: HistoryEvent): HistoryEvent {
  const copy: Record<string, unknown> = { ...event };
  for (const [key, value] of Object.entries(event)) {
    if (!key.endsWith('EventDetails') || typeof value !== 'object' || value === null) continue;
    const { input: _input, output: _output, ...rest } = value as Record<string, unknown>;
    copy[key] = rest;
  }
  return copy as HistoryEvent;
}
