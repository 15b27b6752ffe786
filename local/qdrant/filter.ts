/**
 * Qdrant 1.19 payload filter evaluator for the embedded Qdrant-compatible server.
 *
 * `compileFilter` validates an untrusted `Filter` (JSON) once and compiles it into closures, so the
 * engine pays only for the comparisons when it evaluates the predicate on every point. Semantics
 * follow Qdrant's own condition checker (segment `query_checker.rs` / `condition_checker.rs`) and
 * the Python client's local mode; where they differ from the documentation, the choice is noted
 * at the spot. The predicate never throws, whatever the payload holds.
 *
 * Validation is hand-written rather than zod: Qdrant's conditions are an untagged union whose
 * variant is recognised by which keys are present, and a hand-written walk can name the exact
 * offending path (`filter.must[2].match.any[1]`) in the error, as the 400 body must.
 */

import { DEFAULT_TEXT_OPTIONS, documentTokens, queryTokens, type TextOptions } from './text.ts';

export type PointId = number | string;

export interface FilterablePoint {
  id: PointId;
  payload: Record<string, unknown>;
}

export type PointPredicate = (point: FilterablePoint) => boolean;

/** An invalid filter. The message is worded like the body of Qdrant's 400 answer. */
export class FilterError extends Error {
  /** Where in the request the problem is, e.g. `filter.must[0].match`. */
  readonly path: string | undefined;
  constructor(message: string, path?: string) {
    super(message);
    this.name = 'FilterError';
    this.path = path;
  }
}

/** Filters and nested conditions deeper than this are refused (serde_json stops at 128 JSON levels). */
export const MAX_FILTER_DEPTH = 64;

/** The text index options of a payload key (its text as written in the filter), if it has one. */
export type TextIndexLookup = (key: string) => TextOptions | undefined;

/** Where a condition is compiled: inside a nested filter or not, and the text indexes it sees. */
interface Scope {
  nested: boolean;
  textIndex: TextIndexLookup;
}

/**
 * Compiles a Qdrant `Filter` into a predicate over points. `undefined`/`null` accept everything.
 * `where` names the filter's place in the request for error messages (`filter`, `prefetch.filter`…).
 * `textIndex` tells which keys have a text index (full-text conditions tokenize as it does).
 * Throws FilterError on any structural or semantic problem; the returned predicate never throws.
 */
export function compileFilter(
  filter: unknown,
  where = 'filter',
  textIndex: TextIndexLookup = () => undefined,
): PointPredicate {
  if (filter === undefined || filter === null) return acceptAll;
  const scope: Scope = { nested: false, textIndex };
  const check = compileFilterObject(expectObject(filter, where, 'a filter object'), where, 0, scope);
  if (check === TRUE) return acceptAll;
  if (check === FALSE) return rejectAll;
  return (point) => check(point.payload, point.id);
}

const acceptAll: PointPredicate = () => true;
const rejectAll: PointPredicate = () => false;

/* ------------------------------------------------------------------------------------------------
 * Compiled checks and their combinators. TRUE and FALSE are identities so that combinators can
 * fold constants away (an empty sub-filter in `must` costs nothing at evaluation time).
 * --------------------------------------------------------------------------------------------- */

type Check = (payload: unknown, id: PointId) => boolean;
type ValueTest = (value: unknown) => boolean;

const TRUE: Check = () => true;
const FALSE: Check = () => false;

function allOf(checks: Check[]): Check {
  const parts = checks.filter((c) => c !== TRUE);
  if (parts.includes(FALSE)) return FALSE;
  if (parts.length === 0) return TRUE;
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 2) {
    const [a, b] = parts as [Check, Check];
    return (p, id) => a(p, id) && b(p, id);
  }
  return (p, id) => {
    for (let i = 0; i < parts.length; i++) if (!parts[i]!(p, id)) return false;
    return true;
  };
}

function anyOf(checks: Check[]): Check {
  const parts = checks.filter((c) => c !== FALSE);
  if (parts.includes(TRUE)) return TRUE;
  if (parts.length === 0) return FALSE;
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 2) {
    const [a, b] = parts as [Check, Check];
    return (p, id) => a(p, id) || b(p, id);
  }
  return (p, id) => {
    for (let i = 0; i < parts.length; i++) if (parts[i]!(p, id)) return true;
    return false;
  };
}

function not(check: Check): Check {
  if (check === TRUE) return FALSE;
  if (check === FALSE) return TRUE;
  return (p, id) => !check(p, id);
}

function atLeast(checks: Check[], minCount: number): Check {
  if (minCount > checks.length) return FALSE;
  if (minCount === 1) return anyOf(checks);
  if (minCount === checks.length) return allOf(checks);
  return (p, id) => {
    let matched = 0;
    for (let i = 0; i < checks.length; i++) {
      if (checks[i]!(p, id)) {
        if (++matched >= minCount) return true;
      } else if (matched + (checks.length - i - 1) < minCount) {
        return false;
      }
    }
    return false;
  };
}

