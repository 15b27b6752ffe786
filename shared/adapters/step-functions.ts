import {
  CreateStateMachineCommand,
  DeleteStateMachineCommand,
  DescribeExecutionCommand,
  type DescribeExecutionOutput,
  type ExecutionListItem,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  type HistoryEvent as SdkHistoryEvent,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  UpdateStateMachineCommand,
} from '@aws-sdk/client-sfn';
import { ValidationError } from '../errors.ts';
import type { ExecutionStatus, HistoryEvent } from '../workflows/model.ts';
import type { ExecutionDescription, StateMachines } from '../workflows/ports.ts';
import { awsCall, awsErrorName } from './aws-errors.ts';

/** A role Step Functions cannot assume yet: IAM's changes take a few seconds to reach it. */
const ROLE_NOT_READY = /not authorized to assume|assume the provided role/i;
/** How long a new role may take to be usable by Step Functions (IAM is eventually consistent). */
const ROLE_PROPAGATION_MS = 20_000;
const HISTORY_PAGE = 1_000;

/**
 * State machines and executions through the Step Functions API (`@aws-sdk/client-sfn`): AWS's in
 * a stage, the local runtime's on a laptop (`local/stepfunctions/`), which answers the same calls.
 */
export class StepFunctionsStateMachines implements StateMachines {
  readonly #client: SFNClient;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(client: SFNClient, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))) {
    this.#client = client;
    this.#sleep = sleep;
  }

  async create(name: string, definition: string, roleArn: string): Promise<string> {
    const out = await this.#withNewRole('Step Functions CreateStateMachine', () =>
      this.#client.send(new CreateStateMachineCommand({ name, definition, roleArn, type: 'STANDARD' })),
    );
    return out.stateMachineArn!;
  }

  async update(stateMachineArn: string, definition: string, roleArn: string): Promise<void> {
    await this.#withNewRole('Step Functions UpdateStateMachine', () =>
      this.#client.send(new UpdateStateMachineCommand({ stateMachineArn, definition, roleArn })),
    );
  }

  async delete(stateMachineArn: string): Promise<void> {
    await awsCall('Step Functions DeleteStateMachine', async () => {
      try {
        await this.#client.send(new DeleteStateMachineCommand({ stateMachineArn }));
      } catch (err) {
        if (awsErrorName(err) !== 'StateMachineDoesNotExist') throw err;
      }
    });
  }

  async start(stateMachineArn: string, name: string, input: string) {
    const out = await awsCall('Step Functions StartExecution', async () => {
      try {
        return await this.#client.send(new StartExecutionCommand({ stateMachineArn, name, input }));
      } catch (err) {
        // The input is the client's: Step Functions refuses what is not JSON or too large.
        if (awsErrorName(err) === 'InvalidExecutionInput')
          throw ValidationError.field('input', (err as Error).message);
        throw err;
      }
    });
    return { executionArn: out.executionArn!, startDate: out.startDate! };
  }

  async describe(executionArn: string): Promise<ExecutionDescription | undefined> {
    return awsCall('Step Functions DescribeExecution', async () => {
      try {
        return descriptionOf(await this.#client.send(new DescribeExecutionCommand({ executionArn })));
      } catch (err) {
        if (awsErrorName(err) === 'ExecutionDoesNotExist') return undefined;
        throw err;
      }
    });
  }

  async list(
    stateMachineArn: string,
    options: { status?: ExecutionStatus; limit: number; nextToken?: string },
  ) {
    const out = await awsCall('Step Functions ListExecutions', async () => {
      try {
        return await this.#client.send(
          new ListExecutionsCommand({
            stateMachineArn,
            maxResults: options.limit,
            ...(options.status ? { statusFilter: options.status } : {}),
            ...(options.nextToken ? { nextToken: options.nextToken } : {}),
          }),
        );
      } catch (err) {
        if (options.nextToken && awsErrorName(err) === 'InvalidToken') {
          throw ValidationError.field('query.nextToken', 'not a token this API answered');
        }
        throw err;
      }
    });
    return {
      executions: (out.executions ?? []).map(descriptionOf),
      ...(out.nextToken ? { nextToken: out.nextToken } : {}),
    };
  }

  async history(executionArn: string, limit: number) {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await awsCall('Step Functions GetExecutionHistory', () =>
        this.#client.send(
          new GetExecutionHistoryCommand({
            executionArn,
            maxResults: Math.min(HISTORY_PAGE, limit - events.length + 1),
            ...(nextToken ? { nextToken } : {}),
          }),
        ),
      );
      events.push(...(page.events ?? []).map(historyEventOf));
      nextToken = page.nextToken;
    } while (nextToken && events.length <= limit);
    return { events: events.slice(0, limit), truncated: events.length > limit || nextToken !== undefined };
  }

  async stop(executionArn: string, error?: string, cause?: string): Promise<void> {
    await awsCall('Step Functions StopExecution', () =>
      this.#client.send(
        new StopExecutionCommand({
          executionArn,
          ...(error !== undefined ? { error } : {}),
          ...(cause !== undefined ? { cause } : {}),
        }),
      ),
    );
  }

  /** Retries while Step Functions cannot assume a role IAM has only just created or changed. */
  async #withNewRole<T>(what: string, call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + ROLE_PROPAGATION_MS;
    for (let delay = 500; ; delay = Math.min(delay * 2, 4_000)) {
      try {
        return await call();
      } catch (err) {
        const name = awsErrorName(err);
        const notReady =
          (name === 'AccessDeniedException' || name === 'InvalidDefinition') &&
          ROLE_NOT_READY.test((err as Error).message ?? '');
        if (!notReady || Date.now() + delay > deadline) return awsCall(what, () => Promise.reject(err));
        await this.#sleep(delay);
      }
    }
  }
}

/** A described or listed execution (a listed one has no input, output, error or cause). */
function descriptionOf(e: DescribeExecutionOutput | ExecutionListItem): ExecutionDescription {
  const d: Partial<DescribeExecutionOutput> = e;
  return {
    executionArn: e.executionArn!,
    stateMachineArn: e.stateMachineArn!,
    name: e.name!,
    status: e.status as ExecutionStatus,
    startDate: e.startDate!,
    ...(e.stopDate ? { stopDate: e.stopDate } : {}),
    ...(d.input !== undefined ? { input: d.input } : {}),
    ...(d.output !== undefined ? { output: d.output } : {}),
    ...(d.error !== undefined ? { error: d.error } : {}),
    ...(d.cause !== undefined ? { cause: d.cause } : {}),
  };
}

/** The SDK's event with its timestamp as an ISO string (its details as Step Functions gives them). */
function historyEventOf(e: SdkHistoryEvent): HistoryEvent {
  const { timestamp, type, id, previousEventId, ...details } = e;
  return {
    id: id!,
    ...(previousEventId !== undefined && previousEventId !== 0 ? { previousEventId } : {}),
    timestamp: timestamp!.toISOString(),
    type: type!,
    ...details,
  };
}
