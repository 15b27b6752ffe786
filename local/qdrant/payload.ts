/**
 * Payload operations with Qdrant's key-path syntax (`a.b`, `a[].b`, `a[0].b`, `"dotted.key"`):
 * selecting what a response carries (`with_payload`), setting values at a path, deleting keys.
 */

export type Payload = Record<string, unknown>;

/** `with_payload`: all / nothing / listed keys / include / exclude. */
export type PayloadSelector = boolean | string[] | { include: string[] } | { exclude: string[] };

interface PathSegment {
  key: string;
  /** `[]` (every element) or `[n]` after the key. */
  index?: number | 'all';
}

/** Parses a key path; throws a message-only Error on bad syntax. */
export function parseKeyPath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let i = 0;
  const fail = (): never => {
    throw new Error(`Invalid key path: ${path}`);
  };
  while (i < path.length) {
    let key: string;
    if (path[i] === '"') {
      const end = path.indexOf('"', i + 1);
      if (end < 0) fail();
      key = path.slice(i + 1, end);
      i = end + 1;
    } else {
      let end = i;
      while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
      key = path.slice(i, end);
      i = end;
    }
    if (key === '') fail();
    const segment: PathSegment = { key };
    if (path[i] === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) fail();
      const inner = path.slice(i + 1, close);
      if (inner === '') segment.index = 'all';
      else if (/^\d+$/.test(inner)) segment.index = Number(inner);
      else fail();
      i = close + 1;
    }
    segments.push(segment);
    if (i < path.length) {
      if (path[i] !== '.') fail();
      i++;
      if (i === path.length) fail();
    }
  }
  if (segments.length === 0) fail();
  return segments;
}

