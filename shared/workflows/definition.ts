import aslValidator from 'asl-validator';
import type { FieldIssue } from '../errors.ts';

/**
 * A workflow's definition: an Amazon States Language document whose Task states call the
 * platform's manager actions (`manager:<id>:<action>`) and nothing else. `validateDefinition`
 * checks it (asl-validator for the language, then the platform's own rules), naming the field and
 * the state of each issue; `translateDefinition` turns it into what the engine runs, each Task a
 * direct Lambda task on its manager's contract function (the contract's `task` call).
 */

/** Manager id → the names of its actions (built from MANAGER_ACTIONS by the caller). */
export type ManagerActions = Readonly<Record<string, readonly string[]>>;

/** Step Functions' limit on a definition's size, bytes. */
export const MAX_DEFINITION_BYTES = 1024 * 1024;
export const MAX_STATES = 500;
export const MAX_STATE_NAME_LENGTH = 80;

const STATE_TYPES = ['Task', 'Pass', 'Choice', 'Wait', 'Succeed', 'Fail', 'Parallel', 'Map'];
/** What asl-validator's schema requires of a state beyond its Type (its errors lose this). */
const REQUIRED_FIELDS: Readonly<Record<string, string>> = {
  Task: 'Resource',
  Choice: 'Choices',
  Parallel: 'Branches',
};
const MANAGER_RESOURCE = /^manager:([^:]+):([^:]+)$/;
/** Service integration patterns that wait for a callback or a job (`.sync`, `.sync:2`, …). */
const CALLBACK_PATTERN = /\.(sync|waitForTaskToken)(:\d+)?$/;
const DISTRIBUTED_MAP_FIELDS = ['ItemReader', 'ItemWriter', 'ResultWriter'];

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** One `States` object: the top level, a Parallel branch, or a Map's processor. */
interface Machine {
  /** Dotted path of the object holding StartAt and States. */
  path: string;
  node: Json;
  /** The Parallel or Map state it belongs to; undefined at the top level. */
  owner?: string;
  /** What it is, in words: `the definition`, `branch 0 of "Fan"`, `the ItemProcessor of "Each"`. */
  label: string;
}

interface StateEntry {
  name: string;
  state: Json;
  /** Dotted path of the state, e.g. `definition.States.Fan.Branches.0.States.Reindex`. */
  path: string;
  machine: Machine;
}

/** Every machine and state of a definition, depth first (ignores whatever is not an object). */
function walk(definition: Json): { machines: Machine[]; states: StateEntry[] } {
  const machines: Machine[] = [];
  const states: StateEntry[] = [];
  const visit = (machine: Machine) => {
    machines.push(machine);
    const all = machine.node.States;
    if (!isObject(all)) return;
    for (const [name, state] of Object.entries(all)) {
      if (!isObject(state)) continue;
      const path = `${machine.path}.States.${name}`;
      states.push({ name, state, path, machine });
      if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
        state.Branches.forEach((branch, i) => {
          if (isObject(branch)) {
            visit({
              path: `${path}.Branches.${i}`,
              node: branch,
              owner: name,
              label: `branch ${i} of "${name}"`,
            });
          }
        });
      }
      if (state.Type === 'Map') {
        for (const key of ['ItemProcessor', 'Iterator']) {
          const processor = state[key];
          if (isObject(processor)) {
            visit({ path: `${path}.${key}`, node: processor, owner: name, label: `the ${key} of "${name}"` });
          }
        }
      }
    }
  };
  visit({ path: 'definition', node: definition, label: 'the definition' });
  return { machines, states };
}

const about = (name: string | undefined, reason: string) =>
  name === undefined ? reason : `state "${name}": ${reason}`;

export function validateDefinition(raw: unknown, managers: ManagerActions): FieldIssue[] {
  if (!isObject(raw)) return [{ field: 'definition', reason: 'must be an Amazon States Language object' }];
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(raw));
  } catch {
    return [{ field: 'definition', reason: 'must be JSON' }];
  }
  if (bytes > MAX_DEFINITION_BYTES) {
    return [
      {
        field: 'definition',
        reason: `is ${bytes} bytes of JSON; at most ${MAX_DEFINITION_BYTES} (Step Functions' limit)`,
      },
    ];
  }
  const { machines, states } = walk(raw);
  const own = platformIssues(raw, machines, states, managers);
  const fromValidator = languageIssues(raw, machines, states, own);
  return dedupe([...fromValidator, ...own]);
}

