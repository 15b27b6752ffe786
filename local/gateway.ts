import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import type { Manifest } from '../infra/manifest.ts';
import type { WrittenAccessLogLine } from '../shared/access-log/format.ts';
import { EDGE_RESPONSE_HEADERS, RATE_LIMITED_BODY, RATE_LIMITED_STATUS } from '../shared/edge.ts';
import { type CompiledRoute, compileRoutes, matchRoute, type RouteMatch } from '../shared/routes.ts';
import { type CorsPolicy, corsHeaders, preflightHeaders } from './cors.ts';
import { type Invoke, LambdaTimeoutError } from './functions.ts';
import { LOCAL_ACCOUNT_ID } from './iam.ts';
import { type JwtAuthorizer, type JwtContext, wwwAuthenticate } from './identity/jwt-authorizer.ts';
import { RequestLimits } from './limits.ts';
import { listen } from './listen.ts';

/**
 * The local API Gateway (HTTP API, Lambda proxy integration, payload format 2.0): routes each
 * request with the manifest's routes, builds the event exactly as API Gateway does, invokes the
 * function and turns its result into the HTTP response as API Gateway does. Errors that API
 * Gateway itself produces (413, 500, 503) have its bodies; a request no route takes is answered in
 * the platform's error shape instead (404, or 405 with `Allow`): see `unroutedResponse`. The route
 * table is compiled once; a request costs one split of its path and a scan of the few
 * parameterised routes.
 */

/** API Gateway's maximum request payload (10 MB). */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/** The local HTTP API's id (API Gateway ids are 10 lower-case alphanumerics) and its one stage. */
export const LOCAL_API_ID = 'localapi01';
export const LOCAL_API_STAGE = '$default';

// ---------------------------------------------------------------------------------------------
// Request → payload format 2.0 event

/**
 * `rawPath` as API Gateway builds it: every escape decoded except `%25`, so `a%252Eb` stays
 * `a%252Eb` and `a%2Eb` becomes `a.b`. Undecodable byte runs become U+FFFD, as API Gateway's UTF-8.
 */
export function decodeRawPath(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    let out = '';
    const pending: number[] = [];
    const flush = () => {
      if (pending.length > 0) out += Buffer.from(pending).toString('utf8');
      pending.length = 0;
    };
    for (let i = 0; i < run.length; i += 3) {
      const byte = Number.parseInt(run.slice(i + 1, i + 3), 16);
      if (byte === 0x25) {
        flush();
        out += run.slice(i, i + 3);
      } else pending.push(byte);
    }
    flush();
    return out;
  });
}

