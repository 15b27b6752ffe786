import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

/** API Gateway HTTP API (v2) events and a Lambda context, as the gateway and the local runtime build them. */

export interface EventInit {
  method?: string;
  path?: string;
  body?: string;
  base64?: boolean;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  pathParameters?: Record<string, string>;
}

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
  const res = await handler(httpEvent(init), lambdaContext());
  return {
    status: res.statusCode ?? 200,
    headers: (res.headers ?? {}) as Record<string, unknown>,
    body: res.body ? JSON.parse(res.body) : undefined,
  };
}