/* ------------------------------------------------------------------------------------------------
 * Errors
 * --------------------------------------------------------------------------------------------- */

function formatError(path: string, reason: string): never {
  throw new FilterError(`Format error in JSON body: ${path}: ${reason}`, path);
}

function validationError(path: string, reason: string): never {
  throw new FilterError(`Validation error in JSON body: [${path}: ${reason}]`, path);
}

function unsupported(path: string, reason: string): never {
  throw new FilterError(`Wrong input: ${path}: ${reason}`, path);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
    case 'number':
      return `a number (${value})`;
    case 'boolean':
      return `a boolean (${value})`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectObject(value: unknown, path: string, what: string): JsonObject {
  if (!isObject(value)) formatError(path, `expected ${what}, got ${describe(value)}`);
  return value;
}

/** Own property or undefined: a JSON `__proto__` key is data, never the prototype. */
function field(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function rejectUnknownFields(obj: JsonObject, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      formatError(
        path,
        `unknown field \`${key}\`, expected one of ${allowed.map((k) => `\`${k}\``).join(', ')}`,
      );
    }
  }
}

/* ------------------------------------------------------------------------------------------------
 * Filter and conditions
 * --------------------------------------------------------------------------------------------- */

const FILTER_FIELDS = ['should', 'min_should', 'must', 'must_not'] as const;

function compileFilterObject(filter: JsonObject, path: string, depth: number, scope: Scope): Check {
  if (depth > MAX_FILTER_DEPTH) {
    formatError(path, `filter is nested too deeply (more than ${MAX_FILTER_DEPTH} levels)`);
  }
  rejectUnknownFields(filter, path, FILTER_FIELDS);
  const parts: Check[] = [];
  const must = compileClause(field(filter, 'must'), `${path}.must`, depth, scope);
  if (must) parts.push(allOf(must));
  const mustNot = compileClause(field(filter, 'must_not'), `${path}.must_not`, depth, scope);
  if (mustNot) parts.push(not(anyOf(mustNot)));
  const should = compileClause(field(filter, 'should'), `${path}.should`, depth, scope);
  // An empty `should` states no alternative and constrains nothing: Qdrant (and its Python local
  // mode) match every point, so only a non-empty list is required to have one match.
  if (should && should.length > 0) parts.push(anyOf(should));
  const minShould = field(filter, 'min_should');
  if (minShould !== undefined && minShould !== null) {
    parts.push(compileMinShould(minShould, `${path}.min_should`, depth, scope));
  }
  return allOf(parts);
}

function compileClause(value: unknown, path: string, depth: number, scope: Scope): Check[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    return value.map((condition, i) => compileCondition(condition, `${path}[${i}]`, depth, scope));
  }
  if (isObject(value)) return [compileCondition(value, path, depth, scope)];
  return formatError(path, `expected a condition or an array of conditions, got ${describe(value)}`);
}

function compileMinShould(value: unknown, path: string, depth: number, scope: Scope): Check {
  const obj = expectObject(value, path, 'an object {conditions, min_count}');
  rejectUnknownFields(obj, path, ['conditions', 'min_count']);
  const conditions = field(obj, 'conditions');
  if (!Array.isArray(conditions)) {
    formatError(`${path}.conditions`, `expected an array of conditions, got ${describe(conditions)}`);
  }
  const minCount = field(obj, 'min_count');
  if (typeof minCount !== 'number' || !Number.isInteger(minCount) || minCount < 0) {
    formatError(`${path}.min_count`, `expected an unsigned integer, got ${describe(minCount)}`);
  }
  if (minCount < 1) validationError(`${path}.min_count`, `value ${minCount} invalid, must be 1 or larger`);
  const checks = conditions.map((c, i) => compileCondition(c, `${path}.conditions[${i}]`, depth, scope));
  return atLeast(checks, minCount);
}

const CONDITION_KINDS =
  'a field condition ({"key", "match" | "range" | "values_count" | "is_empty" | "is_null" | "geo_*"}), ' +
  '{"is_empty": {"key"}}, {"is_null": {"key"}}, {"has_id": [...]}, {"nested": {"key", "filter"}} ' +
  'or a filter ({"must" | "should" | "must_not" | "min_should"})';

function compileCondition(value: unknown, path: string, depth: number, scope: Scope): Check {
  const cond = expectObject(value, path, `a condition object: ${CONDITION_KINDS}`);
  // Qdrant's Condition is an untagged union; the variant is told by its distinguishing key.
  if (Object.hasOwn(cond, 'key')) return compileFieldCondition(cond, path, scope);
  if (Object.hasOwn(cond, 'is_empty')) return compileIsEmptyCondition(cond, path);
  if (Object.hasOwn(cond, 'is_null')) return compileIsNullCondition(cond, path);
  if (Object.hasOwn(cond, 'has_id')) return compileHasId(cond, path, scope.nested);
  if (Object.hasOwn(cond, 'nested')) return compileNested(cond, path, depth, scope);
  if (Object.hasOwn(cond, 'has_vector')) {
    unsupported(
      `${path}.has_vector`,
      'has_vector conditions are not supported by the embedded Qdrant server (point vectors are not ' +
        'visible to filters); use a real Qdrant through QDRANT_URL',
    );
  }
  if (Object.hasOwn(cond, 'slice')) {
    unsupported(`${path}.slice`, 'slice conditions are not supported by the embedded Qdrant server');
  }
  for (const key of Object.keys(cond)) {
    if (!(FILTER_FIELDS as readonly string[]).includes(key)) {
      formatError(path, `unknown condition field \`${key}\`; a condition is ${CONDITION_KINDS}`);
    }
  }
  return compileFilterObject(cond, path, depth + 1, scope);
}

