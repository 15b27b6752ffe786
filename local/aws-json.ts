import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

/**
 * A server for the AWS JSON protocols, 1.1 (EventBridge, SSM, Secrets Manager) and 1.0
 * (CloudWatch): POST / with `X-Amz-Target: <Service>.<Operation>` and a JSON body; errors as
 * `{__type, message}`. The local EventBridge, parameter and secret store and CloudWatch are built
 * on it.
 */

export const AWS_JSON_1_1 = 'application/x-amz-json-1.1';
export const AWS_JSON_1_0 = 'application/x-amz-json-1.0';

/** An error the caller sees as AWS answers it: its type (`__type`), message and status. */
export class AwsJsonError extends Error {
  readonly type: string;
  readonly status: number;
  /**
   * For services that moved from the query protocol (CloudWatch): the query error code and fault,
   * `InvalidParameterValue;Sender`, sent as `x-amzn-query-error`, which the SDK names errors by.
   */
  readonly queryError: string | undefined;
  constructor(type: string, message: string, status = 400, queryError?: string) {
    super(message);
    this.type = type;
    this.status = status;
    this.queryError = queryError;
  }
}

/** `raw` is the body as sent (its hash is part of the request's signature). */
export type AwsJsonDispatch = (
  target: string,
  body: unknown,
  req: IncomingMessage,
  raw: string,
) => Promise<unknown>;

export function awsJsonServer(opts: {
  maxRequestBytes: number;
  dispatch: AwsJsonDispatch;
  /** Default 1.1. */
  contentType?: typeof AWS_JSON_1_0 | typeof AWS_JSON_1_1;
}): Server {
  const contentType = opts.contentType ?? AWS_JSON_1_1;
  return createServer((req, res) => {
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': contentType, 'x-amzn-requestid': randomUUID(), ...headers });
      res.end(JSON.stringify(payload));
    };
    const handle = async () => {
      const target = req.headers['x-amz-target'];
      if (req.method !== 'POST' || (req.url ?? '/') !== '/' || typeof target !== 'string') {
        throw new AwsJsonError(
          'UnknownOperationException',
          'Expected POST / with X-Amz-Target: <Service>.<Operation>',
        );
      }
      if (!(req.headers['content-type'] ?? '').startsWith(contentType)) {
        throw new AwsJsonError('SerializationException', `Content-Type must be ${contentType}`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > opts.maxRequestBytes)
          throw new AwsJsonError('RequestEntityTooLargeException', 'Request is too large', 413);
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? {} : JSON.parse(text);
      } catch {
        throw new AwsJsonError('SerializationException', 'The request body is not valid JSON');
      }
      send(200, await opts.dispatch(target, body, req, text));
    };
    handle().catch((err: unknown) => {
      if (err instanceof AwsJsonError) {
        const query: Record<string, string> = err.queryError ? { 'x-amzn-query-error': err.queryError } : {};
        send(err.status, { __type: err.type, message: err.message }, query);
      } else send(500, { __type: 'InternalFailure', message: 'Internal error' });
    });
  });
}
