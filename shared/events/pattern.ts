/**
 * EventBridge event patterns, evaluated in process: the local bus's rules and the notification
 * subscriptions' patterns (in AWS as locally). The semantics follow
 * EventBridge (and its matching library, aws/event-ruler):
 * - a pattern is a JSON object; its leaves are arrays of matchers, nested objects recurse;
 * - every field of the pattern must match (AND); a leaf matches if any of the event's values at
 *   that path matches any matcher (OR); event arrays are "crushed": each element is a value;
 * - only JSON leaves (strings, numbers, booleans, null) are values: an object is not a value, so
 *   `{exists: false}` matches a field that is missing, an empty array or an object;
 * - a nested pattern over an array of objects must match within ONE element (array consistency);
 * - `anything-but` and every other matcher need a value: a missing field matches only
 *   `{exists: false}`.
 * Supported matchers: exact values, prefix, suffix (both optionally `equals-ignore-case`),
 * equals-ignore-case, wildcard, anything-but (values, prefix, suffix, equals-ignore-case,
 * wildcard), numeric, exists, and `$or`. `cidr` is rejected as unsupported locally.
 */

type Leaf = string | number | boolean | null;
type ValueTest = (value: Leaf) => boolean;
/** A compiled pattern object, evaluated against an event node (`undefined` = absent). */
type NodeTest = (node: unknown) => boolean;

/** EventBridge's numeric matching range. */
const NUMERIC_LIMIT = 5e9;
const OPERATORS = new Set([
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'anything-but',
  'numeric',
  'exists',
  'cidr',
]);

const compiled = new WeakMap<object, NodeTest>();

/** Throws an Error naming the offending path when `pattern` is not a valid event pattern. */
export function validatePattern(pattern: unknown): void {
  compilePattern(pattern);
}

/** Whether `event` matches `pattern`; throws (like validatePattern) only if the pattern is invalid. */
export function matchesPattern(pattern: unknown, event: Record<string, unknown>): boolean {
  return compilePattern(pattern)(event);
}

/** Validates `pattern` once and returns a fast predicate over events (cached per pattern object). */
export function compilePattern(pattern: unknown): (event: Record<string, unknown>) => boolean {
  if (isPlainObject(pattern)) {
    const cached = compiled.get(pattern);
    if (cached) return cached;
    const test = compileObject(pattern, '');
    compiled.set(pattern, test);
    return test;
  }
  return compileObject(pattern, '');
}

