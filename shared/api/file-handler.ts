import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { authorize, type GatewayClaims, ROLES, ROUTE_ROLES_ENV, type Role } from '../auth/roles.ts';
import { ForbiddenError, toErrorResponse } from '../errors.ts';
import { logger, metrics, tracer } from '../powertools.ts';

/**
 * A handler answering a file rather than JSON (the documentation page and its assets): what
 * `httpHandler({ config: false }, …)` is for JSON, with the same middleware, and errors in the
 * API's one error shape. Granted nothing and reading no configuration.
 */

export interface FileResponse {
  contentType: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export function fileHandler(fn: (event: APIGatewayProxyEventV2) => Promise<FileResponse>) {
  const base = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    try {
      authorize(requiredRole(event.routeKey), claimsOf(event));
      const { contentType, body, headers } = await fn(event);
      const binary = Buffer.isBuffer(body);
      count(200);
      return {
        statusCode: 200,
        headers: { ...headers, 'content-type': contentType },
        body: binary ? body.toString('base64') : body,
        isBase64Encoded: binary,
      };
    } catch (err) {
      const { statusCode, headers, body } = toErrorResponse(err, context.awsRequestId);
      if (statusCode >= 500) logger.error('request failed', { error: err as Error });
      count(statusCode);
      return {
        statusCode,
        headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(body),
      };
    }
  };
  return middy(base)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
    .use(logMetrics(metrics));
}

/** The counts `httpHandler` publishes, which the alarms watch. */
function count(statusCode: number): void {
  metrics.addMetric('Requests', MetricUnit.Count, 1);
  if (statusCode >= 500) metrics.addMetric('ServerErrors', MetricUnit.Count, 1);
  else if (statusCode >= 400) metrics.addMetric('ClientErrors', MetricUnit.Count, 1);
}

/** The role the route needs, from the function's declaration (`ROUTE_ROLES`), as `httpHandler` reads it. */
function requiredRole(routeKey: string): Role {
  const declared = JSON.parse(process.env[ROUTE_ROLES_ENV] || '{}') as Record<string, unknown>;
  const role = declared[routeKey];
  if (!(ROLES as readonly unknown[]).includes(role)) {
    throw new ForbiddenError(`route ${routeKey} is not declared for this function`, [
      { field: 'routeKey', reason: 'not a route of this function in the manifest' },
    ]);
  }
  return role as Role;
}

function claimsOf(event: APIGatewayProxyEventV2): GatewayClaims | undefined {
  return (event.requestContext as { authorizer?: { jwt?: { claims?: GatewayClaims } } }).authorizer?.jwt
    ?.claims;
}