function payloadFieldKey(value: unknown, path: string): Path {
  const obj = expectObject(value, path, 'an object {"key": "<payload key>"}');
  rejectUnknownFields(obj, path, ['key']);
  return parseKey(field(obj, 'key'), `${path}.key`);
}

function compileIsEmptyCondition(cond: JsonObject, path: string): Check {
  rejectUnknownFields(cond, path, ['is_empty']);
  return isEmptyCheck(payloadFieldKey(field(cond, 'is_empty'), `${path}.is_empty`));
}

function compileIsNullCondition(cond: JsonObject, path: string): Check {
  rejectUnknownFields(cond, path, ['is_null']);
  return isNullCheck(payloadFieldKey(field(cond, 'is_null'), `${path}.is_null`));
}

/** A field is empty when it resolves to no value, or every value it resolves to is null or `[]`. */
function isEmptyCheck(path: Path): Check {
  return everyValue(path, (v) => v === null || (Array.isArray(v) && v.length === 0));
}

/** A field is null when some value it resolves to is null or an array holding a null (qdrant#10101). */
function isNullCheck(path: Path): Check {
  return someValue(path, false, (v) => v === null || (Array.isArray(v) && v.includes(null)));
}

function compileHasId(cond: JsonObject, path: string, inNested: boolean): Check {
  rejectUnknownFields(cond, path, ['has_id']);
  const list = field(cond, 'has_id');
  if (!Array.isArray(list)) {
    formatError(`${path}.has_id`, `expected an array of point ids, got ${describe(list)}`);
  }
  const ids = new Set<PointId>();
  list.forEach((raw, i) => {
    const id = toPointId(raw);
    if (id === undefined) {
      formatError(`${path}.has_id[${i}]`, `expected an unsigned integer or a UUID, got ${describe(raw)}`);
    }
    ids.add(id);
  });
  // Documented limitation: inside a nested filter there is no point id, so has_id never matches.
  if (inNested || ids.size === 0) return FALSE;
  // Point ids reach the predicate canonical (lowercase hyphenated); tolerate an uppercase one.
  return (_payload, id) => ids.has(id) || (typeof id === 'string' && ids.has(id.toLowerCase()));
}

function compileNested(cond: JsonObject, path: string, depth: number, scope: Scope): Check {
  rejectUnknownFields(cond, path, ['nested']);
  const nested = expectObject(field(cond, 'nested'), `${path}.nested`, 'an object {"key", "filter"}');
  rejectUnknownFields(nested, `${path}.nested`, ['key', 'filter']);
  const key = parseKey(field(nested, 'key'), `${path}.nested.key`);
  // `data` and `data[]` both name the array whose elements the filter is applied to.
  const arrayKey = key.steps.at(-1) === WILDCARD ? key : withSteps(key.text, [...key.steps, WILDCARD]);
  const filterPath = `${path}.nested.filter`;
  // Keys inside are relative to the elements: `title` there is `data[].title` for the indexes.
  const elements = key.steps.at(-1) === WILDCARD ? key.text : `${key.text}[]`;
  const inner = compileFilterObject(
    expectObject(field(nested, 'filter'), filterPath, 'a filter object'),
    filterPath,
    depth + 1,
    { nested: true, textIndex: (relative) => scope.textIndex(`${elements}.${relative}`) },
  );
  const buffer: unknown[] = [];
  return (payload, id) => {
    buffer.length = 0;
    collectValues(payload, arrayKey.steps, 0, buffer);
    let matched = false;
    for (let i = 0; i < buffer.length && !matched; i++) {
      const element = buffer[i];
      // Only objects are array elements a nested filter can look into, as in Qdrant.
      if (isObject(element)) matched = inner(element, id);
    }
    buffer.length = 0;
    return matched;
  };
}

/* ------------------------------------------------------------------------------------------------
 * Field conditions
 * --------------------------------------------------------------------------------------------- */