/** The platform's rules, which asl-validator does not know, and the checks it makes without paths. */
function platformIssues(
  definition: Json,
  machines: Machine[],
  states: StateEntry[],
  managers: ManagerActions,
) {
  const issues: FieldIssue[] = [];
  if (definition.QueryLanguage === 'JSONata') {
    issues.push({
      field: 'definition.QueryLanguage',
      reason: 'JSONata is not supported: must be JSONPath (or absent)',
    });
  }
  if (states.length > MAX_STATES) {
    issues.push({
      field: 'definition.States',
      reason: `has ${states.length} states in all; at most ${MAX_STATES}`,
    });
  }
  const firstPath = new Map<string, string>();
  for (const { name, state, path } of states) {
    const issue = (field: string, reason: string) =>
      issues.push({ field: `${path}${field}`, reason: about(name, reason) });
    if (name.length < 1 || name.length > MAX_STATE_NAME_LENGTH) {
      issue('', `a state name must be 1–${MAX_STATE_NAME_LENGTH} characters`);
    }
    const first = firstPath.get(name);
    if (first === undefined) firstPath.set(name, path);
    else
      issue('', `the name is already used by ${first}; state names must be unique in the whole definition`);
    if (typeof state.Type !== 'string' || !STATE_TYPES.includes(state.Type)) {
      issue('.Type', `must be one of: ${STATE_TYPES.join(', ')}`);
    }
    if (state.QueryLanguage === 'JSONata')
      issue('.QueryLanguage', 'JSONata is not supported: must be JSONPath (or absent)');
    if (state.Type === 'Task') {
      const reason = resourceProblem(state.Resource, managers);
      if (reason) issue('.Resource', reason);
    }
    if (state.Type === 'Map') {
      for (const key of DISTRIBUTED_MAP_FIELDS) {
        if (key in state)
          issue(`.${key}`, `a distributed Map (${key}, on S3) is not supported; use an inline Map`);
      }
      const config = isObject(state.ItemProcessor) ? state.ItemProcessor.ProcessorConfig : undefined;
      if (isObject(config) && config.Mode === 'DISTRIBUTED') {
        issue('.ItemProcessor.ProcessorConfig.Mode', 'a distributed Map is not supported: must be INLINE');
      }
    }
  }
  issues.push(...transitionIssues(machines, states), ...terminalIssues(machines));
  return issues;
}

function resourceProblem(resource: unknown, managers: ManagerActions): string | undefined {
  if (resource === undefined) return 'Resource is required: a manager action, manager:<id>:<action>';
  if (typeof resource === 'string' && CALLBACK_PATTERN.test(resource)) {
    return `"${resource}" waits for a callback or a job, which is not supported; only manager actions (manager:<id>:<action>) may be called`;
  }
  const match = typeof resource === 'string' ? MANAGER_RESOURCE.exec(resource) : null;
  if (!match) return 'only manager actions (manager:<id>:<action>) may be called';
  const [, id, action] = match as unknown as [string, string, string];
  const actions = Object.hasOwn(managers, id) ? managers[id] : undefined;
  if (!actions) return `no manager "${id}"; must be one of: ${Object.keys(managers).join(', ')}`;
  if (!actions.includes(action)) {
    return `manager "${id}" has no action "${action}"; must be one of: ${actions.join(', ') || '(none)'}`;
  }
  return undefined;
}

/**
 * Every StartAt, Next, Default, Choices[].Next and Catch[].Next must name a state of its own
 * machine (a branch or processor is closed). asl-validator checks names across the whole document
 * and not a Map's ItemProcessor at all, without saying which field: these replace its checks.
 */