class PatternError extends Error {
  constructor(path: string, reason: string) {
    super(`Invalid event pattern at ${path || '(root)'}: ${reason}`);
    this.name = 'PatternError';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Case folding for the ignore-case matchers: upper case, which (unlike lower case) has no
 * context-dependent mappings (Greek final sigma), so folding a prefix agrees with folding the whole.
 */
function fold(s: string): string {
  return s.toUpperCase();
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** `detail.state`; a field name that is empty or not a plain word is quoted: `detail["a b"]`. */
function join(path: string, key: string): string {
  if (!/^[\w$-]+$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path ? `${path}.${key}` : key;
}

/** event-ruler reads `$or` as OR only for an array of 2+ objects none of whose keys is an operator. */
function isOrClause(value: unknown): value is Record<string, unknown>[] {
  return (
    Array.isArray(value) &&
    value.length >= 2 &&
    value.every((item) => isPlainObject(item) && !Object.keys(item).some((k) => OPERATORS.has(k)))
  );
}

function compileObject(pattern: unknown, path: string): NodeTest {
  if (!isPlainObject(pattern)) {
    throw new PatternError(path, `expected a pattern object, got ${describe(pattern)}`);
  }
  const keys = Object.keys(pattern);
  if (keys.length === 0) throw new PatternError(path, 'a pattern object must have at least one field');
  const fieldTests: NodeTest[] = keys.map((key) => {
    const value = pattern[key];
    const fieldPath = join(path, key);
    if (key === '$or' && isOrClause(value)) {
      const branches = value.map((branch, i) => compileObject(branch, `${fieldPath}[${i}]`));
      return (node) => branches.some((branch) => branch(node));
    }
    if (Array.isArray(value)) {
      const leaf = compileLeaf(value, fieldPath);
      return (node) => leaf(leafValues(field(node, key)));
    }
    if (isPlainObject(value)) {
      const nested = compileObject(value, fieldPath);
      return (node) => {
        const candidates = objectsIn(field(node, key));
        // With no object there, every field below is absent (so only `exists: false` can match).
        return candidates.length === 0
          ? nested(undefined)
          : candidates.some((candidate) => nested(candidate));
      };
    }
    throw new PatternError(
      fieldPath,
      `expected an array of matchers or a nested pattern object, got ${describe(value)}`,
    );
  });
  return (node) => fieldTests.every((test) => test(node));
}

function field(node: unknown, key: string): unknown {
  return isPlainObject(node) && Object.hasOwn(node, key) ? node[key] : undefined;
}

function isLeaf(value: unknown): value is Leaf {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

/** The JSON leaf values at a field, arrays crushed (nested arrays too); objects are not values. */
function leafValues(value: unknown, out: Leaf[] = []): Leaf[] {
  if (Array.isArray(value)) for (const item of value) leafValues(item, out);
  else if (isLeaf(value)) out.push(value);
  return out;
}

function objectsIn(value: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(value)) for (const item of value) objectsIn(item, out);
  else if (isPlainObject(value)) out.push(value);
  return out;
}

function compileLeaf(matchers: unknown[], path: string): (values: Leaf[]) => boolean {
  if (matchers.length === 0) throw new PatternError(path, 'a matcher array must not be empty');
  let existsTrue = false;
  let existsFalse = false;
  const tests: ValueTest[] = [];
  matchers.forEach((matcher, i) => {
    const at = `${path}[${i}]`;
    if (isLeaf(matcher)) {
      tests.push((v) => v === matcher);
      return;
    }
    if (!isPlainObject(matcher)) {
      throw new PatternError(at, `expected a value or a matcher object, got ${describe(matcher)}`);
    }
    const entries = Object.entries(matcher);
    if (entries.length !== 1) {
      throw new PatternError(at, `a matcher object must have exactly one operator, got ${entries.length}`);
    }
    const [op, arg] = entries[0]!;
    if (op === 'exists') {
      if (typeof arg !== 'boolean')
        throw new PatternError(at, `exists takes true or false, got ${describe(arg)}`);
      if (arg) existsTrue = true;
      else existsFalse = true;
      return;
    }
    tests.push(compileOperator(op, arg, at));
  });
  return (values) => {
    if (values.length === 0) return existsFalse;
    return existsTrue || values.some((v) => tests.some((test) => test(v)));
  };
}

function requireString(arg: unknown, path: string, op: string): string {
  if (typeof arg !== 'string') throw new PatternError(path, `${op} takes a string, got ${describe(arg)}`);
  return arg;
}

function compileOperator(op: string, arg: unknown, path: string): ValueTest {
  switch (op) {
    case 'prefix':
    case 'suffix': {
      const affix = compileAffix(op, arg, path);
      return (v) => typeof v === 'string' && affix(v);
    }
    case 'equals-ignore-case': {
      const expected = fold(requireString(arg, path, op));
      return (v) => typeof v === 'string' && fold(v) === expected;
    }
    case 'wildcard': {
      const glob = compileWildcard(requireString(arg, path, op), path);
      return (v) => typeof v === 'string' && glob(v);
    }
    case 'numeric':
      return compileNumeric(arg, path);
    case 'anything-but': {
      const excluded = compileAnythingBut(arg, path);
      return (v) => !excluded(v);
    }
    case 'cidr':
      throw new PatternError(path, 'cidr matching is not supported by the local event bus');
    default:
      throw new PatternError(path, `unknown operator "${op}"`);
  }
}

/** `{prefix: "a"}`, `{prefix: {"equals-ignore-case": "a"}}`, same for suffix; tests strings only. */
function compileAffix(op: 'prefix' | 'suffix', arg: unknown, path: string): (v: string) => boolean {
  const test =
    op === 'prefix' ? (v: string, a: string) => v.startsWith(a) : (v: string, a: string) => v.endsWith(a);
  if (typeof arg === 'string') return (v) => test(v, arg);
  if (isPlainObject(arg)) {
    const keys = Object.keys(arg);
    if (keys.length === 1 && keys[0] === 'equals-ignore-case') {
      const affix = fold(requireString(arg['equals-ignore-case'], `${path}.${op}`, 'equals-ignore-case'));
      return (v) => test(fold(v), affix);
    }
  }
  throw new PatternError(
    path,
    `${op} takes a string or {"equals-ignore-case": string}, got ${describe(arg)}`,
  );
}

/** Returns the test of the EXCLUDED set; anything-but matches a present value outside it. */
function compileAnythingBut(arg: unknown, path: string): ValueTest {
  if (typeof arg === 'string' || (typeof arg === 'number' && Number.isFinite(arg))) return (v) => v === arg;
  if (Array.isArray(arg)) {
    if (arg.length === 0) throw new PatternError(path, 'anything-but list must not be empty');
    const allStrings = arg.every((x) => typeof x === 'string');
    const allNumbers = arg.every((x) => typeof x === 'number' && Number.isFinite(x));
    if (!allStrings && !allNumbers) {
      throw new PatternError(path, 'anything-but list must contain only strings or only numbers');
    }
    const set = new Set<Leaf>(arg as Leaf[]);
    return (v) => set.has(v);
  }
  if (isPlainObject(arg)) {
    const entries = Object.entries(arg);
    if (entries.length !== 1) throw new PatternError(path, 'anything-but takes exactly one operator');
    const [op, inner] = entries[0]!;
    const at = `${path}.anything-but`;
    switch (op) {
      case 'prefix':
      case 'suffix': {
        const affix = requireString(inner, at, op);
        return (v) => typeof v === 'string' && (op === 'prefix' ? v.startsWith(affix) : v.endsWith(affix));
      }
      case 'equals-ignore-case':
      case 'wildcard': {
        const list = Array.isArray(inner) ? inner : [inner];
        if (list.length === 0) throw new PatternError(at, `${op} list must not be empty`);
        const tests = list.map((item, i) => {
          const s = requireString(item, Array.isArray(inner) ? `${at}.${op}[${i}]` : at, op);
          if (op === 'wildcard') return compileWildcard(s, at);
          const folded = fold(s);
          return (x: string) => fold(x) === folded;
        });
        return (v) => typeof v === 'string' && tests.some((test) => test(v));
      }
      default:
        throw new PatternError(at, `unsupported anything-but operator "${op}"`);
    }
  }
  throw new PatternError(
    path,
    `anything-but takes a string, a number, a list or an operator, got ${describe(arg)}`,
  );
}

const LOWER = new Set(['>', '>=']);
const UPPER = new Set(['<', '<=']);

/** `{numeric: [">", 0, "<=", 5]}`: "=" alone, or one or two bounds (one lower, one upper). */
function compileNumeric(arg: unknown, path: string): ValueTest {
  const at = `${path}.numeric`;
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) {
    throw new PatternError(at, 'numeric takes [op, number] or [op, number, op, number]');
  }
  const conditions: Array<{ op: string; bound: number }> = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i];
    const bound = arg[i + 1];
    if (typeof op !== 'string' || !(op === '=' || LOWER.has(op) || UPPER.has(op))) {
      throw new PatternError(at, `unknown numeric operator ${describe(op)} (use =, <, <=, >, >=)`);
    }
    if (typeof bound !== 'number' || !Number.isFinite(bound)) {
      throw new PatternError(at, `operator "${op}" needs a number, got ${describe(bound)}`);
    }
    if (Math.abs(bound) > NUMERIC_LIMIT) {
      throw new PatternError(at, `${bound} is outside the numeric range -5e9..5e9`);
    }
    conditions.push({ op, bound });
  }
  if (conditions.length === 2) {
    const [a, b] = conditions as [{ op: string; bound: number }, { op: string; bound: number }];
    if (a.op === '=' || b.op === '=')
      throw new PatternError(at, '"=" cannot be combined with another operator');
    const lower = LOWER.has(a.op) ? a : b;
    const upper = UPPER.has(a.op) ? a : b;
    if (!LOWER.has(lower.op) || !UPPER.has(upper.op)) {
      throw new PatternError(at, 'a range needs one lower bound (>, >=) and one upper bound (<, <=)');
    }
    const empty =
      lower.bound > upper.bound || (lower.bound === upper.bound && (lower.op === '>' || upper.op === '<'));
    if (empty)
      throw new PatternError(
        at,
        `the range ${lower.op} ${lower.bound} and ${upper.op} ${upper.bound} is empty`,
      );
  }
  return (v) => typeof v === 'number' && conditions.every(({ op, bound }) => compare(op, v, bound));
}

function compare(op: string, v: number, bound: number): boolean {
  switch (op) {
    case '=':
      return v === bound;
    case '>':
      return v > bound;
    case '>=':
      return v >= bound;
    case '<':
      return v < bound;
    default:
      return v <= bound;
  }
}

/**
 * `*` matches any run of characters; `\*` is a literal star, `\\` a literal backslash; consecutive
 * stars and any other escape are invalid (as in EventBridge). Matching splits the pattern into
 * literal segments and finds them in order, leftmost first, which is exact for star-only globs and
 * linear in practice (no regular expression, so no catastrophic backtracking).
 */
function compileWildcard(pattern: string, path: string): (v: string) => boolean {
  const segments: string[] = [''];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      const next = pattern[i + 1];
      if (next !== '*' && next !== '\\') {
        throw new PatternError(path, 'in a wildcard, a backslash may only escape * or \\');
      }
      segments[segments.length - 1] += next;
      i++;
    } else if (ch === '*') {
      if (pattern[i + 1] === '*') throw new PatternError(path, 'a wildcard must not contain consecutive *');
      segments.push('');
    } else {
      segments[segments.length - 1] += ch;
    }
  }
  if (segments.length === 1) {
    const exact = segments[0]!;
    return (v) => v === exact;
  }
  const first = segments[0]!;
  const last = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1);
  return (v) => {
    if (v.length < first.length + last.length || !v.startsWith(first) || !v.endsWith(last)) return false;
    let pos = first.length;
    const end = v.length - last.length;
    for (const segment of middle) {
      const found = v.indexOf(segment, pos);
      if (found === -1 || found + segment.length > end) return false;
      pos = found + segment.length;
    }
    return true;
  };
}