const FIELD_CONDITION_FIELDS = [
  'key',
  'match',
  'range',
  'geo_bounding_box',
  'geo_radius',
  'geo_polygon',
  'values_count',
  'is_empty',
  'is_null',
] as const;

function compileFieldCondition(cond: JsonObject, path: string, scope: Scope): Check {
  rejectUnknownFields(cond, path, FIELD_CONDITION_FIELDS);
  const key = parseKey(field(cond, 'key'), `${path}.key`);
  const present = (name: string): unknown => {
    const v = field(cond, name);
    return v === null ? undefined : v;
  };
  const valuesCount = present('values_count');
  const isEmpty = present('is_empty');
  const isNull = present('is_null');
  const match = present('match');
  const range = present('range');
  const geoBox = present('geo_bounding_box');
  const geoRadius = present('geo_radius');
  const geoPolygon = present('geo_polygon');

  // Compile every present part so that each one is validated, then combine as Qdrant does:
  // values_count, is_empty and is_null each decide alone (in that order of precedence); the value
  // conditions are OR-ed per stored value, arrays being flattened one level.
  const countTest =
    valuesCount === undefined ? undefined : compileValuesCount(valuesCount, `${path}.values_count`);
  if (isEmpty !== undefined && typeof isEmpty !== 'boolean') {
    formatError(`${path}.is_empty`, `expected a boolean, got ${describe(isEmpty)}`);
  }
  if (isNull !== undefined && typeof isNull !== 'boolean') {
    formatError(`${path}.is_null`, `expected a boolean, got ${describe(isNull)}`);
  }
  const valueTests: ValueTest[] = [];
  if (match !== undefined) {
    valueTests.push(compileMatch(match, `${path}.match`, scope.textIndex(key.text) ?? DEFAULT_TEXT_OPTIONS));
  }
  if (range !== undefined) valueTests.push(compileRange(range, `${path}.range`));
  if (geoBox !== undefined) valueTests.push(compileGeoBoundingBox(geoBox, `${path}.geo_bounding_box`));
  if (geoRadius !== undefined) valueTests.push(compileGeoRadius(geoRadius, `${path}.geo_radius`));
  if (geoPolygon !== undefined) valueTests.push(compileGeoPolygon(geoPolygon, `${path}.geo_polygon`));

  if (countTest) {
    // A missing or null field has zero values: documented, done by Qdrant's Python local mode, and
    // the server's opposite answer for a missing key is an acknowledged bug (qdrant#9065).
    return someValue(key, countTest(0), (v) => countTest(v === null ? 0 : Array.isArray(v) ? v.length : 1));
  }
  if (typeof isEmpty === 'boolean') return isEmpty ? isEmptyCheck(key) : not(isEmptyCheck(key));
  if (typeof isNull === 'boolean') return isNull ? isNullCheck(key) : not(isNullCheck(key));
  if (valueTests.length === 0) validationError(path, 'At least one field condition must be specified');
  const test = valueTests.length === 1 ? valueTests[0]! : (v: unknown) => valueTests.some((t) => t(v));
  return someValue(key, false, (v) => {
    if (!Array.isArray(v)) return test(v);
    for (let i = 0; i < v.length; i++) if (test(v[i])) return true;
    return false;
  });
}

/* ---- match ---------------------------------------------------------------------------------- */

const MATCH_FIELDS = ['value', 'text', 'text_any', 'phrase', 'prefix', 'any', 'except'] as const;
const I64_LIMIT = 2 ** 63;

function isInt64(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= -I64_LIMIT && value < I64_LIMIT;
}

function compileMatch(value: unknown, path: string, text: TextOptions): ValueTest {
  const obj = expectObject(value, path, `an object with one of ${MATCH_FIELDS.join(', ')}`);
  rejectUnknownFields(obj, path, MATCH_FIELDS);
  const keys = Object.keys(obj);
  if (keys.length !== 1) {
    formatError(path, `expected exactly one of ${MATCH_FIELDS.join(', ')}, got ${keys.length}`);
  }
  const kind = keys[0]!;
  const operand = obj[kind];
  const at = `${path}.${kind}`;
  switch (kind) {
    case 'value':
      return compileMatchValue(operand, at);
    case 'any':
    case 'except':
      return compileMatchSet(kind, operand, at);
    case 'prefix': {
      const prefix = expectString(operand, at);
      return (v) => typeof v === 'string' && v.startsWith(prefix);
    }
    default:
      return compileMatchText(kind, expectString(operand, at), text);
  }
}

function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string') formatError(path, `expected a string, got ${describe(value)}`);
  return value;
}

/** Exact match without coercion: "1" ≠ 1, true ≠ 1, and a float never equals an integer operand. */
function compileMatchValue(operand: unknown, path: string): ValueTest {
  if (typeof operand === 'string' || typeof operand === 'boolean' || isInt64(operand)) {
    return (v) => v === operand;
  }
  return formatError(path, `expected a string, an integer or a boolean, got ${describe(operand)}`);
}

