import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ROUTE_ROLES_ENV, type Role } from '#shared/auth/roles.ts';

/** API Gateway HTTP API (v2) events and a Lambda context, as the gateway and the local runtime build them. */

export interface EventInit {
  method?: string;
  path?: string;
  body?: string;
  base64?: boolean;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  pathParameters?: Record<string, string>;
  /**
   * The verified claims API Gateway passes (default: an administrator's access token); `null`
   * for none, as on a public route.
   */
  claims?: Record<string, string> | null;
  /** The role the route declares for the handler (`invoke` writes it to ROUTE_ROLES); default admin. */
  routeRole?: Role;
}

export const ADMIN_CLAIMS = {
  sub: 'tester',
  'cognito:groups': '[admin]',
  token_use: 'access',
  client_id: 'test',
};

export function httpEvent(init: EventInit = {}): APIGatewayProxyEventV2 {
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
  const path = init.path ?? '/api/v1/test';
  const headers = init.headers ?? (init.body === undefined ? {} : { 'content-type': 'application/json' });
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: new URLSearchParams(init.query ?? {}).toString(),
    headers,
    ...(init.query ? { queryStringParameters: init.query } : {}),
    ...(init.pathParameters ? { pathParameters: init.pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: 'gw-request',
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 1_767_225_600_000,
      ...(init.claims === null
        ? {}
        : { authorizer: { jwt: { claims: init.claims ?? ADMIN_CLAIMS, scopes: null } } }),
    },
    ...(init.body !== undefined
      ? {
          body: init.base64 ? Buffer.from(init.body, 'utf8').toString('base64') : init.body,
          isBase64Encoded: init.base64 ?? false,
        }
      : { isBase64Encoded: false }),
  };
}

export function lambdaContext(requestId = 'req-123'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'test-function',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:test-function',
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/test-function',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Invokes a handler and parses its JSON answer. */
export async function invoke(
  handler: Handler,
  init: EventInit = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers by path
): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  const event = httpEvent(init);
  // What the function's declaration gives it: the role of the route the event names.
  process.env[ROUTE_ROLES_ENV] = JSON.stringify({ [event.routeKey]: init.routeRole ?? 'admin' });
  const res = await handler(event, lambdaContext());
  return {
    status: res.statusCode ?? 200,
    headers: (res.headers ?? {}) as Record<string, unknown>,
    body: res.body ? JSON.parse(res.body) : undefined,
  };
}
