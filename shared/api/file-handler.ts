import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { toErrorResponse } from '../errors.ts';
import { authorizeRequest, correlatedHttp, countResponse } from '../http.ts';
import { assertManagerRunning } from '../managers/gate.ts';
import { logger, metrics, tracer } from '../powertools.ts';

/**
 * A handler answering a file rather than JSON (the documentation page and its assets, the
 * Prometheus exposition): what
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
      authorizeRequest(event);
      await assertManagerRunning();
      const { contentType, body, headers } = await fn(event);
      const binary = Buffer.isBuffer(body);
      countResponse(200);
      return {
        statusCode: 200,
        headers: { ...headers, 'content-type': contentType },
        body: binary ? body.toString('base64') : body,
        isBase64Encoded: binary,
      };
    } catch (err) {
      const { statusCode, headers, body } = toErrorResponse(err, context.awsRequestId);
      if (statusCode >= 500) logger.error('request failed', { error: err as Error });
      countResponse(statusCode);
      return {
        statusCode,
        headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(body),
      };
    }
  };
  return correlatedHttp(
    middy(base)
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(tracer ? captureLambdaHandler(tracer, { captureResponse: false }) : [])
      .use(logMetrics(metrics, { captureColdStartMetric: true })),
  );
}