function compileMatchSet(kind: 'any' | 'except', operand: unknown, path: string): ValueTest {
  if (!Array.isArray(operand)) {
    formatError(path, `expected an array of strings or an array of integers, got ${describe(operand)}`);
  }
  // Qdrant's AnyVariants: a list of strings or a list of i64 integers, never mixed.
  const strings = typeof operand[0] !== 'number';
  const bad = operand.findIndex((x) => (strings ? typeof x !== 'string' : !isInt64(x)));
  if (bad >= 0) {
    formatError(`${path}[${bad}]`, `expected all strings or all integers, got ${describe(operand[bad])}`);
  }
  if (kind === 'any') {
    const set = new Set<unknown>(operand);
    return (v) => set.has(v);
  }
  // MatchExcept: a stored value of another type is "not in the list"; null is absence, not a value.
  // An empty list is a list of strings for Qdrant, so numbers pass it like any other non-string.
  if (strings) {
    const set = new Set<string>(operand as string[]);
    return (v) => (typeof v === 'string' ? !set.has(v) : v !== null && v !== undefined);
  }
  const set = new Set<number>(operand as number[]);
  return (v) => (typeof v === 'number' && Number.isInteger(v) ? !set.has(v) : v !== null && v !== undefined);
}

/**
 * Full-text conditions, tokenized as the field's text index does (text.ts): every query token
 * (`text`), one of them (`text_any`), or all of them consecutively and in order (`phrase`,
 * compared on whole words). A query without tokens matches nothing.
 */
function compileMatchText(kind: string, text: string, options: TextOptions): ValueTest {
  const query = queryTokens(text, options);
  if (query.length === 0) return () => false;
  if (kind === 'text' || kind === 'text_any') {
    const every = kind === 'text';
    return (v) => {
      if (typeof v !== 'string') return false;
      const doc = new Set(documentTokens(v, options));
      return every ? query.every((t) => doc.has(t)) : query.some((t) => doc.has(t));
    };
  }
  return (v) => {
    if (typeof v !== 'string') return false;
    const doc = queryTokens(v, options);
    for (let start = 0; start + query.length <= doc.length; start++) {
      let i = 0;
      while (i < query.length && doc[start + i] === query[i]) i++;
      if (i === query.length) return true;
    }
    return false;
  };
}

/* ---- range and values_count ------------------------------------------------------------------ */

const BOUNDS = ['lt', 'gt', 'gte', 'lte'] as const;
type Bound = (typeof BOUNDS)[number];

function readBounds(value: unknown, path: string): Partial<Record<Bound, unknown>> {
  const obj = expectObject(value, path, 'an object with lt, gt, gte and/or lte');
  rejectUnknownFields(obj, path, BOUNDS);
  const bounds: Partial<Record<Bound, unknown>> = {};
  for (const b of BOUNDS) {
    const v = field(obj, b);
    if (v !== undefined && v !== null) bounds[b] = v;
  }
  return bounds;
}

function compileRange(value: unknown, path: string): ValueTest {
  const bounds = readBounds(value, path);
  const given = BOUNDS.filter((b) => bounds[b] !== undefined);
  // Qdrant's RangeInterface is untagged: all-numbers (or none) is a Range, all-strings a DatetimeRange.
  if (given.every((b) => typeof bounds[b] === 'number')) {
    const {
      lt = Infinity,
      lte = Infinity,
      gt = -Infinity,
      gte = -Infinity,
    } = bounds as Record<Bound, number>;
    const hasLt = bounds.lt !== undefined;
    const hasGt = bounds.gt !== undefined;
    return (v) => typeof v === 'number' && (!hasLt || v < lt) && v <= lte && (!hasGt || v > gt) && v >= gte;
  }
  if (given.every((b) => typeof bounds[b] === 'string')) return compileDatetimeRange(bounds, path);
  return formatError(
    path,
    'range bounds must be all numbers (Range) or all RFC 3339 date-time strings (DatetimeRange)',
  );
}

function compileDatetimeRange(bounds: Partial<Record<Bound, unknown>>, path: string): ValueTest {
  const limits: Array<{ bound: Bound; sec: number; us: number }> = [];
  for (const b of BOUNDS) {
    const raw = bounds[b];
    if (raw === undefined) continue;
    if (!parseDatetime(raw as string)) {
      formatError(
        `${path}.${b}`,
        `invalid date-time ${describe(raw)}, expected RFC 3339 such as 2023-02-08T10:49:00Z`,
      );
    }
    limits.push({ bound: b, sec: parsedSec, us: parsedUs });
  }
  return (v) => {
    if (typeof v !== 'string' || !parseDatetime(v)) return false;
    for (const { bound, sec, us } of limits) {
      const c = parsedSec !== sec ? parsedSec - sec : parsedUs - us;
      if (bound === 'lt' ? c >= 0 : bound === 'lte' ? c > 0 : bound === 'gt' ? c <= 0 : c < 0) return false;
    }
    return true;
  };
}

