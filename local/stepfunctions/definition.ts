import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { AwsJsonError } from '../aws-json.ts';

/**
 * A state machine's definition as the local Step Functions reads it: validated by
 * `aws-local-stepfunctions` (its message is InvalidDefinition's) once, with what running it needs
 * (its Task, Wait and retrying states) found at the same time. The library overrides states by
 * name, which its validator keeps unique in a definition (Parallel branches and Map processors
 * included).
 */

/** The longest timer Node keeps (2^31 - 1 ms), in seconds: a Task without TimeoutSeconds. */
const UNBOUNDED_TASK_SECONDS = 2_147_483;

export interface ParsedDefinition {
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
  new AwsJsonError('InvalidDefinition', `Invalid State Machine Definition: '${message}'`);

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

/**
 * The definition the library runs: a Task without a timeout waits ~24 days for its function (the
 * library's default is 60 s; AWS waits as long as the function runs).
 */
export function runnable(definition: StateMachineDefinition): StateMachineDefinition {
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
