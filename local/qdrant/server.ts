import { mkdir, realpath } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  type Collection,
  CollectionClosedError,
  PointNotFoundError,
  type PointPredicate,
  type QueryInput,
  type UpsertPoint,
} from './collection.ts';
import { checkCollectionPath, QdrantEngine, type QdrantEngineOptions } from './engine.ts';
import {
  collectionNotFound,
  formatError,
  pointNotFound,
  QdrantApiError,
  serviceError,
  validationError,
  wrongInput,
} from './errors.ts';
import { compileFilter, FilterError, isPayloadKey } from './filter.ts';
import { type PointId, parsePointId } from './ids.ts';
import { type Payload, parseKeyPath } from './payload.ts';
import {
  changeAliasesSchema,
  countSchema,
  createCollectionSchema,
  createFieldIndexSchema,
  deletePayloadSchema,
  describeValue,
  PAYLOAD_SCHEMA_TYPES,
  parseBody,
  pointIdSchema,
  pointRequestSchema,
  pointsBatchSchema,
  pointsListSchema,
  pointsSelectorSchema,
  type QueryRequestBody,
  queryBatchSchema,
  queryRequestSchema,
  scrollSchema,
  setPayloadSchema,
  updateCollectionSchema,
} from './schemas.ts';
import { unsupportedTextParam } from './text.ts';

/**
 * The embedded Qdrant-compatible HTTP server (DESIGN.md principle 4): the subset of Qdrant 1.19's
 * REST API the platform uses, on loopback, over QdrantEngine. Answers have Qdrant's envelope
 * (`{result, status: "ok", time}` / `{status: {error}, time}`), status codes and error texts.
 * Writes answer `completed` only once they are applied and fsync'd to the write-ahead log,
 * whatever `wait` says.
 */

export interface QdrantServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface QdrantServerOptions extends Partial<Omit<QdrantEngineOptions, 'dataDir'>> {
  dataDir: string;
  /** 0 or undefined: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * Serve from a worker thread that owns the engine, so that searches use another core than the
   * caller's event loop (the local runtime's gateway and handlers). Same API, same files.
   */
  worker?: boolean;
  /** Where a worker's failure after start is reported (default: stderr). */
  onError?: (error: Error) => void;
}

/** The Qdrant version whose API this server speaks (the client checks major.minor). */
export const QDRANT_VERSION = '1.19.0';
/** Qdrant's default `service.max_request_size_mb`. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export function startQdrantServer(options: QdrantServerOptions): Promise<QdrantServer> {
  return options.worker ? startInWorker(options) : startInProcess(options);
}

async function startInProcess(options: QdrantServerOptions): Promise<QdrantServer> {
  const engine = await QdrantEngine.open(options);
  const server = createServer((request, response) => {
    handle(engine, request, response).catch((err: unknown) => {
      response.destroy(err instanceof Error ? err : undefined);
    });
  });
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await engine.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await engine.close();
      })();
      return closing;
    },
  };
}

/* ------------------------------------------------------------------ worker thread ----- */

/** Marks the workerData of a server worker (other workers may load this module too). */
const WORKER_KIND = 'qdrant-server';

type WorkerOptions = Omit<QdrantServerOptions, 'worker' | 'onError'>;
type ToWorker = { type: 'close' };
type FromWorker =
  | { type: 'listening'; url: string; port: number }
  | { type: 'failed'; message: string }
  | { type: 'closed' };

/**
 * Data directories served by worker threads of this process: a second start on one is refused
 * here, before a worker is started for it (each worker has its own copy of the engine's registry
 * of open directories; the directory lock would refuse it too, naming this process).
 */
const workerDirectories = new Set<string>();