function transitionIssues(machines: Machine[], states: StateEntry[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const everywhere = new Set(states.map((s) => s.name));
  const check = (machine: Machine, field: string, target: unknown, name: string | undefined) => {
    if (typeof target !== 'string') return;
    const own = isObject(machine.node.States) && Object.hasOwn(machine.node.States, target);
    if (own) return;
    const reason = everywhere.has(target)
      ? `"${target}" is not a state of ${machine.label}; a transition cannot leave its branch or Map processor`
      : `"${target}" is not a state of ${machine.label}`;
    issues.push({ field, reason: about(name ?? machine.owner, reason) });
  };
  for (const machine of machines) {
    if (isObject(machine.node.States))
      check(machine, `${machine.path}.StartAt`, machine.node.StartAt, undefined);
  }
  for (const { name, state, path, machine } of states) {
    check(machine, `${path}.Next`, state.Next, name);
    if (state.Type === 'Choice') check(machine, `${path}.Default`, state.Default, name);
    for (const list of ['Choices', 'Catch'] as const) {
      const rules = state[list];
      if (!Array.isArray(rules)) continue;
      rules.forEach((rule, i) => {
        if (isObject(rule)) check(machine, `${path}.${list}.${i}.Next`, rule.Next, name);
      });
    }
  }
  return issues;
}

/** Each machine needs a way to end (End: true, a Succeed or a Fail state). */
function terminalIssues(machines: Machine[]): FieldIssue[] {
  return machines.flatMap((machine) => {
    const all = machine.node.States;
    // A machine whose states are not all objects gets that issue instead.
    if (!isObject(all) || Object.keys(all).length === 0 || !Object.values(all).every(isObject)) return [];
    const ends = Object.values(all).some(
      (s) => isObject(s) && (s.End === true || s.Type === 'Succeed' || s.Type === 'Fail'),
    );
    if (ends) return [];
    return [
      {
        field: `${machine.path}.States`,
        reason: about(machine.owner, `${machine.label} has no terminal state (End: true, Succeed or Fail)`),
      },
    ];
  });
}

/** asl-validator's own messages that the platform's checks above say better, with the field. */
const REPLACED =
  /^(MISSING_TERMINAL_STATE|BRANCH_OUTBOUND_TRANSITION_TARGET|MAP_OUTBOUND_TRANSITION_TARGET|DUPLICATE_STATE_NAMES)$/;

/** asl-validator's errors as issues: JSON pointers become dotted fields, messages name the state. */
function languageIssues(
  definition: Json,
  machines: Machine[],
  states: StateEntry[],
  own: FieldIssue[],
): FieldIssue[] {
  let errors: ReturnType<typeof aslValidator>['errors'];
  try {
    // It writes a QueryLanguage into every state it sees: give it a copy.
    errors = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: false }).errors;
  } catch {
    // It dereferences every `States` and state it finds (even under Parameters) without checking.
    return [
      shapeIssue(machines) ?? {
        field: 'definition',
        reason: 'is not a valid Amazon States Language document',
      },
    ];
  }
  const byName = new Map(states.map((s) => [s.name, s]));
  const issues: FieldIssue[] = [];
  /** States asl-validator found invalid but said only noise about. */
  const vague = new Set<StateEntry>();
  for (const error of errors) {
    const code = error['Error code'];
    if (REPLACED.test(code)) continue;
    if (error.schemaError) {
      const issue = schemaIssue(error.schemaError.instancePath, error.Message, states, own);
      if (issue && 'field' in issue) issues.push(issue);
      else if (issue) vague.add(issue);
      continue;
    }
    const message = error.Message;
    const unreachable = /^State (.*) is not reachable$/.exec(message);
    const missing = /^Missing 'StartAt'\|'Next'\|'Default' target: (.*)$/.exec(message);
    const exactly = /^State "(.*)" MUST contain (exactly|at most) one of (.*)$/.exec(message);
    const duplicate =
      /^A duplicate field will exist after renaming to strip the "\.\$" suffix from: (.*)$/.exec(message);
    if (missing) continue; // transitionIssues names each field that names a missing state
    if (unreachable?.[1] !== undefined && byName.has(unreachable[1])) {
      const entry = byName.get(unreachable[1]) as StateEntry;
      issues.push({
        field: entry.path,
        reason: about(entry.name, 'is not reachable: no StartAt, Next or Default names it'),
      });
    } else if (exactly?.[1] !== undefined && byName.has(exactly[1])) {
      const entry = byName.get(exactly[1]) as StateEntry;
      const fields = (exactly[3] ?? '').replaceAll('"', '');
      issues.push({
        field: entry.path,
        reason: about(entry.name, `must have ${exactly[2]} one of ${fields}`),
      });
    } else if (duplicate?.[1] !== undefined) {
      issues.push(duplicateFieldIssue(duplicate[1], states));
    } else {
      issues.push({ field: 'definition', reason: message });
    }
  }
  for (const entry of vague) {
    const issue = genericStateIssue(entry, [...own, ...issues]);
    if (issue) issues.push(issue);
  }
  return issues;
}

