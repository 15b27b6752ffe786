import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { PayloadTooLargeError, ValidationError } from '../errors.ts';
import { readJsonBody } from '../http.ts';
import { parseWith } from '../validation.ts';
import { IndexPlanBodySchema, IndexPlanQuerySchema, MAX_PLAN_BYTES } from './schemas.ts';
import type { IndexPlanRequest } from './service.ts';

/**
 * The body of `POST /plans`, in either form:
 * - raw markdown (`content-type: text/markdown`, `text/plain` or, for bytes in another encoding
 *   than UTF-8, `application/octet-stream`) with `?planId=`: what `curl --data-binary @plan.md` sends;
 * - JSON `{planId, markdown}` or `{planId, s3Key}` (any other content type goes through the JSON
 *   reader, which answers 415 for non-JSON types).
 */

const RAW_TYPES = new Set(['text/markdown', 'text/x-markdown', 'text/plain', 'application/octet-stream']);

export function readIndexRequest(event: APIGatewayProxyEventV2, maxBodyBytes: number): IndexPlanRequest {
  const query = parseWith(IndexPlanQuerySchema, event.queryStringParameters ?? {}, 'query');
  if (RAW_TYPES.has(mediaType(event))) {
    if (query.planId === undefined) {
      throw ValidationError.field('query.planId', 'is required with a raw markdown body');
    }
    if (!event.body) throw ValidationError.field('body', 'a markdown body is required');
    // Bytes as sent: the parser detects UTF-16 and Windows-1252 itself.
    const markdown = Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    if (markdown.byteLength > MAX_PLAN_BYTES) {
      throw new PayloadTooLargeError(
        `body: the plan is ${markdown.byteLength} bytes; the limit is ${MAX_PLAN_BYTES} bytes`,
        [{ field: 'body', reason: `over ${MAX_PLAN_BYTES} bytes` }],
      );
    }
    return { planId: query.planId, markdown };
  }
  if (query.planId !== undefined) {
    throw ValidationError.field(
      'query.planId',
      'is only for a raw markdown body (content-type: text/markdown); a JSON body carries its own planId',
    );
  }
  const body = parseWith(IndexPlanBodySchema, readJsonBody(event, maxBodyBytes), '');
  return body.markdown !== undefined
    ? { planId: body.planId, markdown: body.markdown }
    : { planId: body.planId, s3Key: body.s3Key! };
}

/** The request's media type, lower-cased, without parameters; '' when absent. */
function mediaType(event: APIGatewayProxyEventV2): string {
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === 'content-type') return (value ?? '').split(';')[0]!.trim().toLowerCase();
  }
  return '';
}