function compileValuesCount(value: unknown, path: string): (count: number) => boolean {
  const bounds = readBounds(value, path);
  for (const b of BOUNDS) {
    const v = bounds[b];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
      formatError(`${path}.${b}`, `expected an unsigned integer, got ${describe(v)}`);
    }
  }
  const { lt = Infinity, lte = Infinity, gt = -1, gte = 0 } = bounds as Record<Bound, number>;
  return (n) => n < lt && n <= lte && n > gt && n >= gte;
}

/* ---- datetimes ------------------------------------------------------------------------------- */

// The formats Qdrant documents for datetime payloads: RFC 3339, `T`/`t` or a space, optional seconds
// and fraction, optional zone (Z, ±HH:MM, ±HHMM, ±HH; UTC when absent), or a bare date (midnight
// UTC). Parsed by hand: it runs once per stored value per evaluation, a regex costs several times more.

// parseDatetime writes the instant here (seconds since the epoch + microseconds) instead of
// allocating: microsecond precision over the full year range does not fit one float64.
let parsedSec = 0;
let parsedUs = 0;

/** The number written with `count` ASCII digits at `at`, or -1. */
function digitsAt(text: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    n = n * 10 + d;
  }
  return n;
}

function parseDatetime(text: string): boolean {
  const len = text.length;
  if (len < 10 || text[4] !== '-' || text[7] !== '-') return false;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let micros = 0;
  let offset = 0;
  if (len > 10) {
    const sep = text[10];
    if ((sep !== 'T' && sep !== 't' && sep !== ' ') || len < 16 || text[13] !== ':') return false;
    hour = digitsAt(text, 11, 2);
    minute = digitsAt(text, 14, 2);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return false;
    let at = 16;
    if (text[at] === ':') {
      second = digitsAt(text, at + 1, 2);
      if (second < 0 || second > 59) return false;
      at += 3;
      if (text[at] === '.') {
        let digits = 0;
        at++;
        for (let d = text.charCodeAt(at) - 48; d >= 0 && d <= 9; d = text.charCodeAt(++at) - 48) {
          if (++digits > 9) return false;
          if (digits <= 6) micros = micros * 10 + d;
        }
        if (digits === 0) return false;
        for (; digits < 6; digits++) micros *= 10;
      }
    }
    const zone = text[at];
    if (zone === 'Z' || zone === 'z') {
      at++;
    } else if (zone === '+' || zone === '-') {
      const oh = digitsAt(text, at + 1, 2);
      at += 3;
      let om = 0;
      if (at < len) {
        if (text[at] === ':') at++;
        om = digitsAt(text, at, 2);
        at += 2;
      }
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
      offset = (oh * 60 + om) * 60 * (zone === '-' ? -1 : 1);
    }
    if (at !== len) return false;
  }
  parsedSec = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
  parsedUs = micros;
  return true;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/* ---- geo ------------------------------------------------------------------------------------- */

interface GeoPoint {
  lon: number;
  lat: number;
}

function readGeoPoint(value: unknown, path: string): GeoPoint {
  const obj = expectObject(value, path, 'a geo point {"lon", "lat"}');
  rejectUnknownFields(obj, path, ['lon', 'lat']);
  const lon = field(obj, 'lon');
  const lat = field(obj, 'lat');
  if (typeof lon !== 'number') formatError(`${path}.lon`, `expected a number, got ${describe(lon)}`);
  if (typeof lat !== 'number') formatError(`${path}.lat`, `expected a number, got ${describe(lat)}`);
  if (lon < -180 || lon > 180 || lat < -90 || lat > 90) {
    validationError(path, `expected lon = ${lon} within [-180;180] and lat = ${lat} within [-90;90]`);
  }
  return { lon, lat };
}

/** The stored value as a geo point, if it is one ({lon, lat} with finite numbers). */
function storedGeoPoint(value: unknown): GeoPoint | undefined {
  if (!isObject(value)) return undefined;
  const lon = field(value, 'lon');
  const lat = field(value, 'lat');
  return typeof lon === 'number' && typeof lat === 'number' && Number.isFinite(lon) && Number.isFinite(lat)
    ? { lon, lat }
    : undefined;
}

function compileGeoBoundingBox(value: unknown, path: string): ValueTest {
  const obj = expectObject(value, path, 'an object {"top_left", "bottom_right"}');
  rejectUnknownFields(obj, path, ['top_left', 'bottom_right']);
  const tl = readGeoPoint(field(obj, 'top_left'), `${path}.top_left`);
  const br = readGeoPoint(field(obj, 'bottom_right'), `${path}.bottom_right`);
  const crossesAntimeridian = tl.lon > br.lon;
  return (v) => {
    const p = storedGeoPoint(v);
    if (!p) return false;
    const lonOk = crossesAntimeridian ? p.lon > tl.lon || p.lon < br.lon : tl.lon < p.lon && p.lon < br.lon;
    return lonOk && br.lat < p.lat && p.lat < tl.lat;
  };
}

const EARTH_MEAN_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;

function haversineMeters(a: GeoPoint, b: GeoPoint): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLon = (b.lon - a.lon) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_MEAN_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

function compileGeoRadius(value: unknown, path: string): ValueTest {
  const obj = expectObject(value, path, 'an object {"center", "radius"}');
  rejectUnknownFields(obj, path, ['center', 'radius']);
  const center = readGeoPoint(field(obj, 'center'), `${path}.center`);
  const radius = field(obj, 'radius');
  if (typeof radius !== 'number') formatError(`${path}.radius`, `expected a number, got ${describe(radius)}`);
  return (v) => {
    const p = storedGeoPoint(v);
    return p !== undefined && haversineMeters(center, p) < radius;
  };
}

function readRing(value: unknown, path: string): GeoPoint[] {
  const obj = expectObject(value, path, 'a line string {"points": [...]}');
  rejectUnknownFields(obj, path, ['points']);
  const points = field(obj, 'points');
  if (!Array.isArray(points))
    formatError(`${path}.points`, `expected an array of geo points, got ${describe(points)}`);
  const ring = points.map((p, i) => readGeoPoint(p, `${path}.points[${i}]`));
  if (ring.length < 4)
    validationError(path, `polygon invalid, the size must be at least 4, got ${ring.length}`);
  const first = ring[0]!;
  const last = ring.at(-1)!;
  if (Math.abs(first.lat - last.lat) > Number.EPSILON || Math.abs(first.lon - last.lon) > Number.EPSILON) {
    validationError(
      path,
      'polygon invalid, the first and the last points should be the same to form a closed line',
    );
  }
  return ring;
}

/** 1 strictly inside the ring, 0 on its boundary, -1 outside (planar lon/lat, as Qdrant). */
function ringPosition(p: GeoPoint, ring: GeoPoint[]): number {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i]!;
    const b = ring[j]!;
    const cross = (b.lon - a.lon) * (p.lat - a.lat) - (b.lat - a.lat) * (p.lon - a.lon);
    const withinBox =
      p.lon >= Math.min(a.lon, b.lon) &&
      p.lon <= Math.max(a.lon, b.lon) &&
      p.lat >= Math.min(a.lat, b.lat) &&
      p.lat <= Math.max(a.lat, b.lat);
    if (cross === 0 && withinBox) return 0;
    if (
      a.lat > p.lat !== b.lat > p.lat &&
      p.lon < ((b.lon - a.lon) * (p.lat - a.lat)) / (b.lat - a.lat) + a.lon
    ) {
      inside = !inside;
    }
  }
  return inside ? 1 : -1;
}

