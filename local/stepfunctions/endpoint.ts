import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AWS_JSON_1_0, AwsJsonError, awsJsonServer } from '../aws-json.ts';
import { LOCAL_ACCOUNT_ID } from '../iam.ts';
import { closeNow, listen } from '../listen.ts';
import { type ParsedDefinition, parseDefinition } from './definition.ts';
import { ExecutionRunner, type ExecutionRunnerOptions } from './execution.ts';
import { addEvent, type ExecutionRecord, withoutData } from './history.ts';
import { checkName, fail, type Operation, page, parse, schemas } from './requests.ts';
import { openStore, type StateMachineRecord } from './store.ts';

/**
 * Local Step Functions: the API `@aws-sdk/client-sfn` speaks (AWS JSON 1.0,
 * `AWSStepFunctions.<Op>`) for STANDARD state machines: Create/Update/Delete/Describe/
 * ListStateMachines, StartExecution, DescribeExecution, ListExecutions, GetExecutionHistory,
 * StopExecution, each allowed by the caller's grants (`states:<Op>` on the state machine's or the
 * execution's ARN; a roleArn also needs `iam:PassRole` on it with `iam:PassedToService =
 * states.amazonaws.com`, and the role must exist in the local IAM roles and trust
 * `states.amazonaws.com`, else AccessDeniedException as AWS answers). Executions run in this
 * process (`execution.ts`); their history is AWS's (`history.ts`).
 *
 * State machines and executions are kept under `dataDir` (`store.ts`). Executions a previous run
 * left RUNNING (the runtime stopped, or `close()` was called: it aborts running executions without
 * recording an end) become FAILED on the next start, error `States.Runtime`, cause `the local
 * runtime stopped during the execution`. DeleteStateMachine removes the machine and its finished
 * executions; running ones run to their end and stay describable.
 */

export const SFN_TARGET = 'AWSStepFunctions';
export const STATES_SERVICE = 'states.amazonaws.com';
export const RECOVERY_CAUSE = 'the local runtime stopped during the execution';
/** Definitions up to 1 MB, inputs up to 256 KiB, with room for the JSON around them. */
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
const MAX_INPUT_BYTES = 256 * 1024;

export interface StepFunctionsEndpointOptions
  extends Pick<
    ExecutionRunnerOptions,
    'region' | 'iam' | 'roles' | 'lambdaUrl' | 'waitsMs' | 'onStatusChange'
  > {
  dataDir: string;
  host?: string;
  port?: number;
  log?: (message: string) => void;
}

export interface StepFunctionsEndpoint {
  url: string;
  /** Stops answering and aborts running executions without recording an end (see the module comment). */
  close(): Promise<void>;
}

const epochSeconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

export async function startStepFunctionsEndpoint(
  opts: StepFunctionsEndpointOptions,
): Promise<StepFunctionsEndpoint> {
  const { region, iam, roles } = opts;
  const log = opts.log ?? ((message) => process.stderr.write(`${message}\n`));
  const store = await openStore(opts.dataDir, log);
  const { machines, executions } = store;
  let closing = false;
  const runner = new ExecutionRunner({
    region,
    iam,
    roles,
    lambdaUrl: opts.lambdaUrl,
    waitsMs: opts.waitsMs,
    onStatusChange: opts.onStatusChange,
    saveExecution: store.saveExecution,
    closing: () => closing,
    log,
  });
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

  // Executions a previous run left RUNNING failed with it.
  for (const record of executions.values()) {
    if (record.status !== 'RUNNING') continue;
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
    await runner.statusChanged(record);
  }

  const machineArn = (name: string) => `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:stateMachine:${name}`;
  const executionArn = (machine: string, name: string) =>
    `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:execution:${machine}:${name}`;

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
        await store.saveMachines();
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
        await store.saveMachines();
        return { updateDate: epochSeconds(Date.now()) };
      }
      case 'DeleteStateMachine': {
        const input = parse(schemas.DeleteStateMachine, body);
        parseMachineArn(input.stateMachineArn);
        await authorize('states:DeleteStateMachine', input.stateMachineArn);
        parsedMachines.delete(input.stateMachineArn);
        if (machines.delete(input.stateMachineArn)) await store.saveMachines();
        for (const record of [...executions.values()]) {
          if (record.stateMachineArn !== input.stateMachineArn || record.status === 'RUNNING') continue;
          await store.deleteExecution(record.executionArn);
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
        await runner.statusChanged(record);
        runner.start(record, parsedOf(machine), machine.name);
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
        await runner.stop(record.executionArn, {
          ...(input.error !== undefined ? { error: input.error } : {}),
          ...(input.cause !== undefined ? { cause: input.cause } : {}),
        });
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
      await runner.close();
      await store.settled();
    },
  };
}