async function startInWorker(options: QdrantServerOptions): Promise<QdrantServer> {
  const { worker: _worker, onError, ...serverOptions } = options;
  await mkdir(options.dataDir, { recursive: true });
  const directory = await realpath(options.dataDir);
  if (workerDirectories.has(directory))
    throw new Error(`data directory ${directory} is already open in this process`);
  workerDirectories.add(directory);
  const report =
    onError ?? ((error: Error) => process.stderr.write(`[qdrant] ${error.stack ?? error.message}\n`));

  const worker = new Worker(new URL(import.meta.url), {
    workerData: { kind: WORKER_KIND, options: serverOptions satisfies WorkerOptions },
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  void exited.then(() => workerDirectories.delete(directory));
  const stop = async () => {
    await worker.terminate();
    workerDirectories.delete(directory);
  };
  let listening: { url: string; port: number };
  try {
    listening = await new Promise((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'listening') resolve(message);
        else if (message.type === 'failed') reject(new Error(message.message));
      });
      worker.once('error', reject);
      void exited.then((code) =>
        reject(new Error(`the Qdrant server worker exited (code ${code}) before listening`)),
      );
    });
  } catch (err) {
    await stop();
    throw err;
  }
  worker.removeAllListeners('message');
  worker.removeAllListeners('error');

  let closing: Promise<void> | undefined;
  let closed: (outcome: FromWorker) => void = () => undefined;
  worker.on('message', (message: FromWorker) => closed(message));
  // After start, a worker failure is reported; requests then fail as with an unreachable Qdrant.
  worker.on('error', (error: Error) => {
    if (!closing) report(error);
  });
  void exited.then((code) => {
    if (!closing) report(new Error(`the Qdrant server worker stopped unexpectedly (exit code ${code})`));
  });

  return {
    url: listening.url,
    port: listening.port,
    close: () => {
      closing ??= (async () => {
        const outcome = new Promise<FromWorker | undefined>((resolve) => {
          closed = resolve;
          void exited.then(() => resolve(undefined));
        });
        worker.postMessage({ type: 'close' } satisfies ToWorker);
        const result = await outcome;
        // Server and engine are closed (or the thread is gone): end the idle thread.
        await stop();
        if (result?.type === 'failed') throw new Error(result.message);
      })();
      return closing;
    },
  };
}

/** The worker side: serve, say where, and close everything when told to (then the thread ends). */
async function serveInWorker(options: WorkerOptions): Promise<void> {
  const parent = parentPort!;
  const post = (message: FromWorker) => parent.postMessage(message);
  let server: QdrantServer;
  try {
    server = await startInProcess(options);
  } catch (err) {
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    return;
  }
  parent.on('message', (message: ToWorker) => {
    if (message.type !== 'close') return;
    server.close().then(
      () => post({ type: 'closed' }),
      (err: unknown) => post({ type: 'failed', message: `close: ${(err as Error).message}` }),
    );
  });
  post({ type: 'listening', url: server.url, port: server.port });
}

if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === WORKER_KIND && parentPort !== null) {
  void serveInWorker((workerData as { options: WorkerOptions }).options);
}

/* ------------------------------------------------------------------ transport --------- */