/** The first `States` or state that is not an object (what makes asl-validator throw). */
function shapeIssue(machines: Machine[]): FieldIssue | undefined {
  for (const machine of machines) {
    const all = machine.node.States;
    if (all === undefined) continue;
    if (!isObject(all)) {
      return { field: `${machine.path}.States`, reason: about(machine.owner, 'must be an object of states') };
    }
    for (const [name, state] of Object.entries(all)) {
      if (!isObject(state))
        return { field: `${machine.path}.States.${name}`, reason: about(name, 'must be an object') };
    }
  }
  return undefined;
}

const FORMATS: Readonly<Record<string, string>> = {
  asl_path: 'must be a JSONPath, like $.field',
  asl_ref_path: 'must be a reference path, like $.field (no filters, wildcards or functions)',
  asl_result_path: 'must be a reference path, like $.field (no filters, wildcards or functions)',
  asl_payload_template:
    'a field ending in .$ must hold a JSONPath ($.…, $$.…) or an intrinsic function (States.…)',
};

/**
 * One schema error: its pointer as a dotted field, in the innermost state it points into; or that
 * state alone when the error is noise about it.
 */
function schemaIssue(
  pointer: string,
  message: string,
  states: StateEntry[],
  own: FieldIssue[],
): FieldIssue | StateEntry | undefined {
  const segments =
    pointer === ''
      ? []
      : pointer
          .slice(1)
          .split('/')
          .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  let field = ['definition', ...segments].join('.');
  const entry = innermostState(field, states);
  const said = message.replace(/^.*? is invalid\. /, '');
  const tail = field.slice(entry ? entry.path.length : 0);
  // Noise of its oneOf over the state types and of the QueryLanguage it writes into every state.
  if (entry && tail === '.Type' && STATE_TYPES.includes(entry.state.Type as string)) return entry;
  if (entry && tail === '.QueryLanguage' && !('QueryLanguage' in entry.state)) return entry;
  const required = /^must have required property '(.*)'$/.exec(said);
  const format = /^must match format "(.*)"$/.exec(said)?.[1];
  let reason = said;
  if (required?.[1] !== undefined) {
    field = `${field}.${required[1]}`;
    reason = 'is required';
  } else if (format !== undefined) {
    reason = FORMATS[format] ?? said;
  } else if (said === 'must match exactly one schema in oneOf') {
    if (entry && tail === '') return genericStateIssue(entry, own);
    reason = 'is not valid here: check its fields and their types';
  } else if (said === 'must NOT have additional properties') {
    reason = 'has a field the Amazon States Language does not define here';
  }
  // The platform's checks have said it, or something more precise inside it.
  if (field !== 'definition' && own.some((i) => within(i.field, field))) return undefined;
  return { field, reason: about(entry?.name, reason) };
}

/** "Not a valid <Type> state", when what asl-validator said about it was noise or too vague. */
function genericStateIssue(entry: StateEntry, own: FieldIssue[]): FieldIssue | undefined {
  if (own.some((i) => within(i.field, entry.path))) return undefined;
  const type = String(entry.state.Type);
  const needed = REQUIRED_FIELDS[type];
  const hint =
    needed && !(needed in entry.state)
      ? `${needed} is required`
      : 'a field it does not define, or a field of the wrong type';
  return { field: entry.path, reason: about(entry.name, `is not a valid ${type} state: ${hint}`) };
}