function isObject(value: unknown): value is Payload {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Own-property access only: payload keys are untrusted, and `__proto__` must stay a plain key
 * instead of reaching (or replacing) a prototype.
 */
function getOwn(object: Payload, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

export function setOwn(object: Payload, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Path parts in the comparable form of Qdrant's selectors: `a`, `.b`, `]` (array step). */
function selectorParts(path: string): string[] {
  return path.replaceAll('.', '[.').split('[');
}

function prefixEqual(a: string[], b: string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function filterPayload(value: unknown, keep: (path: string) => boolean, path: string): unknown {
  if (isObject(value)) {
    const out: Payload = {};
    const prefix = path === '' ? '' : `${path}.`;
    for (const [key, inner] of Object.entries(value)) {
      const keyPath = prefix + key;
      if (keep(keyPath)) setOwn(out, key, filterPayload(inner, keep, keyPath));
    }
    return out;
  }
  if (Array.isArray(value)) {
    const itemPath = `${path}[]`;
    return keep(itemPath) ? value.map((item) => filterPayload(item, keep, itemPath)) : [];
  }
  return value;
}

/** The payload a response carries for `selector`, or undefined when it carries none. */
export function selectPayload(payload: Payload, selector: PayloadSelector): Payload | undefined {
  if (selector === false) return undefined;
  if (selector === true) return payload;
  if (Array.isArray(selector) || 'include' in selector) {
    const patterns = (Array.isArray(selector) ? selector : selector.include).map(selectorParts);
    return filterPayload(
      payload,
      (path) => {
        const parts = selectorParts(path);
        return patterns.some((pattern) => prefixEqual(pattern, parts));
      },
      '',
    ) as Payload;
  }
  const patterns = selector.exclude.map((pattern) => ({
    length: pattern.length,
    parts: selectorParts(pattern),
  }));
  return filterPayload(
    payload,
    (path) => {
      const parts = selectorParts(path);
      return !patterns.some((pattern) => pattern.length <= path.length && prefixEqual(pattern.parts, parts));
    },
    '',
  ) as Payload;
}

/** Objects reached by following `segments` from `root`, creating missing objects on the way. */
function reachObjects(root: Payload, segments: PathSegment[]): Payload[] {
  let current: Payload[] = [root];
  for (const segment of segments) {
    const next: Payload[] = [];
    for (const object of current) {
      if (segment.index === undefined) {
        if (!isObject(getOwn(object, segment.key))) setOwn(object, segment.key, {});
        next.push(getOwn(object, segment.key) as Payload);
        continue;
      }
      const array = getOwn(object, segment.key);
      if (!Array.isArray(array)) continue;
      const indexes = segment.index === 'all' ? array.keys() : [segment.index];
      for (const i of indexes) {
        if (i >= array.length) continue;
        if (!isObject(array[i])) array[i] = {};
        next.push(array[i] as Payload);
      }
    }
    current = next;
  }
  return current;
}

/** set_payload: merges `values` into the payload, or into the object(s) at `key`. */
export function setPayload(payload: Payload, values: Payload, key?: string): void {
  const targets = key === undefined ? [payload] : reachObjects(payload, parseKeyPath(key));
  for (const target of targets) {
    for (const [name, value] of Object.entries(values)) setOwn(target, name, structuredClone(value));
  }
}

/** overwrite_payload: replaces the payload, or the value at `key`, with `values`. */
export function overwritePayload(payload: Payload, values: Payload, key?: string): Payload {
  if (key === undefined) return structuredClone(values);
  const segments = parseKeyPath(key);
  const last = segments.pop()!;
  for (const parent of reachObjects(payload, segments)) {
    if (last.index === undefined) {
      setOwn(parent, last.key, structuredClone(values));
      continue;
    }
    const array = getOwn(parent, last.key);
    if (!Array.isArray(array)) continue;
    const indexes = last.index === 'all' ? [...array.keys()] : [last.index];
    for (const i of indexes) if (i < array.length) array[i] = structuredClone(values);
  }
  return payload;
}

/** Removes the value at `key` (every matching value for `[]` paths). */
export function deletePayloadKey(payload: Payload, key: string): void {
  const segments = parseKeyPath(key);
  const last = segments.pop()!;
  let parents: unknown[] = [payload];
  for (const segment of segments) {
    const next: unknown[] = [];
    for (const parent of parents) {
      if (!isObject(parent)) continue;
      const value = getOwn(parent, segment.key);
      if (segment.index === undefined) next.push(value);
      else if (Array.isArray(value)) {
        if (segment.index === 'all') next.push(...value);
        else if (segment.index < value.length) next.push(value[segment.index]);
      }
    }
    parents = next;
  }
  for (const parent of parents) {
    if (!isObject(parent)) continue;
    if (last.index === undefined) {
      if (Object.hasOwn(parent, last.key)) delete parent[last.key];
      continue;
    }
    const array = getOwn(parent, last.key);
    if (!Array.isArray(array)) continue;
    if (last.index === 'all') setOwn(parent, last.key, []);
    else if (last.index < array.length) array.splice(last.index, 1);
  }
}

/**
 * Whether a non-null value sits at `key` (arrays met on the way are flattened): payload index
 * statistics. A key this syntax does not cover (a Qdrant path such as `a[0][1]`, or an index
 * logged before field names were checked) counts no value rather than failing collection info.
 */
export function hasValueAt(payload: Payload, key: string): boolean {
  let segments: PathSegment[];
  try {
    segments = parseKeyPath(key);
  } catch {
    return false;
  }
  let current: unknown[] = [payload];
  for (const segment of segments) {
    const next: unknown[] = [];
    for (const value of current) {
      if (!isObject(value)) continue;
      const inner = getOwn(value, segment.key);
      if (Array.isArray(inner)) {
        if (segment.index === undefined || segment.index === 'all') next.push(...inner);
        else if (segment.index < inner.length) next.push(inner[segment.index]);
      } else if (segment.index === undefined) next.push(inner);
    }
    current = next;
  }
  return current.some((value) => value !== undefined && value !== null);
}