function compileGeoPolygon(value: unknown, path: string): ValueTest {
  const obj = expectObject(value, path, 'an object {"exterior", "interiors"?}');
  rejectUnknownFields(obj, path, ['exterior', 'interiors']);
  const exterior = readRing(field(obj, 'exterior'), `${path}.exterior`);
  const rawInteriors = field(obj, 'interiors');
  let interiors: GeoPoint[][] = [];
  if (rawInteriors !== undefined && rawInteriors !== null) {
    if (!Array.isArray(rawInteriors)) {
      formatError(`${path}.interiors`, `expected an array of line strings, got ${describe(rawInteriors)}`);
    }
    interiors = rawInteriors.map((ring, i) => readRing(ring, `${path}.interiors[${i}]`));
  }
  // As documented: inside or on the exterior boundary, and not strictly inside any hole.
  return (v) => {
    const p = storedGeoPoint(v);
    return (
      p !== undefined &&
      ringPosition(p, exterior) >= 0 &&
      interiors.every((hole) => ringPosition(p, hole) < 1)
    );
  };
}

/* ------------------------------------------------------------------------------------------------
 * Payload keys: Qdrant's JSON path syntax. `a.b` walks objects, `a[2]` takes an array element,
 * `a[]` takes every element, `"a.b"` quotes a key. Arrays are never walked implicitly (`a.b` on
 * `{"a": [{"b": 1}]}` finds nothing); a leaf array is one value, which match/range flatten.
 * --------------------------------------------------------------------------------------------- */

const WILDCARD = Symbol('[]');
type Step = string | number | typeof WILDCARD;

interface Path {
  text: string;
  steps: Step[];
  /** Whether the path can resolve to more than one value (has a `[]`). */
  multi: boolean;
}

