import type { Role } from './auth/roles.ts';
import { type AppError, MethodNotAllowedError, NotFoundError } from './errors.ts';

/**
 * HTTP API routing as API Gateway does it: route keys `METHOD /path/{param}/{greedy+}`, a
 * literal segment beating a parameter beating a greedy one, escapes decoded per segment. The local
 * gateway routes with it, and the function behind the deployed API's `$default` route uses it to
 * tell a 404 from a 405, so both answer a request no route takes the same way.
 */

/** A declared route (a manifest `RouteDecl`). */
export interface RouteSpec {
  method: string;
  path: string;
  function: string;
  /** Absent: public. */
  role?: Role;
}

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'greedy'; name: string };

export interface CompiledRoute {
  method: string;
  path: string;
  /** `GET /api/v1/vectors/{id}`: the event's and the request context's `routeKey`. */
  routeKey: string;
  function: string;
  /** Whether a verified token is required (any role but `public`). */
  protected: boolean;
  segments: readonly Segment[];
}

export interface RouteTable {
  /** Fully literal routes by `METHOD path`. */
  exact: Map<string, CompiledRoute>;
  /** Routes with parameters, per method, most specific first. */
  dynamic: Map<string, CompiledRoute[]>;
  /** Every route, for CORS preflight (which answers for a path whatever the method). */
  all: CompiledRoute[];
}

export interface RouteMatch {
  route: CompiledRoute;
  pathParameters?: Record<string, string>;
}

const PARAM = /^\{([A-Za-z0-9_.-]+)(\+?)\}$/;

function compileSegments(path: string): Segment[] {
  if (!path.startsWith('/')) throw new Error(`Route path must start with '/': ${path}`);
  const parts = path.split('/').slice(1);
  return parts.map((part, i) => {
    const m = PARAM.exec(part);
    if (!m) {
      if (part.includes('{') || part.includes('}'))
        throw new Error(`Invalid path parameter in route ${path}`);
      return { kind: 'literal', value: part };
    }
    if (m[2] === '+') {
      if (i !== parts.length - 1) throw new Error(`A greedy parameter must be the last segment: ${path}`);
      return { kind: 'greedy', name: m[1]! };
    }
    return { kind: 'param', name: m[1]! };
  });
}

const RANK = { literal: 2, param: 1, greedy: 0 } as const;

/** API Gateway's priority: segment by segment, a literal beats a parameter, which beats a greedy one. */
function bySpecificity(a: CompiledRoute, b: CompiledRoute): number {
  const n = Math.min(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const d = RANK[b.segments[i]!.kind] - RANK[a.segments[i]!.kind];
    if (d !== 0) return d;
  }
  return b.segments.length - a.segments.length;
}

export function compileRoutes(routes: readonly RouteSpec[]): RouteTable {
  const exact = new Map<string, CompiledRoute>();
  const dynamic = new Map<string, CompiledRoute[]>();
  const all: CompiledRoute[] = [];
  for (const r of routes) {
    const routeKey = `${r.method} ${r.path}`;
    const route: CompiledRoute = {
      method: r.method,
      path: r.path,
      routeKey,
      function: r.function,
      protected: (r.role ?? 'public') !== 'public',
      segments: compileSegments(r.path),
    };
    if (all.some((x) => x.routeKey === routeKey)) throw new Error(`Duplicate route: ${routeKey}`);
    all.push(route);
    if (route.segments.every((s) => s.kind === 'literal')) exact.set(routeKey, route);
    else {
      const list = dynamic.get(r.method) ?? [];
      list.push(route);
      dynamic.set(r.method, list);
    }
  }
  for (const list of dynamic.values()) list.sort(bySpecificity);
  return { exact, dynamic, all };
}

/** Percent-decodes one path segment; a malformed escape leaves the segment as sent. */
function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function matchSegments(route: CompiledRoute, parts: readonly string[]): Record<string, string> | undefined {
  const segs = route.segments;
  const last = segs[segs.length - 1];
  const greedy = last?.kind === 'greedy';
  if (greedy ? parts.length < segs.length : parts.length !== segs.length) return undefined;
  let params: Record<string, string> | undefined;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    if (seg.kind === 'greedy') {
      const rest = parts.slice(i);
      if (rest.length === 1 && rest[0] === '') return undefined;
      params ??= {};
      params[seg.name] = rest.map(decodeSegment).join('/');
      return params;
    }
    const part = parts[i]!;
    if (seg.kind === 'literal') {
      if (decodeSegment(part) !== seg.value) return undefined;
    } else {
      if (part === '') return undefined;
      params ??= {};
      params[seg.name] = decodeSegment(part);
    }
  }
  return params ?? {};
}

/** The route API Gateway would pick for `method` and the raw (still percent-encoded) path. */
export function matchRoute(table: RouteTable, method: string, rawPath: string): RouteMatch | undefined {
  const escaped = rawPath.includes('%');
  const parts = rawPath.split('/').slice(1);
  let literalPath = rawPath;
  if (escaped) {
    // A literal route reached through escapes (`/api/v1/h%65alth`), unless one decodes to a `/`.
    const decoded = parts.map(decodeSegment);
    literalPath = decoded.some((p) => p.includes('/')) ? '' : `/${decoded.join('/')}`;
  }
  const exact = table.exact.get(`${method} ${literalPath}`);
  if (exact) return { route: exact };
  const candidates = table.dynamic.get(method);
  if (candidates) {
    for (const route of candidates) {
      const params = matchSegments(route, parts);
      if (params) return { route, pathParameters: params };
    }
  }
  return undefined;
}

/** The methods routed for a path (for CORS preflight and 405s); empty when the path is unknown. */
export function methodsForPath(table: RouteTable, rawPath: string): string[] {
  const parts = rawPath.split('/').slice(1);
  const methods = new Set<string>();
  for (const route of table.all) if (matchSegments(route, parts)) methods.add(route.method);
  return [...methods];
}

/**
 * What a request no route takes gets from the platform: 405 naming the methods routed for its
 * path (`Allow`, OPTIONS included: CORS preflights are answered for every routed path), else 404.
 */
export function unroutedError(table: RouteTable, method: string, rawPath: string): AppError {
  const methods = methodsForPath(table, rawPath);
  return methods.length === 0
    ? new NotFoundError(`no route for ${method} ${rawPath}`, [
        { field: 'path', reason: 'no route matches this path' },
      ])
    : new MethodNotAllowedError(method, rawPath, [...methods, 'OPTIONS']);
}
