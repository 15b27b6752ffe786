import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { LIVE_ALIAS, liveAliasOf } from '../infra/function-environment.ts';
import type { Manifest } from '../infra/manifest.ts';
import type { EventSourceMapping, EventSourceMappings } from './event-source-mappings.ts';
import { eventSourceMappingArn } from './event-source-mappings.ts';
import { type Invoke, LambdaExitError, LambdaTimeoutError } from './functions.ts';
import { LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import { closeNow, listen } from './listen.ts';

/**
 * Local Lambda API: the calls the platform's functions make (`Invoke`, `GetEventSourceMapping`,
 * `UpdateEventSourceMapping`), over Lambda's REST-JSON protocol as `@aws-sdk/client-lambda`
 * speaks it, each allowed by the caller's grants (`lambda:InvokeFunction` on the function's ARN,
 * `lambda:Get|UpdateEventSourceMapping` on the mapping's) and answered with Lambda's status codes
 * and error shapes.
 *
 * Functions are the manifest's, by deployed name (`<service>-<key>`), partial ARN or ARN,
 * unqualified (`$LATEST`) or through the alias every function has (`live`, which AWS moves from
 * version to version in a release and which here always runs `$LATEST`, the only code there is);
 * any other qualifier is not found. Mappings invoke the alias, as in AWS. An `Event` invocation is answered 202 and runs in the background; a failure is
 * logged, not retried (Lambda retries twice, minutes apart). `X-Amz-Log-Type: Tail` is ignored
 * (logs go to the runtime's output). UpdateEventSourceMapping changes `Enabled` only: everything
 * else about a mapping is the manifest's queue declaration, which a deploy would restore in AWS.
 */

/** Lambda's payload limits: 6 MB for a synchronous invocation, 1 MB for an asynchronous one. */
const MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;
const MAX_ASYNC_PAYLOAD_BYTES = 1024 * 1024;
const MAX_MAPPING_REQUEST_BYTES = 64 * 1024;
const API_VERSION = '2015-03-31';

export function deployedFunctionName(service: string, fnKey: string): string {
  return `${service}-${fnKey}`;
}

export function functionArn(region: string, name: string, account = LOCAL_ACCOUNT_ID): string {
  return `arn:aws:lambda:${region}:${account}:function:${name}`;
}

/** An answer in Lambda's error shape: `X-Amzn-ErrorType` and `{Type, Message}` (or `message`). */
class LambdaApiError extends Error {
  readonly type: string;
  readonly status: number;
  /** Lambda's error shapes differ in the case of their message member. */
  readonly messageMember: 'Message' | 'message';
  constructor(
    type: string,
    status: number,
    message: string,
    messageMember: 'Message' | 'message' = 'Message',
  ) {
    super(message);
    this.type = type;
    this.status = status;
    this.messageMember = messageMember;
  }
}

const invalidParameter = (message: string) =>
  new LambdaApiError('InvalidParameterValueException', 400, message, 'message');
const notFound = (message: string) => new LambdaApiError('ResourceNotFoundException', 404, message);

/** The qualifiers every local function answers to: itself and its live alias. */
const LOCAL_QUALIFIERS: ReadonlySet<string> = new Set(['$LATEST', LIVE_ALIAS]);

const NAME = '[a-zA-Z0-9_-]{1,140}';
const QUALIFIER = '[a-zA-Z0-9$_-]{1,128}';
const FUNCTION_ARN = new RegExp(
  `^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\\d{12}):function:(${NAME})(?::(${QUALIFIER}))?$`,
);
const PARTIAL_ARN = new RegExp(`^(\\d{12}):function:(${NAME})(?::(${QUALIFIER}))?$`);
const PLAIN_NAME = new RegExp(`^(${NAME})(?::(${QUALIFIER}))?$`);

interface FunctionRef {
  region: string;
  account: string;
  name: string;
  qualifier: string | undefined;
}

/** A `FunctionName` as Lambda takes it: a name, a partial ARN or an ARN, each with an optional qualifier. */
function parseFunctionName(raw: string, region: string, queryQualifier: string | null): FunctionRef {
  let ref: FunctionRef | undefined;
  const arn = FUNCTION_ARN.exec(raw);
  if (arn) ref = { region: arn[1]!, account: arn[2]!, name: arn[3]!, qualifier: arn[4] };
  const partial = PARTIAL_ARN.exec(raw);
  if (!ref && partial) ref = { region, account: partial[1]!, name: partial[2]!, qualifier: partial[3] };
  const plain = PLAIN_NAME.exec(raw);
  if (!ref && plain) ref = { region, account: LOCAL_ACCOUNT_ID, name: plain[1]!, qualifier: plain[2] };
  if (!ref) {
    throw invalidParameter(
      `Value '${raw}' at 'functionName' failed to satisfy constraint: it must be a function name, partial ARN or ARN`,
    );
  }
  if (queryQualifier !== null) {
    if (ref.qualifier !== undefined && ref.qualifier !== queryQualifier) {
      throw invalidParameter(
        'The derived qualifier from the function name does not match the specified qualifier.',
      );
    }
    ref.qualifier = queryQualifier;
  }
  return ref;
}

function refArn(ref: FunctionRef): string {
  const arn = functionArn(ref.region, ref.name, ref.account);
  return ref.qualifier === undefined ? arn : `${arn}:${ref.qualifier}`;
}

/** What Lambda's Node.js runtime answers for a failed invocation (`X-Amz-Function-Error: Unhandled`). */
export function errorDocument(error: unknown): { errorType: string; errorMessage: string; trace?: string[] } {
  if (!(error instanceof Error)) return { errorType: 'Error', errorMessage: String(error) };
  // A timeout or a dead environment is the platform's report, with no trace of the handler.
  const platform = error instanceof LambdaTimeoutError || error instanceof LambdaExitError;
  return {
    errorType: error.name,
    errorMessage: error.message,
    ...(!platform && error.stack ? { trace: error.stack.split('\n') } : {}),
  };
}

/** The UpdateEventSourceMapping fields the local mappings take; any other is refused by name. */
const UpdateSchema = z.object({ Enabled: z.boolean().optional(), FunctionName: z.string().optional() });

function configuration(mapping: EventSourceMapping, fnArn: string): Record<string, unknown> {
  return {
    UUID: mapping.uuid,
    EventSourceMappingArn: mapping.arn,
    EventSourceArn: mapping.eventSourceArn,
    FunctionArn: fnArn,
    BatchSize: mapping.batchSize,
    MaximumBatchingWindowInSeconds: mapping.maxBatchingWindowSeconds,
    ScalingConfig: { MaximumConcurrency: mapping.maxConcurrency },
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    State: mapping.state,
    StateTransitionReason: 'USER_INITIATED',
    LastModified: mapping.lastModified.getTime() / 1000,
  };
}

export interface LambdaEndpointOptions {
  manifest: Pick<Manifest, 'service' | 'functions'>;
  region: string;
  iam: LocalIam;
  invoke: Invoke;
  mappings: EventSourceMappings;
  host?: string;
  /** 0 (default): a free port. */
  port?: number;
  log?: (message: string) => void;
}

export interface LambdaEndpoint {
  url: string;
  /** Stops answering, then waits for the `Event` invocations still running. */
  close(): Promise<void>;
}

export async function startLambdaEndpoint(opts: LambdaEndpointOptions): Promise<LambdaEndpoint> {
  const { manifest, region, iam } = opts;
  const log = opts.log ?? ((message) => process.stderr.write(`${message}\n`));
  const byDeployedName = new Map(
    Object.keys(manifest.functions).map((key) => [deployedFunctionName(manifest.service, key), key]),
  );
  const background = new Set<Promise<void>>();

  const authorize = async (req: IncomingMessage, body: Buffer, action: string, resource: string) => {
    const signed = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body };
    const denial = await iam.authorize(signed, action, resource);
    if (!denial) return;
    if (denial.reason === 'signature')
      throw new LambdaApiError('InvalidSignatureException', 403, denial.message);
    throw new LambdaApiError('AccessDeniedException', 403, denial.message);
  };

  const invoke = async (req: IncomingMessage, res: ServerResponse, rawName: string, body: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const ref = parseFunctionName(rawName, region, url.searchParams.get('Qualifier'));
    await authorize(req, body, 'lambda:InvokeFunction', refArn(ref));
    const fnKey =
      ref.account === LOCAL_ACCOUNT_ID && ref.region === region ? byDeployedName.get(ref.name) : undefined;
    if (fnKey === undefined || (ref.qualifier !== undefined && !LOCAL_QUALIFIERS.has(ref.qualifier))) {
      throw notFound(`Function not found: ${refArn(ref)}`);
    }
    const type = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
    if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun') {
      throw invalidParameter(
        `Value '${type}' at 'invocationType' failed to satisfy constraint: Event, RequestResponse or DryRun`,
      );
    }
    const limit = type === 'Event' ? MAX_ASYNC_PAYLOAD_BYTES : MAX_SYNC_PAYLOAD_BYTES;
    if (body.length > limit) {
      throw new LambdaApiError(
        'RequestTooLargeException',
        413,
        `Request must be smaller than ${limit} bytes for the InvokeFunction operation`,
        'message',
      );
    }
    let event: unknown;
    try {
      event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new LambdaApiError(
        'InvalidRequestContentException',
        400,
        `Could not parse request body into json: ${(err as Error).message}`,
        'message',
      );
    }
    const headers = { 'x-amzn-requestid': randomUUID(), 'x-amz-executed-version': '$LATEST' };
    if (type === 'DryRun') return void res.writeHead(204, headers).end();
    if (type === 'Event') {
      const run = opts
        .invoke(fnKey, event)
        .then(
          () => undefined,
          (err: unknown) =>
            log(`[lambda] asynchronous invocation of ${ref.name} failed: ${(err as Error).message ?? err}`),
        )
        .finally(() => background.delete(run));
      background.add(run);
      return void res.writeHead(202, headers).end();
    }
    let payload: string;
    const answer: Record<string, string> = { ...headers, 'content-type': 'application/json' };
    try {
      payload = JSON.stringify((await opts.invoke(fnKey, event)) ?? null);
    } catch (err) {
      payload = JSON.stringify(errorDocument(err));
      answer['x-amz-function-error'] = 'Unhandled';
    }
    res.writeHead(200, answer).end(payload);
  };

  const mappingCall = async (req: IncomingMessage, res: ServerResponse, uuid: string, body: Buffer) => {
    const update = req.method === 'PUT';
    await authorize(
      req,
      body,
      update ? 'lambda:UpdateEventSourceMapping' : 'lambda:GetEventSourceMapping',
      eventSourceMappingArn(region, uuid),
    );
    let mapping = opts.mappings.get(uuid);
    if (!mapping) throw notFound('The resource you requested does not exist.');
    const fnArn = liveAliasOf(functionArn(region, deployedFunctionName(manifest.service, mapping.consumer)));
    if (update) {
      const request = parseUpdate(body);
      if (request.FunctionName !== undefined) {
        const ref = parseFunctionName(request.FunctionName, region, null);
        if (refArn(ref) !== fnArn) {
          throw invalidParameter(
            `FunctionName: the local mapping ${uuid} always invokes ${fnArn} (the consumer of queue ${mapping.queue} in the manifest)`,
          );
        }
      }
      if (request.Enabled !== undefined)
        mapping = (await opts.mappings.setEnabled(uuid, request.Enabled)) ?? mapping;
    }
    res
      .writeHead(update ? 202 : 200, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() })
      .end(JSON.stringify(configuration(mapping, fnArn)));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    const segments = path.split('/').filter(Boolean);
    const [version, collection, id, tail] = segments;
    const invocation =
      req.method === 'POST' && segments.length === 4 && collection === 'functions' && tail === 'invocations';
    const mapping =
      (req.method === 'GET' || req.method === 'PUT') &&
      segments.length === 3 &&
      collection === 'event-source-mappings';
    if (version !== API_VERSION || id === undefined || !(invocation || mapping)) {
      throw new LambdaApiError(
        'UnknownOperationException',
        404,
        `The local Lambda answers Invoke, GetEventSourceMapping and UpdateEventSourceMapping, not ${req.method} ${path}`,
      );
    }
    const body = await readBody(req, (invocation ? MAX_SYNC_PAYLOAD_BYTES : MAX_MAPPING_REQUEST_BYTES) + 1);
    let decoded: string;
    try {
      decoded = decodeURIComponent(id);
    } catch {
      throw invalidParameter(`The path segment '${id}' is not a valid URL-encoded name`);
    }
    if (invocation) await invoke(req, res, decoded, body);
    else await mappingCall(req, res, decoded, body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      const error =
        err instanceof LambdaApiError
          ? err
          : new LambdaApiError('ServiceException', 500, 'The local Lambda failed.');
      if (!(err instanceof LambdaApiError)) log(`[lambda] ${(err as Error).stack ?? err}`);
      res
        .writeHead(error.status, {
          'content-type': 'application/json',
          'x-amzn-requestid': randomUUID(),
          'x-amzn-errortype': error.type,
        })
        .end(
          JSON.stringify({
            Type: error.status >= 500 ? 'Service' : 'User',
            [error.messageMember]: error.message,
          }),
        );
    });
  });
  return {
    url: await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0),
    close: async () => {
      await closeNow(server);
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  };
}

function parseUpdate(body: Buffer): z.infer<typeof UpdateSchema> {
  let json: unknown;
  try {
    json = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidParameter('The request body is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalidParameter('The request body must be a JSON object');
  }
  const other = Object.keys(json).find((key) => !Object.hasOwn(UpdateSchema.shape, key));
  if (other !== undefined) {
    throw invalidParameter(
      `${other}: the local event source mappings take Enabled only; the rest is the queue's declaration in the manifest`,
    );
  }
  const parsed = UpdateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidParameter(`${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * The body, read whole. One over `limit` bytes is read to its end without being kept (so that
 * the answer reaches the client), then refused (413).
 */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  if (size > limit) {
    throw new LambdaApiError(
      'RequestTooLargeException',
      413,
      `Request must be smaller than ${limit - 1} bytes for the operation`,
      'message',
    );
  }
  return Buffer.concat(chunks);
}
