import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { type Actor, withActor } from './actor.ts';
import {
  authorize,
  type GatewayClaims,
  grantedRole,
  ROLES,
  ROUTE_ROLES_ENV,
  type Role,
} from './auth/roles.ts';
import { type Config, getConfig } from './config.ts';
import { CORRELATION_HEADER, pickCorrelationId, withCorrelationId } from './correlation.ts';
import {
  ForbiddenError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  toErrorResponse,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.ts';
import { assertManagerRunning } from './managers/gate.ts';
import { logger, metrics, tracer } from './powertools.ts';
import { parseWith } from './validation.ts';

/**
 * The one HTTP wrapper: every API Gateway (HTTP API v2) handler is built with it.
 * Middleware order is fixed: logger context → tracer → metrics → handler; errors are mapped last,
 * in one place (`toErrorResponse`), so no handler builds an error body by hand.
 */

export interface HttpInput<B, Q, P> {
  body: B;
  query: Q;
  path: P;
  event: APIGatewayProxyEventV2;
  config: Config;
}

/** A handler may return a plain value (200 JSON) or shape the response itself. */
export class HttpResult {
  readonly statusCode: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  constructor(statusCode: number, body: unknown, headers: Record<string, string> = {}) {
    this.statusCode = statusCode;
    this.body = body;
    this.headers = headers;
  }
}

type Out<T> = T extends z.ZodType ? z.output<T> : undefined;

/** With `config: false` the handler gets no `config` (and takes no body, whose limit is configured). */
type InputFor<B, Q, P, C extends boolean> = C extends false
  ? Omit<HttpInput<undefined, Out<Q>, Out<P>>, 'config'>
  : HttpInput<Out<B>, Out<Q>, Out<P>>;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

/**
 * `config: false` is for functions granted nothing (liveness, version): loading the configuration
 * may read SSM parameters and secrets, which such a function must neither need nor be allowed to read.
 */
export function httpHandler<
  B extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  P extends z.ZodType | undefined = undefined,
  C extends boolean = true,
>(
  spec: { query?: Q; path?: P } & (C extends false
    ? { config: C; body?: undefined }
    : { config?: C; body?: B }),
  fn: (input: InputFor<B, Q, P, C>) => Promise<unknown>,
) {
  const base = async (
    event: APIGatewayProxyEventV2,
    _context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    authorizeRequest(event);
    await assertManagerRunning();
    requireContentType(event);
    const config = spec.config === false ? undefined : await getConfig();
    const input = {
      body:
        spec.body && config ? parseWith(spec.body, readJsonBody(event, config.maxBodyBytes), '') : undefined,
      query: spec.query ? parseWith(spec.query, event.queryStringParameters ?? {}, 'query') : undefined,
      path: spec.path ? parseWith(spec.path, event.pathParameters ?? {}, 'path') : undefined,
      event,
      ...(config ? { config } : {}),
    } as InputFor<B, Q, P, C>;
    const result = await fn(input);
    if (result instanceof HttpResult) {
      return {
        statusCode: result.statusCode,
        headers: { ...JSON_HEADERS, ...result.headers },
        body: result.body === undefined ? '' : toJson(result.body),
      };
    }
    return { statusCode: 200, headers: JSON_HEADERS, body: toJson(result) };
  };

  const handler = middy(base)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use({
      after: (request) => countResponse(request.response?.statusCode ?? 200),
      onError: (request) => {
        const { statusCode, headers, body } = toErrorResponse(request.error, request.context.awsRequestId);
        // A stopped manager's 503 is the platform doing what it was told, not a failure.
        if (statusCode >= 500 && !(request.error instanceof ServiceUnavailableError)) {
          logger.error('request failed', { error: request.error as Error });
        } else logger.info('request rejected', { statusCode, code: body.error.code });
        request.response = {
          statusCode,
          headers: { ...JSON_HEADERS, ...headers },
          body: JSON.stringify(body),
        };
        countResponse(statusCode);
      },
    });
  return correlatedHttp(handler);
}

type HttpLambda = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * Runs an HTTP handler under the request's correlation id (the client's `x-correlation-id` when
 * it is a valid one, else API Gateway's request id) and its actor (`shared/actor.ts`), and answers
 * the id in that header, errors included.
 */
export function correlatedHttp(handler: HttpLambda): HttpLambda {
  return async (event, context) => {
    const id = pickCorrelationId(headerValue(event, CORRELATION_HEADER), event.requestContext?.requestId);
    const response = await withCorrelationId(id, () =>
      withActor(actorOf(event), () => handler(event, context)),
    );
    return { ...response, headers: { ...response.headers, [CORRELATION_HEADER]: id } };
  };
}

let routeRoles: { source: string | undefined; roles: Record<string, Role> } | undefined;

/** Checks the request's claims against its route's declared role: 401 or 403, else nothing. */
export function authorizeRequest(event: APIGatewayProxyEventV2): void {
  authorize(requiredRole(event.routeKey), claimsOf(event));
}

/**
 * The role the request's route needs, from the function's declaration (`ROUTE_ROLES`, written by
 * `infra/function-environment.ts` in both runtimes). A route the declaration does not give this
 * function is refused: nothing is reachable that was not declared.
 */
function requiredRole(routeKey: string): Role {
  const source = process.env[ROUTE_ROLES_ENV];
  let current = routeRoles;
  if (current === undefined || current.source !== source) {
    const parsed: unknown = source ? JSON.parse(source) : {};
    const roles: Record<string, Role> = {};
    for (const [key, role] of Object.entries(parsed as Record<string, unknown>)) {
      if (!(ROLES as readonly unknown[]).includes(role))
        throw new Error(`${ROUTE_ROLES_ENV}: bad role for ${key}`);
      roles[key] = role as Role;
    }
    current = routeRoles = { source, roles };
  }
  const role = current.roles[routeKey];
  if (!role) {
    throw new ForbiddenError(`route ${routeKey} is not declared for this function`, [
      { field: 'routeKey', reason: 'not a route of this function in the manifest' },
    ]);
  }
  return role;
}

/** Checks the request's claims grant `role` (an operation stricter than its route): 401 or 403. */
export function requireRole(event: APIGatewayProxyEventV2, role: Role): void {
  authorize(role, claimsOf(event));
}

/** Who made the request, for records and events: the token's subject (or its username). */
export function callerOf(event: APIGatewayProxyEventV2): string {
  const claims = claimsOf(event);
  const who = claims?.username ?? claims?.sub;
  return typeof who === 'string' && who !== '' ? who : 'anonymous';
}

/** Who made the request: `callerOf`, the role the claims grant, the gateway's source address. */
export function actorOf(event: APIGatewayProxyEventV2): Actor {
  const claims = claimsOf(event);
  const sourceIp = event.requestContext?.http?.sourceIp;
  return {
    id: callerOf(event).slice(0, 256),
    role: claims ? grantedRole(claims) : 'public',
    ...(typeof sourceIp === 'string' && sourceIp !== '' ? { sourceIp: sourceIp.slice(0, 64) } : {}),
  };
}

/** The claims API Gateway's JWT authorizer verified, where it puts them. */
function claimsOf(event: APIGatewayProxyEventV2): GatewayClaims | undefined {
  const context = event.requestContext as { authorizer?: { jwt?: { claims?: GatewayClaims } } };
  return context.authorizer?.jwt?.claims;
}

/**
 * A body says what it is: without a `content-type` it is refused (415) rather than guessed at.
 * Which types a route accepts is its parser's business (`readJsonBody`, the plans request).
 */
function requireContentType(event: APIGatewayProxyEventV2): void {
  if (event.body === undefined || event.body === null || event.body === '') return;
  if (headerValue(event, 'content-type')) return;
  throw new UnsupportedMediaTypeError(
    'content-type: required with a body (application/json, or text/markdown for plans)',
    [
      {
        field: 'content-type',
        reason: 'missing; send application/json (or text/markdown to POST /api/v1/plans)',
      },
    ],
  );
}

/**
 * A response body as JSON. The Qdrant client parses integers beyond 2^53 (scores, vector
 * components, payload values) as BigInt, which JSON.stringify refuses: they are written as the
 * nearest number, which is what a client's JSON parser reads from the exact digits anyway.
 */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
}