/** Whether `field` is `path` or a field inside it. */
const within = (field: string, path: string) => field === path || field.startsWith(`${path}.`);

/** The state whose path is the longest prefix of `field`. */
function innermostState(field: string, states: StateEntry[]): StateEntry | undefined {
  let best: StateEntry | undefined;
  for (const s of states) {
    if (within(field, s.path) && (!best || s.path.length > best.path.length)) best = s;
  }
  return best;
}

/** asl-validator names only the key (`x.$.$` or `x.$`): find the object holding `x` and `x.$`. */
function duplicateFieldIssue(said: string, states: StateEntry[]): FieldIssue {
  const base = said.replace(/(\.\$)+$/, '');
  for (const { name, state, path } of states) {
    for (const key of ['Parameters', 'ResultSelector', 'ItemSelector']) {
      const found = findPair(state[key], base, `${path}.${key}`);
      if (found) {
        return {
          field: found,
          reason: about(name, `"${base}" and "${base}.$" are the same field once ".$" is stripped`),
        };
      }
    }
  }
  return {
    field: 'definition',
    reason: `"${base}" and "${base}.$" are the same field once ".$" is stripped`,
  };
}

function findPair(value: unknown, base: string, path: string): string | undefined {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findPair(item, base, `${path}.${i}`);
      if (found) return found;
    }
  }
  if (!isObject(value)) return undefined;
  if (base in value && `${base}.$` in value) return `${path}.${base}.$`;
  for (const [key, inner] of Object.entries(value)) {
    const found = findPair(inner, base, `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

function dedupe(issues: FieldIssue[]): FieldIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.field}\n${i.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The engine's definition: each manager Task becomes a Lambda task on its manager's contract
 * function (the contract's `task` call, with the execution's ARN); all else is copied as it is.
 * `def` must be valid (validateDefinition).
 */
export function translateDefinition(
  def: unknown,
  taskFunctionArns: Readonly<Record<string, string>>,
): object {
  const copy: unknown = structuredClone(def);
  if (!isObject(copy)) throw new Error('a workflow definition is an object');
  for (const { state } of walk(copy).states) {
    const match = managerResource(state);
    if (!match) continue;
    const { id, action } = match;
    const arn = Object.hasOwn(taskFunctionArns, id) ? taskFunctionArns[id] : undefined;
    if (!arn) throw new Error(`no contract function ARN for manager "${id}"`);
    state.Resource = arn;
    state.Parameters = {
      call: 'task',
      action,
      ...('Parameters' in state ? { input: state.Parameters } : { 'input.$': '$' }),
      'workflow.$': '$$.Execution.Id',
    };
  }
  return copy;
}

/** A manager Task of a definition: where it is and what it calls. */
export interface ManagerTask {
  state: string;
  /** Dotted path of its Resource, e.g. `definition.States.Reindex.Resource`. */
  field: string;
  manager: string;
  action: string;
}

/** Every Task of a definition that calls a manager action (any depth), in definition order. */
export function tasksOf(def: unknown): ManagerTask[] {
  if (!isObject(def)) return [];
  return walk(def).states.flatMap(({ name, state, path }) => {
    const match = managerResource(state);
    return match ? [{ state: name, field: `${path}.Resource`, manager: match.id, action: match.action }] : [];
  });
}

/** The distinct managers a definition's Tasks call, sorted: its execution role may invoke just these. */
export function taskManagers(def: unknown): string[] {
  return [...new Set(tasksOf(def).map((t) => t.manager))].sort();
}

function managerResource(state: Json): { id: string; action: string } | undefined {
  const match =
    state.Type === 'Task' && typeof state.Resource === 'string'
      ? MANAGER_RESOURCE.exec(state.Resource)
      : null;
  return match?.[1] && match[2] ? { id: match[1], action: match[2] } : undefined;
}