class PayloadTooLargeError extends QdrantApiError {
  constructor(size: number) {
    super(
      413,
      'QDRANT_PAYLOAD_TOO_LARGE',
      `Payload error: JSON payload (${size} bytes) is larger than allowed (limit: ${MAX_BODY_BYTES} bytes).`,
    );
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new PayloadTooLargeError(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new PayloadTooLargeError(size);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw formatError('EOF while parsing a value at line 1 column 0');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw formatError((err as Error).message);
  }
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json',
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** Maps any failure to Qdrant's error answer; anything unexpected is a 500 with its message (never a stack). */
function toApiError(err: unknown, collectionName: string | undefined): QdrantApiError {
  if (err instanceof QdrantApiError) return err;
  if (err instanceof FilterError) {
    return new QdrantApiError(
      err.message.startsWith('Validation error') ? 422 : 400,
      'QDRANT_FILTER_ERROR',
      err.message,
    );
  }
  if (err instanceof PointNotFoundError) return pointNotFound(err.pointId);
  if (err instanceof CollectionClosedError && collectionName !== undefined)
    return collectionNotFound(collectionName);
  return serviceError(err instanceof Error ? err.message : 'unexpected failure');
}

async function handle(
  engine: QdrantEngine,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const elapsed = (): number => (performance.now() - started) / 1000;
  const method = request.method ?? 'GET';
  // The request target is split by hand: a URL parser would resolve `.` and `..` segments
  // (`/collections/x/index/..` would become `/collections/x`), and Qdrant matches paths literally.
  const target = request.url ?? '/';
  const queryAt = target.indexOf('?');
  const pathname = queryAt < 0 ? target : target.slice(0, queryAt);
  const query = new URLSearchParams(queryAt < 0 ? '' : target.slice(queryAt + 1));
  let segments: string[];
  try {
    segments = pathname.slice(1).split('/').map(decodeURIComponent);
  } catch {
    send(response, 400, {
      status: { error: `Bad request: malformed path ${pathname}` },
      time: elapsed(),
    });
    return;
  }
  const collectionName = segments[0] === 'collections' ? segments[1] : undefined;
  try {
    const body = method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : await readBody(request);
    const matched = pathname.startsWith('/') ? findRoute(method, segments) : undefined;
    if (matched === undefined) {
      send(response, 404, {
        status: { error: `Not found: no route for ${method} ${pathname}` },
        time: elapsed(),
      });
      return;
    }
    if (typeof matched === 'number') {
      send(response, matched, {
        status: { error: `Method ${method} is not allowed on ${pathname}` },
        time: elapsed(),
      });
      return;
    }
    // Path parameters, then query parameters, then the body: the order Qdrant checks them in.
    if (matched.pattern[1] === '{name}') checkCollectionPath(segments[1]!);
    if (method !== 'GET') checkTimeout(query);
    const outcome = await matched.handler({ engine, segments, body });
    if (outcome instanceof RawAnswer) {
      send(response, 200, outcome.body, outcome.contentType);
      return;
    }
    send(response, 200, { result: outcome, status: 'ok', time: elapsed() });
  } catch (err) {
    const apiError = toApiError(err, collectionName);
    send(response, apiError.statusCode, { status: { error: apiError.message }, time: elapsed() });
  }
}

/** An answer outside the `{result, status, time}` envelope (`GET /`, health probes). */
class RawAnswer {
  readonly body: unknown;
  readonly contentType: string;
  constructor(body: unknown, contentType = 'application/json') {
    this.body = body;
    this.contentType = contentType;
  }
}

interface Context {
  engine: QdrantEngine;
  segments: string[];
  body: Buffer;
}

type Handler = (context: Context) => unknown;

/* ------------------------------------------------------------------ routes ------------ */

interface Route {
  method: string;
  /** Path segments; `{…}` matches any non-empty segment. */
  pattern: string[];
  handler: Handler;
}

const ROUTES: Route[] = [];

function route(method: string, path: string, handler: Handler): void {
  ROUTES.push({ method, pattern: path.slice(1).split('/'), handler });
}

/** The route of a request, 405 when the path exists with other methods, undefined when unknown. */
function findRoute(method: string, segments: string[]): Route | 405 | undefined {
  let pathMatched = false;
  for (const candidate of ROUTES) {
    if (candidate.pattern.length !== segments.length) continue;
    const matches = candidate.pattern.every((part, i) =>
      part.startsWith('{') ? segments[i] !== '' : part === segments[i],
    );
    if (!matches) continue;
    pathMatched = true;
    if (candidate.method === method) return candidate;
  }
  return pathMatched ? 405 : undefined;
}

/**
 * Qdrant's `timeout` query parameter (seconds, at least 1), which every route of this server
 * that is not a GET takes. It is checked, not applied: nothing here runs long enough to need it.
 */
function checkTimeout(query: URLSearchParams): void {
  const raw = query.get('timeout');
  if (raw === null) return;
  const deserialize = (reason: string) =>
    new QdrantApiError(
      400,
      'QDRANT_FORMAT_ERROR',
      `Deserialize error in query parameters: timeout: ${reason}`,
    );
  if (raw === '') throw deserialize('cannot parse integer from empty string');
  if (!/^\+?\d+$/.test(raw)) throw deserialize('invalid digit found in string');
  const value = BigInt(raw);
  if (value >= 2n ** 64n) throw deserialize('number too large to fit in target type');
  if (value < 1n)
    throw validationError([`timeout: value ${value} invalid, must be 1 or larger`], 'query parameters');
}

const name = (context: Context): string => context.segments[1]!;
const json = (context: Context): unknown => parseJson(context.body);
const updateResult = (operationId: number) => ({ operation_id: operationId, status: 'completed' });

/** Compiles a request's filter for `collection`, naming where it sits in error messages. */
function filterOf(collection: Collection, value: unknown, where: string): PointPredicate | null {
  if (value === undefined || value === null) return null;
  return compileFilter(value, where, collection.textIndex);
}

route('GET', '/', () => new RawAnswer({ title: 'qdrant - vector search engine', version: QDRANT_VERSION }));
route('GET', '/healthz', () => new RawAnswer('healthz check passed', 'text/plain'));
route('GET', '/livez', () => new RawAnswer('livez check passed', 'text/plain'));
route('GET', '/readyz', () => new RawAnswer('all shards are ready', 'text/plain'));

route('GET', '/collections', ({ engine }) => ({
  collections: engine.listCollections().map((collection) => ({ name: collection })),
}));
route('POST', '/collections/aliases', async (context) => {
  await context.engine.updateAliases(parseBody(changeAliasesSchema, json(context)).actions);
  return true;
});
route('GET', '/aliases', ({ engine }) => ({ aliases: engine.listAliases() }));
route('GET', '/collections/{name}', (context) => context.engine.info(name(context)));
route('PUT', '/collections/{name}', async (context) => {
  await context.engine.createCollection(name(context), parseBody(createCollectionSchema, json(context)));
  return true;
});
route('PATCH', '/collections/{name}', async (context) => {
  await context.engine.updateCollection(name(context), parseBody(updateCollectionSchema, json(context)));
  return true;
});
route('DELETE', '/collections/{name}', (context) => context.engine.deleteCollection(name(context)));
route('GET', '/collections/{name}/exists', (context) => ({ exists: context.engine.exists(name(context)) }));
route('GET', '/collections/{name}/aliases', (context) => ({
  aliases: context.engine.collectionAliases(name(context)),
}));

route('PUT', '/collections/{name}/index', async (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(createFieldIndexSchema, json(context));
  const schema = body.field_schema ?? inferFieldSchema(collection, body.field_name);
  const unsupported =
    typeof schema === 'object' && schema.type === 'text' ? unsupportedTextParam(schema) : undefined;
  if (unsupported !== undefined) throw wrongInput(`field_schema.${unsupported}`);
  return updateResult(await collection.createIndex(body.field_name, schema));
});
route('DELETE', '/collections/{name}/index/{field}', async (context) => {
  const field = context.segments[3]!;
  // Qdrant reads the segment as a JsonPath before looking the collection up (`..` is none).
  if (!isPayloadKey(field)) {
    throw new QdrantApiError(
      400,
      'QDRANT_FORMAT_ERROR',
      `Deserialize error in path parameters: Invalid json path: '${field}' at field_name`,
    );
  }
  const collection = context.engine.collection(name(context));
  return updateResult(await collection.deleteIndex(field));
});

route('GET', '/collections/{name}/points/{id}', (context) => {
  const collection = context.engine.collection(name(context));
  const raw = context.segments[3]!;
  const id = parsePointId(/^\d+$/.test(raw) ? Number(raw) : raw);
  if (id === undefined) throw wrongInput(`Can not recognize "${raw}" as point id`);
  return collection.getPoint(id);
});
route('POST', '/collections/{name}/points', (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(pointRequestSchema, json(context));
  return collection.retrieve(body.ids, body.with_payload ?? true, body.with_vector ?? false);
});
route('PUT', '/collections/{name}/points', async (context) => upsert(context));
route('POST', '/collections/{name}/points/delete', async (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(pointsSelectorSchema, json(context));
  return updateResult(await collection.deletePoints(selectorOf(collection, body, false)));
});
route('POST', '/collections/{name}/points/payload', async (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(setPayloadSchema, json(context));
  return updateResult(
    await collection.setPayload(selectorOf(collection, body, true), body.payload, checkedKey(body.key)),
  );
});
route('PUT', '/collections/{name}/points/payload', async (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(setPayloadSchema, json(context));
  return updateResult(
    await collection.overwritePayload(selectorOf(collection, body, true), body.payload, checkedKey(body.key)),
  );
});
route('POST', '/collections/{name}/points/payload/delete', async (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(deletePayloadSchema, json(context));
  for (const key of body.keys) checkedKey(key);
  return updateResult(await collection.deletePayload(selectorOf(collection, body, true), body.keys));
});
route('POST', '/collections/{name}/points/payload/clear', async (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(pointsSelectorSchema, json(context));
  return updateResult(await collection.clearPayload(selectorOf(collection, body, false)));
});
route('POST', '/collections/{name}/points/scroll', (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(scrollSchema, json(context));
  if (body.order_by !== undefined) throw wrongInput('order_by is not supported by this embedded server');
  return collection.scroll({
    filter: filterOf(collection, body.filter, 'filter'),
    ...(body.offset === undefined ? {} : { offset: body.offset }),
    limit: body.limit ?? 10,
    withPayload: body.with_payload ?? true,
    withVector: body.with_vector ?? false,
  });
});
route('POST', '/collections/{name}/points/count', (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(countSchema, json(context));
  return { count: collection.countPoints(filterOf(collection, body.filter, 'filter')) };
});
route('POST', '/collections/{name}/points/query', (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(queryRequestSchema, json(context));
  return { points: collection.query(toQueryInput(collection, body, '')) };
});
route('POST', '/collections/{name}/points/query/batch', (context) => {
  const collection = context.engine.collection(name(context));
  const body = parseBody(queryBatchSchema, json(context));
  // Every request is checked before any runs, so a bad one fails the batch as a whole.
  const inputs = body.searches.map((search, i) => toQueryInput(collection, search, `searches[${i}].`));
  return inputs.map((input) => ({ points: collection.query(input) }));
});

/* ------------------------------------------------------------------ point handlers ----- */

/** Key paths are validated before anything is logged. */
function checkedKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  try {
    parseKeyPath(key);
  } catch (err) {
    throw wrongInput((err as Error).message);
  }
  return key;
}

type Selector = { ids: PointId[]; filter?: PointPredicate } | { filter: PointPredicate };

/** `points` and/or `filter` (payload operations accept both, narrowing the ids by the filter). */
function selectorOf(
  collection: Collection,
  body: { points?: PointId[]; filter?: unknown },
  allowBoth: boolean,
): Selector {
  const filter = filterOf(collection, body.filter, 'filter');
  if (body.points !== undefined) {
    if (filter === null) return { ids: body.points };
    if (allowBoth) return { ids: body.points, filter };
    throw formatError('data did not match any variant of untagged enum PointsSelector');
  }
  if (filter !== null) return { filter };
  if (allowBoth) throw wrongInput('Either list of point ids or filter must be provided');
  throw formatError('data did not match any variant of untagged enum PointsSelector');
}

/** A dense vector for a collection of dimension `dim`, in any accepted spelling. */
function denseVector(value: unknown, dim: number, where: string): number[] {
  let vector = value;
  if (typeof vector === 'object' && vector !== null && !Array.isArray(vector)) {
    const names = Object.keys(vector);
    const unknownName = names.find((vectorName) => vectorName !== '');
    if (unknownName !== undefined) throw wrongInput(`Not existing vector name error: ${unknownName}`);
    if (names.length === 0)
      throw wrongInput(`${where}: a vector is required, this collection has no optional vectors`);
    vector = (vector as Record<string, unknown>)[''];
  }
  if (!Array.isArray(vector)) {
    throw formatError(`invalid type: ${describeValue(vector)}, expected a vector at ${where}`);
  }
  if (vector.length > 0 && Array.isArray(vector[0])) {
    throw wrongInput('Conversion between multi and regular vectors failed');
  }
  for (let i = 0; i < vector.length; i++) {
    if (typeof vector[i] !== 'number') {
      throw formatError(`invalid type: ${describeValue(vector[i])}, expected f32 at ${where}[${i}]`);
    }
  }
  if (vector.length !== dim)
    throw wrongInput(`Vector dimension error: expected dim: ${dim}, got ${vector.length}`);
  return vector as number[];
}

async function upsert(context: Context): Promise<unknown> {
  const collection = context.engine.collection(name(context));
  const raw = json(context);
  const isObject = typeof raw === 'object' && raw !== null && !Array.isArray(raw);
  let points: UpsertPoint[];
  let mode: 'upsert' | 'insert_only' | 'update_only' | undefined;
  let updateFilter: unknown;
  if (isObject && 'batch' in raw) {
    const body = parseBody(pointsBatchSchema, raw);
    const { ids, payloads } = body.batch;
    let vectors = body.batch.vectors;
    if (typeof vectors === 'object' && vectors !== null && !Array.isArray(vectors)) {
      const unknownName = Object.keys(vectors).find((vectorName) => vectorName !== '');
      if (unknownName !== undefined) throw wrongInput(`Not existing vector name error: ${unknownName}`);
      vectors = (vectors as Record<string, unknown>)[''];
    }
    if (!Array.isArray(vectors)) {
      throw formatError(
        `invalid type: ${describeValue(vectors)}, expected a sequence of vectors at batch.vectors`,
      );
    }
    if (vectors.length !== ids.length || (payloads !== undefined && payloads.length !== ids.length)) {
      throw validationError(['batch: number of ids, vectors and payloads must be equal']);
    }
    points = ids.map((id, i) => ({
      id,
      vector: denseVector(vectors[i], collection.dim, `batch.vectors[${i}]`),
      payload: payloads?.[i] ?? {},
    }));
    mode = body.update_mode;
    updateFilter = body.update_filter;
  } else if (isObject && 'points' in raw) {
    const body = parseBody(pointsListSchema, raw);
    points = body.points.map((point, i) => ({
      id: point.id,
      vector: denseVector(point.vector, collection.dim, `points[${i}].vector`),
      payload: point.payload ?? {},
    }));
    mode = body.update_mode;
    updateFilter = body.update_filter;
  } else {
    throw formatError('data did not match any variant of untagged enum PointInsertOperations');
  }
  const operationId = await collection.upsert(
    points,
    mode,
    filterOf(collection, updateFilter, 'update_filter'),
  );
  return updateResult(operationId);
}

const UNSUPPORTED_QUERIES = [
  'recommend',
  'discover',
  'context',
  'order_by',
  'fusion',
  'rrf',
  'formula',
  'sample',
  'relevance_feedback',
];

/** Validates one query request against the collection and turns it into the engine's input. */
function toQueryInput(collection: Collection, body: QueryRequestBody, prefix: string): QueryInput {
  if (body.prefetch !== undefined) throw wrongInput('prefetch is not supported by this embedded server');
  if (body.lookup_from !== undefined)
    throw wrongInput('lookup_from is not supported by this embedded server');
  if (body.using !== undefined && body.using !== '')
    throw wrongInput(`Not existing vector name error: ${body.using}`);
  const input: QueryInput = {
    filter: filterOf(collection, body.filter, `${prefix}filter`),
    limit: body.limit ?? 10,
    offset: body.offset ?? 0,
    withPayload: body.with_payload ?? false,
    withVector: body.with_vector ?? false,
  };
  if (body.score_threshold !== undefined) input.scoreThreshold = body.score_threshold;
  let query = body.query;
  if (typeof query === 'object' && query !== null && !Array.isArray(query)) {
    const kind = Object.keys(query).find((key) => key === 'nearest' || UNSUPPORTED_QUERIES.includes(key));
    if (kind === undefined) {
      throw formatError(`data did not match any variant of untagged enum QueryInterface at ${prefix}query`);
    }
    if (kind !== 'nearest') throw wrongInput(`query \`${kind}\` is not supported by this embedded server`);
    if ('mmr' in query && (query as { mmr?: unknown }).mmr != null) {
      throw wrongInput('mmr is not supported by this embedded server');
    }
    query = (query as { nearest: unknown }).nearest;
  }
  if (query === undefined || query === null) return input;
  if (typeof query === 'number' || typeof query === 'string') {
    input.nearest = { id: parseBody(pointIdSchema, query) };
  } else {
    input.nearest = denseVector(query, collection.dim, `${prefix}query`);
  }
  return input;
}

/** Without `field_schema`, Qdrant infers the index type from the stored values. */
function inferFieldSchema(collection: Collection, field: string): string {
  const found = collection.scroll({
    filter: null,
    limit: collection.pointsCount,
    withPayload: [field],
    withVector: false,
  });
  for (const point of found.points) {
    let value: unknown = point.payload;
    for (const part of field.split('.')) value = (value as Payload | undefined)?.[part];
    if (Array.isArray(value)) value = value[0];
    if (typeof value === 'string') return 'keyword';
    if (typeof value === 'boolean') return 'bool';
    if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float';
  }
  throw wrongInput(
    `Can't infer field schema for \`${field}\`: provide field_schema (one of ${PAYLOAD_SCHEMA_TYPES.join(', ')})`,
  );
}