/**
 * Mapped errors are successful Lambda invocations, so Lambda's own Errors metric never sees a
 * 4xx or 5xx: these counts (per function, published by `logMetrics`) are what alarms watch.
 */
export function countResponse(statusCode: number): void {
  metrics.addMetric('Requests', MetricUnit.Count, 1);
  if (statusCode >= 500) metrics.addMetric('ServerErrors', MetricUnit.Count, 1);
  else if (statusCode >= 400) metrics.addMetric('ClientErrors', MetricUnit.Count, 1);
}

/** The request body as JSON: 413 past the limit, 415 for a non-JSON content type, 400 for bad JSON. */
export function readJsonBody(event: APIGatewayProxyEventV2, maxBytes: number): unknown {
  if (event.body === undefined || event.body === null || event.body === '') {
    throw ValidationError.field('body', 'a JSON body is required');
  }
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (raw.byteLength > maxBytes) {
    throw new PayloadTooLargeError(`body: ${raw.byteLength} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  const contentType = headerValue(event, 'content-type');
  if (contentType && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(`content-type: expected application/json, got ${contentType}`, [
      { field: 'content-type', reason: 'must be application/json' },
    ]);
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw ValidationError.field('body', `invalid JSON (${(err as Error).message})`);
  }
}

function headerValue(event: APIGatewayProxyEventV2, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}