/** Form-style decoding of a query component (`+` is a space), as API Gateway does. */
function decodeQueryComponent(s: string): string {
  const plus = s.includes('+') ? s.replaceAll('+', ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

/** `queryStringParameters`: decoded, repeated keys joined with commas; undefined when there are none. */
export function parseQueryString(raw: string): Record<string, string> | undefined {
  if (raw === '') return undefined;
  const params = new Map<string, string>();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeQueryComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeQueryComponent(pair.slice(eq + 1));
    const prev = params.get(key);
    params.set(key, prev === undefined ? value : `${prev},${value}`);
  }
  // fromEntries defines own properties, so a `__proto__` parameter is data, not a prototype.
  return params.size === 0 ? undefined : Object.fromEntries(params);
}

/** `cookies`: every `Cookie` header split into its `name=value` pairs. */
export function parseCookies(headerValues: readonly string[]): string[] {
  const cookies: string[] = [];
  for (const value of headerValues) {
    for (const part of value.split(';')) {
      const cookie = part.trim();
      if (cookie !== '') cookies.push(cookie);
    }
  }
  return cookies;
}

/** Headers API Gateway does not forward as such (hop-by-hop, or moved to `cookies`). */
const DROPPED_HEADERS = new Set([
  'cookie',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

/**
 * `headers`: names lower-cased, repeated headers joined with commas (from the raw header list,
 * since Node drops repeats of some headers), and the `Cookie` values apart.
 */
export function collectHeaders(rawHeaders: readonly string[]): {
  headers: Record<string, string>;
  cookieValues: string[];
} {
  const headers = new Map<string, string>();
  const cookieValues: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (name === 'cookie') {
      cookieValues.push(value);
      continue;
    }
    if (DROPPED_HEADERS.has(name)) continue;
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev},${value}`);
  }
  return { headers: Object.fromEntries(headers), cookieValues };
}

/** Content types whose body API Gateway (HTTP API) passes as a UTF-8 string; all else is base64. */
export function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type === 'application/xml' ||
    type === 'application/javascript'
  );
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** `21/Nov/2026:10:05:05 +0000`, API Gateway's request time format. */
export function formatRequestTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000`;
}

let timeCache = { second: -1, text: '' };
function requestTime(epochMs: number): string {
  const second = Math.floor(epochMs / 1000);
  if (timeCache.second !== second) timeCache = { second, text: formatRequestTime(epochMs) };
  return timeCache.text;
}

/** API Gateway request ids look like `JKJaXmPLvHcESHA=`. */
function newRequestId(): string {
  return randomBytes(10).toString('base64');
}

/** An X-Ray trace header, as API Gateway adds to each request (`Root=1-<epoch hex>-<96 bits>`). */
function newTraceId(epochMs: number): string {
  return `Root=1-${Math.floor(epochMs / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
}

export interface RequestFacts {
  method: string;
  /** Path and query as sent on the request line. */
  url: string;
  rawHeaders: readonly string[];
  body: Buffer | undefined;
  sourceIp: string;
  protocol: string;
  /** The port the gateway listens on (`x-forwarded-port`). */
  port: number;
  apiId: string;
  requestId: string;
  timeEpoch: number;
}

export function toApiGatewayEvent(req: RequestFacts, match: RouteMatch): APIGatewayProxyEventV2 {
  const q = req.url.indexOf('?');
  const pathPart = q === -1 ? req.url : req.url.slice(0, q);
  const rawQueryString = q === -1 ? '' : req.url.slice(q + 1);
  const rawPath = decodeRawPath(pathPart);
  const { headers, cookieValues } = collectHeaders(req.rawHeaders);
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${req.sourceIp}`
    : req.sourceIp;
  headers['x-forwarded-port'] = String(req.port);
  headers['x-forwarded-proto'] = 'http';
  headers['x-amzn-trace-id'] ??= newTraceId(req.timeEpoch);

  const host = headers.host ?? '';
  const domainName = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  const domainPrefix =
    /^[\d.]+$/.test(domainName) || domainName.startsWith('[') ? domainName : domainName.split('.')[0]!;
  const { routeKey } = match.route;

  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: req.apiId,
      domainName,
      domainPrefix,
      http: {
        method: req.method,
        path: rawPath,
        protocol: req.protocol,
        sourceIp: req.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: req.requestId,
      routeKey,
      stage: LOCAL_API_STAGE,
      time: requestTime(req.timeEpoch),
      timeEpoch: req.timeEpoch,
    },
    isBase64Encoded: false,
  };
  const cookies = parseCookies(cookieValues);
  if (cookies.length > 0) event.cookies = cookies;
  const query = parseQueryString(rawQueryString);
  if (query) event.queryStringParameters = query;
  if (match.pathParameters && Object.keys(match.pathParameters).length > 0) {
    event.pathParameters = match.pathParameters;
  }
  if (req.body && req.body.length > 0) {
    if (isTextContentType(headers['content-type'])) event.body = req.body.toString('utf8');
    else {
      event.body = req.body.toString('base64');
      event.isBase64Encoded = true;
    }
  }
  return event;
}

// ---------------------------------------------------------------------------------------------
// Lambda result → HTTP response

export interface GatewayResponse {
  statusCode: number;
  /** Header name → value(s); `set-cookie` carries one value per cookie. */
  headers: Record<string, string | string[]>;
  body: Buffer;
}

const headerValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

/** The structured response of payload format 2.0; anything else with a statusCode is malformed. */
const StructuredResult = z.object({
  statusCode: z.number().int().min(100).max(599),
  headers: z.record(z.string(), headerValue).nullish(),
  multiValueHeaders: z.record(z.string(), z.array(headerValue)).nullish(),
  cookies: z.array(z.string()).nullish(),
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().nullish(),
});

export class MalformedResultError extends Error {
  constructor(message: string) {
    super(`Malformed Lambda proxy response: ${message}`);
    this.name = 'MalformedResultError';
  }
}

const JSON_TYPE = 'application/json';

function jsonResponse(statusCode: number, body: string): GatewayResponse {
  return { statusCode, headers: { 'content-type': JSON_TYPE }, body: Buffer.from(body) };
}

/**
 * What API Gateway answers for a function's result: a structured result (it has `statusCode`)
 * is applied as given; any other JSON value is a 200 `application/json` whose body is the value
 * (a string as is, anything else as JSON). Throws MalformedResultError for a bad structure.
 */
export function fromLambdaResult(result: unknown): GatewayResponse {
  if (typeof result !== 'object' || result === null || Array.isArray(result) || !('statusCode' in result)) {
    return jsonResponse(200, typeof result === 'string' ? result : JSON.stringify(result ?? null));
  }
  const parsed = StructuredResult.safeParse(result);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MalformedResultError(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const r = parsed.data;
  const headers: Record<string, string | string[]> = {};
  const setCookies: string[] = [...(r.cookies ?? [])];
  for (const [name, values] of Object.entries(r.multiValueHeaders ?? {})) {
    const key = name.toLowerCase();
    if (key === 'set-cookie') setCookies.push(...values);
    else headers[key] = values.join(',');
  }
  for (const [name, value] of Object.entries(r.headers ?? {})) {
    const key = name.toLowerCase();
    if (key === 'set-cookie') setCookies.push(value);
    else headers[key] = value;
  }
  headers['content-type'] ??= JSON_TYPE;
  if (setCookies.length > 0) headers['set-cookie'] = setCookies;
  const text = r.body ?? '';
  return {
    statusCode: r.statusCode,
    headers,
    body: r.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8'),
  };
}

// ---------------------------------------------------------------------------------------------
// Server

/**
 * How the gateway authenticates requests to protected routes: a JWT authorizer (the default; API
 * Gateway's in AWS), or `off` for local experiments, where every request to a protected route
 * reaches its function with `claims` (an administrator's) as if a token had been verified.
 */
export type GatewayAuth =
  | { kind: 'jwt'; authorizer: JwtAuthorizer }
  | { kind: 'off'; claims: Record<string, string> };

export interface GatewayOptions {
  manifest: Pick<Manifest, 'routes' | 'defaultRoute' | 'limits'>;
  invoke: Invoke;
  auth: GatewayAuth;
  /** The manifest's limits (default), or `false` for none (benchmarks and tests of other things). */
  limits?: false;
  /** Absent: no CORS configuration (OPTIONS requests are routed like any other). */
  cors?: Omit<CorsPolicy, 'methods'>;
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** The `apiId` in events; API Gateway ids are 10 lower-case alphanumerics. */
  apiId?: string;
  /** Where invocation failures are reported (the client only ever sees API Gateway's bodies). */
  logError?: (message: string, error: unknown) => void;
  /**
   * Told of every answered request (refused ones included: 401, 413, 429…), as API Gateway
   * measures it: the route that took it (none for a request no route takes), status, latency.
   */
  onResponse?: (response: ApiResponseRecord) => void;
  /** Told the access-log line of every answered request, as the stage's access log has it. */
  onAccessLog?: (line: WrittenAccessLogLine) => void;
}

export interface ApiResponseRecord {
  route?: { method: string; resource: string };
  status: number;
  latencyMs: number;
}

export interface Gateway {
  url: string;
  port: number;
  routes: readonly CompiledRoute[];
  close(): Promise<void>;
}

const TOO_LARGE = '{"message":"Request Entity Too Large"}';
const NOT_FOUND = '{"message":"Not Found"}';
const INTERNAL = '{"message":"Internal Server Error"}';
const UNAVAILABLE = '{"message":"Service Unavailable"}';
const UNAUTHORIZED = '{"message":"Unauthorized"}';
const THROTTLED = '{"message":"Too Many Requests"}';

/** The access log's integration error for a function that failed (Lambda's `Unhandled` error). */
export const FUNCTION_ERROR_MESSAGE = 'The Lambda function returned an error: Unhandled';

/** How long the rest of a refused body is drained before the connection is cut. */
const LINGER_MS = 2_000;

/** The edge's headers (CloudFront's response headers policy in AWS) on every answer. */
function withEdgeHeaders(headers: Record<string, string | string[] | number>): void {
  for (const [name, { value, override }] of Object.entries(EDGE_RESPONSE_HEADERS)) {
    if (override || headers[name] === undefined) headers[name] = value;
  }
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const table = compileRoutes(opts.manifest.routes);
  const defaultMatch: RouteMatch | undefined = opts.manifest.defaultRoute
    ? {
        route: {
          method: 'ANY',
          path: '$default',
          routeKey: '$default',
          function: opts.manifest.defaultRoute,
          protected: false,
          segments: [],
        },
      }
    : undefined;
  const apiId = opts.apiId ?? LOCAL_API_ID;
  const logError = opts.logError ?? ((message, error) => console.error(`[gateway] ${message}`, error));
  const limits =
    opts.limits === false
      ? undefined
      : new RequestLimits(
          opts.manifest.limits,
          new Map(
            opts.manifest.routes.flatMap((r) => (r.throttle ? [[`${r.method} ${r.path}`, r.throttle]] : [])),
          ),
        );
  const cors: CorsPolicy | undefined = opts.cors && {
    ...opts.cors,
    methods: [...new Set(opts.manifest.routes.map((r) => r.method))],
  };
  let port = 0;

  const send = (res: ServerResponse, requestId: string, origin: string | undefined, r: GatewayResponse) => {
    const headers: Record<string, string | string[] | number> = { ...r.headers };
    // Framing is the gateway's business, not the function's.
    delete headers['transfer-encoding'];
    delete headers.connection;
    if (cors) Object.assign(headers, corsHeaders(cors, origin));
    withEdgeHeaders(headers);
    headers['apigw-requestid'] = requestId;
    headers['content-length'] = r.body.length;
    res.writeHead(r.statusCode, headers);
    res.end(r.body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const timeEpoch = Date.now();
    const received = performance.now();
    const requestId = newRequestId();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const origin = req.headers.origin;
    const sourceIp = stripIpv4Mapping(req.socket.remoteAddress ?? '127.0.0.1');
    /** What the access log says beyond the request itself, filled in as the request goes. */
    const logged: {
      sub?: string;
      integrationLatencyMs?: number;
      integrationError?: string;
      authorizerError?: string;
      gatewayMessage?: string;
    } = {};
    /** One of API Gateway's own answers, whose message the access log keeps (`$context.error.message`). */
    const gatewayAnswer = (statusCode: number, body: string) => {
      logged.gatewayMessage = (JSON.parse(body) as { message: string }).message;
      return jsonResponse(statusCode, body);
    };
    const refuse = (r: GatewayResponse) => {
      req.resume();
      send(res, requestId, origin, r);
    };

    // A request no route takes goes to the `$default` route's function if there is one (the
    // platform's says 404 or 405 in its error shape), else API Gateway answers it itself.
    const routed = matchRoute(table, method, rawPath);
    const match = routed ?? defaultMatch;
    const onResponse = opts.onResponse;
    if (onResponse) {
      const route = routed && { method: routed.route.method, resource: routed.route.path };
      res.once('finish', () =>
        onResponse({
          ...(route ? { route } : {}),
          status: res.statusCode,
          latencyMs: performance.now() - received,
        }),
      );
    }

    const onAccessLog = opts.onAccessLog;
    if (onAccessLog) {
      res.once('finish', () =>
        onAccessLog(
          accessLogLine({
            requestId,
            sourceIp,
            userAgent: req.headers['user-agent'],
            timeEpoch,
            routeKey: match?.route.routeKey,
            status: res.statusCode,
            protocol: `HTTP/${req.httpVersion}`,
            responseLength: Number(res.getHeader('content-length') ?? 0),
            latencyMs: performance.now() - received,
            ...logged,
          }),
        ),
      );
    }

    // The edge's rate rules, then API Gateway's throttle, before anything else.
    if (limits) {
      const verdict = await limits.admit(sourceIp, routed?.route.routeKey);
      if (!verdict.ok) {
        const retryAfter = { 'retry-after': String(verdict.retryAfterSeconds) };
        return refuse(
          verdict.by === 'edge'
            ? {
                statusCode: RATE_LIMITED_STATUS,
                headers: { 'content-type': JSON_TYPE, ...retryAfter },
                body: Buffer.from(JSON.stringify(RATE_LIMITED_BODY)),
              }
            : { ...gatewayAnswer(429, THROTTLED), headers: { 'content-type': JSON_TYPE, ...retryAfter } },
        );
      }
    }

    // With CORS configured, API Gateway answers every preflight itself.
    if (cors && method === 'OPTIONS') {
      req.resume();
      res.writeHead(204, { ...preflightHeaders(cors, origin), 'apigw-requestid': requestId });
      res.end();
      return;
    }

    if (!match) return refuse(gatewayAnswer(404, NOT_FOUND));

    let jwt: JwtContext | undefined;
    if (match.route.protected) {
      if (opts.auth.kind === 'off') jwt = { claims: opts.auth.claims, scopes: null };
      else {
        const verdict = await opts.auth.authorizer.verify(req.headers.authorization);
        if (!verdict.ok) {
          logged.authorizerError = verdict.description ?? verdict.error;
          const r = gatewayAnswer(401, UNAUTHORIZED);
          r.headers['www-authenticate'] = wwwAuthenticate(verdict);
          return refuse(r);
        }
        jwt = verdict.jwt;
      }
      logged.sub = jwt.claims.sub;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let rejected = false;
    /**
     * 413 as soon as the body is known to be too large. The rest of the body is read and dropped
     * for a while (a client that reads the answer only once it has sent its body gets it, and
     * the connection stays usable), never kept; a client still sending after that is cut off.
     */
    const reject = () => {
      rejected = true;
      chunks.length = 0;
      send(res, requestId, origin, gatewayAnswer(413, TOO_LARGE));
      const linger = setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
      req.once('end', () => clearTimeout(linger));
    };
    if (Number(req.headers['content-length']) > MAX_REQUEST_BYTES) reject();
    req.on('data', (chunk: Buffer) => {
      if (rejected) return;
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) return reject();
      chunks.push(chunk);
    });
    req.on('error', () => {
      rejected = true;
    });
    req.on('end', () => {
      if (rejected) return;
      const body =
        chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      const event = toApiGatewayEvent(
        {
          method,
          url,
          rawHeaders: req.rawHeaders,
          body,
          sourceIp,
          protocol: `HTTP/${req.httpVersion}`,
          port,
          apiId,
          requestId,
          timeEpoch,
        },
        match,
      );
      // Where API Gateway's JWT authorizer puts the verified claims.
      if (jwt) (event.requestContext as { authorizer?: unknown }).authorizer = { jwt };
      const invoked = performance.now();
      const ended = (error?: unknown) => {
        logged.integrationLatencyMs = performance.now() - invoked;
        if (error === undefined) return;
        // A timeout is Lambda's own message; a function's error message stays in its logs, as API
        // Gateway never passes it on (it may hold what the client must not see).
        logged.integrationError =
          error instanceof LambdaTimeoutError ? error.message : FUNCTION_ERROR_MESSAGE;
      };
      opts.invoke(match.route.function, event).then(
        (result) => {
          ended();
          let response: GatewayResponse;
          try {
            response = fromLambdaResult(result);
          } catch (err) {
            logError(`${match.route.routeKey} → ${match.route.function}: ${(err as Error).message}`, err);
            logged.integrationError = (err as Error).message;
            response = gatewayAnswer(500, INTERNAL);
          }
          send(res, requestId, origin, response);
        },
        (err: unknown) => {
          ended(err);
          if (err instanceof LambdaTimeoutError) {
            logError(`${match.route.routeKey} → ${match.route.function}: ${err.message}`, err);
            send(res, requestId, origin, gatewayAnswer(503, UNAVAILABLE));
          } else {
            logError(`${match.route.routeKey} → ${match.route.function} failed`, err);
            send(res, requestId, origin, gatewayAnswer(500, INTERNAL));
          }
        },
      );
    });
  };

  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logError('request handling failed', err);
      if (!res.headersSent) send(res, newRequestId(), undefined, jsonResponse(500, INTERNAL));
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  const url = await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0);
  port = Number(new URL(url).port);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    routes: table.all,
    close: () => {
      closing ??= new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/**
 * The access-log line of a request, field for field as the stage's format (`accessLogFormat`)
 * has API Gateway write it: "-" for what is empty, status and request time as numbers.
 */
export function accessLogLine(r: {
  requestId: string;
  sourceIp: string;
  userAgent: string | undefined;
  timeEpoch: number;
  routeKey: string | undefined;
  status: number;
  protocol: string;
  responseLength: number;
  latencyMs: number;
  sub?: string;
  integrationLatencyMs?: number;
  integrationError?: string;
  authorizerError?: string;
  gatewayMessage?: string;
}): WrittenAccessLogLine {
  const text = (value: string | number | undefined) =>
    value === undefined || value === '' ? '-' : String(value);
  return {
    requestId: r.requestId,
    ip: r.sourceIp,
    caller: '-',
    userAgent: text(r.userAgent),
    sub: text(r.sub),
    requestTime: formatRequestTime(r.timeEpoch),
    requestTimeEpoch: r.timeEpoch,
    routeKey: text(r.routeKey),
    status: r.status,
    protocol: r.protocol,
    responseLength: String(r.responseLength),
    responseLatency: String(Math.round(r.latencyMs)),
    integrationLatency: text(
      r.integrationLatencyMs === undefined ? undefined : Math.round(r.integrationLatencyMs),
    ),
    integrationError: text(r.integrationError),
    authorizerError: text(r.authorizerError),
    error: text(r.gatewayMessage),
  };
}

function stripIpv4Mapping(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