const RAW_KEY = /^[\p{Alphabetic}\p{N}_-]+/u;
const QUOTED_KEY = /^"([^"\\]*)"/;
const INDEX = /^\[(\d+)\]/;

function withSteps(text: string, steps: Step[]): Path {
  return { text, steps, multi: steps.includes(WILDCARD) };
}

function parseKey(value: unknown, path: string): Path {
  if (typeof value !== 'string') formatError(path, `expected a payload key string, got ${describe(value)}`);
  const steps: Step[] = [];
  let rest = value;
  const readKey = (): boolean => {
    const raw = RAW_KEY.exec(rest);
    const quoted = raw ? null : QUOTED_KEY.exec(rest);
    const m = raw ?? quoted;
    if (!m) return false;
    steps.push(raw ? m[0] : m[1]!);
    rest = rest.slice(m[0].length);
    return true;
  };
  let ok = readKey();
  while (ok && rest !== '') {
    if (rest.startsWith('.')) {
      rest = rest.slice(1);
      ok = readKey();
    } else if (rest.startsWith('[]')) {
      steps.push(WILDCARD);
      rest = rest.slice(2);
    } else {
      const m = INDEX.exec(rest);
      ok = m !== null;
      if (m) {
        steps.push(Number(m[1]));
        rest = rest.slice(m[0].length);
      }
    }
  }
  if (!ok) {
    formatError(
      path,
      `invalid payload key ${JSON.stringify(value)}: expected dot-separated keys (quoted with "" when they ` +
        'hold other characters than letters, digits, _ and -), with optional [index] or [] after each',
    );
  }
  return withSteps(value, steps);
}

/** Whether `text` is a payload key in Qdrant's JSON path syntax (as field names must be). */
export function isPayloadKey(text: string): boolean {
  try {
    parseKey(text, '');
    return true;
  } catch {
    return false;
  }
}

const MISSING = Symbol('missing');

function step(value: unknown, s: Step): unknown {
  if (typeof s === 'string') {
    if (!isObject(value)) return MISSING;
    const v = value[s];
    return v === undefined || !Object.hasOwn(value, s) ? MISSING : v;
  }
  if (typeof s === 'number') return Array.isArray(value) && s < value.length ? value[s] : MISSING;
  return MISSING;
}

/** Every value `steps` reaches from `value`, in payload order, appended to `out`. */
function collectValues(value: unknown, steps: Step[], from: number, out: unknown[]): void {
  let v = value;
  for (let i = from; i < steps.length; i++) {
    const s = steps[i]!;
    if (s === WILDCARD) {
      if (!Array.isArray(v)) return;
      for (const element of v) collectValues(element, steps, i + 1, out);
      return;
    }
    v = step(v, s);
    if (v === MISSING) return;
  }
  out.push(v);
}

/** True when some value at `path` passes `test`; `onMissing` when the path resolves to nothing. */
function someValue(path: Path, onMissing: boolean, test: ValueTest): Check {
  const { steps } = path;
  if (!path.multi) {
    if (steps.length === 1) {
      const key = steps[0] as string;
      return (payload) => {
        const v = step(payload, key);
        return v === MISSING ? onMissing : test(v);
      };
    }
    return (payload) => {
      let v: unknown = payload;
      for (let i = 0; i < steps.length && v !== MISSING; i++) v = step(v, steps[i]!);
      return v === MISSING ? onMissing : test(v);
    };
  }
  // Reused between calls: a compiled check is never re-entered while it iterates its own buffer.
  const buffer: unknown[] = [];
  return (payload) => {
    buffer.length = 0;
    collectValues(payload, steps, 0, buffer);
    let result = buffer.length === 0 ? onMissing : false;
    for (let i = 0; i < buffer.length && !result; i++) result = test(buffer[i]);
    buffer.length = 0;
    return result;
  };
}

/** True when every value at `path` passes `test` (vacuously true when it resolves to nothing). */
function everyValue(path: Path, test: ValueTest): Check {
  return not(someValue(path, false, (v) => !test(v)));
}

/* ------------------------------------------------------------------------------------------------
 * Point ids
 * --------------------------------------------------------------------------------------------- */

const UUID_RE =
  /^(?:urn:uuid:|\{)?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** Lowercase hyphenated form of a UUID in any form the uuid crate parses, else undefined. */
function canonicalUuid(text: string): string | undefined {
  const m = UUID_RE.exec(text);
  if (!m) return undefined;
  const braced = text.startsWith('{');
  if (braced !== text.endsWith('}') || (braced && text.length !== 38)) return undefined;
  return `${m[1]}-${m[2]}-${m[3]}-${m[4]}-${m[5]}`.toLowerCase();
}

function toPointId(raw: unknown): PointId | undefined {
  if (typeof raw === 'number') return Number.isInteger(raw) && raw >= 0 && raw < 2 ** 64 ? raw : undefined;
  return typeof raw === 'string' ? canonicalUuid(raw) : undefined;
}
