import { createHash, randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LocalIam } from '../iam.ts';
import { listen } from '../listen.ts';
import type { ObjectCreatedEvent, ObjectFacts } from '../notifications.ts';
import {
  AwsChunkedDecoder,
  ChunkedBodyError,
  evaluateConditions,
  parseCompleteMultipartUpload,
  parseDeleteObjects,
  parseRange,
  requestedChecksum,
  runningChecksum,
  S3Error,
  xmlEscape,
} from './protocol.ts';
import {
  compareKeys,
  type ObjectFields,
  type ObjectMeta,
  ObjectStore,
  type StoredChecksum,
} from './store.ts';

/**
 * A small S3-compatible object server for the local runtime, on the file store of `store.ts`.
 * It streams every body (no object or part is ever held in memory) and tells the notifier
 * once an object is durably stored. The subset: buckets (list, head, create, location), objects
 * (put with `aws-chunked` bodies and checksums, get/head with ranges and conditions, copy,
 * delete, delete-objects), ListObjects v1/v2 and multipart uploads (incl. UploadPartCopy).
 * Path-style and `<bucket>.localhost` addressing. Any credentials: authentication is not checked.
 */

export interface S3ObjectListener {
  objectCreated(
    object: ObjectFacts,
    eventName: ObjectCreatedEvent,
    sourceIp: string,
    requestId: string,
  ): void;
}

export interface S3ServerOptions {
  /** Where objects are stored. */
  dataDir: string;
  /** Buckets that exist from the start (created if absent). */
  buckets?: readonly string[];
  host?: string;
  port?: number;
  region?: string;
  notifier?: S3ObjectListener;
  log?: (message: string) => void;
  /** Refuses the calls a function's grants do not allow (AccessDenied), as S3 does. */
  iam?: LocalIam;
}

export interface S3Server {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The IAM permission a request needs. A batch delete needs `s3:DeleteObject` on each of its keys;
 * it is checked once on `<bucket>/*`, which is what the platform's grants name.
 */
function s3Permission(
  method: string,
  bucket: string,
  key: string | undefined,
  query: URLSearchParams,
): { action: string; resource: string } {
  const onBucket = (action: string) => ({ action, resource: `arn:aws:s3:::${bucket}` });
  const onObject = (action: string) => ({ action, resource: `arn:aws:s3:::${bucket}/${key ?? '*'}` });
  if (key === undefined) {
    if (method === 'PUT') return onBucket('s3:CreateBucket');
    if (method === 'POST' && query.has('delete')) return onObject('s3:DeleteObject');
    if (method === 'GET' && query.has('location')) return onBucket('s3:GetBucketLocation');
    return onBucket('s3:ListBucket');
  }
  if (query.has('uploadId') && method === 'DELETE') return onObject('s3:AbortMultipartUpload');
  if (query.has('uploadId') && method === 'GET') return onObject('s3:ListMultipartUploadParts');
  if (method === 'GET' || method === 'HEAD') return onObject('s3:GetObject');
  if (method === 'DELETE') return onObject('s3:DeleteObject');
  return onObject('s3:PutObject');
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MAX_XML_BODY = 1024 * 1024;
const MAX_KEY_BYTES = 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_NUMBER = 10_000;
/** Object headers stored at upload and answered on GET/HEAD as they were sent. */
const STORED_HEADERS = [
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'expires',
];
const RESPONSE_OVERRIDES = [
  'response-content-type',
  'response-content-language',
  'response-expires',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
];

function xmlDocument(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
}

function el(tag: string, value: string | number | boolean): string {
  return `<${tag}>${xmlEscape(String(value))}</${tag}>`;
}

function sendXml(res: ServerResponse, status: number, root: string, inner: string): void {
  const body = xmlDocument(`<${root} xmlns="${XMLNS}">${inner}</${root}>`);
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const notFoundBucket = (bucket: string) =>
  new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { bucket });
const notFoundKey = () => new S3Error(404, 'NoSuchKey', 'The specified key does not exist.');
const notFoundUpload = () =>
  new S3Error(
    404,
    'NoSuchUpload',
    'The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.',
  );

/** Bucket names as S3 allows them (which also keeps them safe as directory names). */
function isBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..');
}

/**
 * Keys the store refuses: `.`/`..` segments and NUL would let a key name a path outside the data
 * directory in a file-per-key store (and confuse tools that map keys to paths); real S3 accepts
 * them, the platform never needs them.
 */
export function checkKey(key: string): void {
  if (key === '') throw new S3Error(400, 'InvalidArgument', 'The object key must not be empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw new S3Error(400, 'KeyTooLongError', 'Your key is too long');
  if (key.includes('\0') || key.split('/').some((s) => s === '.' || s === '..'))
    throw new S3Error(
      400,
      'InvalidArgument',
      'Object keys with "." or ".." segments or NUL characters are refused by the local S3',
    );
}

function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new S3Error(400, 'InvalidURI', 'Could not parse the specified URI.');
  }
}

/** Query keys that do not select an operation: SDK hints and presigned-URL authentication. */
function isNeutralParam(name: string): boolean {
  return name === 'x-id' || name.toLowerCase().startsWith('x-amz-');
}

function operationName(method: string, scope: 'Bucket' | 'Object', param: string): string {
  const verb = method.charAt(0) + method.slice(1).toLowerCase();
  const sub = param
    .split(/[-_]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
  return `${verb}${scope}${sub}`;
}

interface Target {
  bucket: string | undefined;
  key: string | undefined;
  query: URLSearchParams;
  resource: string;
}

function parseTarget(req: IncomingMessage): Target {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  if (!path.startsWith('/')) throw new S3Error(400, 'InvalidURI', 'Could not parse the specified URI.');
  const hostname = (header(req.headers, 'host') ?? '').replace(/:\d+$/, '').toLowerCase();
  if (hostname.endsWith('.localhost') && hostname.length > '.localhost'.length) {
    const bucket = hostname.slice(0, -'.localhost'.length);
    const key = path.length > 1 ? decodePath(path.slice(1)) : undefined;
    return { bucket, key, query, resource: decodePath(path) };
  }
  const slash = path.indexOf('/', 1);
  const bucket = decodePath(slash === -1 ? path.slice(1) : path.slice(1, slash)) || undefined;
  const rawKey = slash === -1 ? '' : path.slice(slash + 1);
  return { bucket, key: rawKey === '' ? undefined : decodePath(rawKey), query, resource: decodePath(path) };
}

/**
 * Reads a small XML request body, refusing anything over MAX_XML_BODY: the rest is left unread
 * (the error answer then closes the connection, see sendError).
 */
async function readXml(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  await new Promise<void>((resolveBody, rejectBody) => {
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_XML_BODY) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.off('end', resolveBody);
      req.pause();
      rejectBody(new S3Error(400, 'MaxMessageLengthExceeded', 'Your request was too big.'));
    };
    req.on('data', onData);
    req.once('end', resolveBody);
    req.once('error', rejectBody);
  });
  const body = Buffer.concat(chunks);
  const encoding = header(req.headers, 'content-encoding') ?? '';
  if (!/aws-chunked/i.test(encoding)) return body.toString('utf8');
  const decoder = new AwsChunkedDecoder();
  const decoded: Buffer[] = [];
  try {
    decoder.write(body, (d) => decoded.push(Buffer.from(d)));
    decoder.end();
  } catch (err) {
    if (err instanceof ChunkedBodyError) throw new S3Error(400, 'IncompleteBody', err.message);
    throw err;
  }
  return Buffer.concat(decoded).toString('utf8');
}

function objectFields(headers: IncomingHttpHeaders): ObjectFields {
  const metadata: Record<string, string> = {};
  const stored: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(',') : value;
    if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = text;
    else if (STORED_HEADERS.includes(name)) stored[name] = text;
  }
  // aws-chunked is the transfer framing, not the object's encoding.
  const encoding = stored['content-encoding']
    ?.split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '' && e.toLowerCase() !== 'aws-chunked')
    .join(',');
  if (encoding) stored['content-encoding'] = encoding;
  else delete stored['content-encoding'];
  return {
    contentType: header(headers, 'content-type') ?? 'application/octet-stream',
    headers: stored,
    metadata,
  };
}

interface Received {
  tempPath: string;
  size: number;
  md5: Buffer;
  checksum?: StoredChecksum;
}

/** A pass-through that counts and digests what flows (after aws-chunked decoding, if any). */
function digestTap(decoder: AwsChunkedDecoder | undefined, sinks: Array<(d: Buffer) => void>) {
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        const forward = (data: Buffer) => {
          for (const sink of sinks) sink(data);
          tap.push(data);
        };
        if (decoder) decoder.write(chunk, forward);
        else forward(chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        decoder?.end();
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  return tap;
}

/** Streams a request body to a temp file, decoding aws-chunked and verifying MD5 and checksums. */
async function receiveBody(req: IncomingMessage, store: ObjectStore): Promise<Received> {
  const chunked =
    /aws-chunked/i.test(header(req.headers, 'content-encoding') ?? '') ||
    (header(req.headers, 'x-amz-content-sha256') ?? '').startsWith('STREAMING-');
  const decoder = chunked ? new AwsChunkedDecoder() : undefined;
  const requested = requestedChecksum(req.headers);
  const running = requested ? runningChecksum(requested.algorithm) : undefined;
  const md5 = createHash('md5');
  let size = 0;
  const sinks: Array<(d: Buffer) => void> = [
    (d) => {
      md5.update(d);
      size += d.length;
    },
  ];
  if (running) sinks.push((d) => running.update(d));
  let tempPath: string;
  try {
    tempPath = await store.receive(req, digestTap(decoder, sinks));
  } catch (err) {
    if (err instanceof ChunkedBodyError) throw new S3Error(400, 'IncompleteBody', err.message);
    if (req.readableAborted || req.destroyed)
      throw new S3Error(400, 'IncompleteBody', 'The request body ended before it was complete.');
    throw err;
  }
  try {
    const digest = md5.digest();
    const declared = header(req.headers, 'x-amz-decoded-content-length');
    if (chunked && declared !== undefined && Number(declared) !== size)
      throw new S3Error(
        400,
        'IncompleteBody',
        'The decoded body length does not match x-amz-decoded-content-length.',
      );
    const contentMd5 = header(req.headers, 'content-md5');
    if (contentMd5 !== undefined && contentMd5 !== digest.toString('base64'))
      throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
    let checksum: StoredChecksum | undefined;
    if (requested && running) {
      const expected = requested.value ?? decoder?.trailers.get(`x-amz-checksum-${requested.algorithm}`);
      const actual = running.digest();
      if (expected !== undefined) {
        if (expected !== actual)
          throw new S3Error(
            400,
            'BadDigest',
            `The ${requested.algorithm.toUpperCase()} you specified did not match the calculated checksum.`,
          );
        checksum = { algorithm: requested.algorithm, value: actual };
      }
    }
    return { tempPath, size, md5: digest, ...(checksum ? { checksum } : {}) };
  } catch (err) {
    await store.discard(tempPath);
    throw err;
  }
}

function objectHeaders(meta: ObjectMeta): Record<string, string> {
  const out: Record<string, string> = {
    etag: `"${meta.etag}"`,
    'last-modified': new Date(meta.lastModified).toUTCString(),
    'content-type': meta.contentType,
    'accept-ranges': 'bytes',
    ...meta.headers,
  };
  for (const [name, value] of Object.entries(meta.metadata)) out[`x-amz-meta-${name}`] = value;
  return out;
}

function conditionHeaders(headers: IncomingHttpHeaders, prefix = '') {
  return {
    'if-match': header(headers, `${prefix}if-match`),
    'if-none-match': header(headers, `${prefix}if-none-match`),
    'if-modified-since': header(headers, `${prefix}if-modified-since`),
    'if-unmodified-since': header(headers, `${prefix}if-unmodified-since`),
  };
}

const preconditionFailed = () =>
  new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded. */
function parseCopySource(value: string): { bucket: string; key: string } {
  const q = value.indexOf('?');
  const decoded = decodePath(q === -1 ? value : value.slice(0, q)).replace(/^\//, '');
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1)
    throw new S3Error(
      400,
      'InvalidArgument',
      'Copy Source must mention the source bucket and key: sourcebucket/sourcekey',
    );
  const key = decoded.slice(slash + 1);
  checkKey(key);
  return { bucket: decoded.slice(0, slash), key };
}

function iso(ms: number | Date): string {
  return new Date(ms).toISOString();
}

interface ListEntry {
  key: string;
  /** True for a common prefix. */
  prefix: boolean;
}

/**
 * One page of a listing in S3's order: keys under `prefix` after `after` (a key, or a common
 * prefix whose keys are all skipped), rolled up into common prefixes at `delimiter`.
 */
function listPage(
  keys: readonly string[],
  opts: { prefix: string; delimiter: string; after: string | undefined; maxKeys: number },
): { entries: ListEntry[]; truncated: boolean } {
  const entries: ListEntry[] = [];
  let truncated = false;
  let lastPrefix: string | undefined;
  for (const key of keys) {
    if (!key.startsWith(opts.prefix)) continue;
    if (opts.after !== undefined && compareKeys(key, opts.after) <= 0) continue;
    let entry: ListEntry = { key, prefix: false };
    if (opts.delimiter !== '') {
      const at = key.indexOf(opts.delimiter, opts.prefix.length);
      if (at !== -1) entry = { key: key.slice(0, at + opts.delimiter.length), prefix: true };
    }
    // A common prefix given back as the continuation point covers all its keys.
    if (
      entry.prefix &&
      (entry.key === lastPrefix || (opts.after !== undefined && compareKeys(entry.key, opts.after) <= 0))
    )
      continue;
    if (entries.length === opts.maxKeys) {
      truncated = true;
      break;
    }
    entries.push(entry);
    if (entry.prefix) lastPrefix = entry.key;
  }
  return { entries, truncated };
}

function parseMaxKeys(value: string | null): number {
  if (value === null) return 1000;
  if (!/^\d{1,9}$/.test(value))
    throw new S3Error(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range');
  return Math.min(Number(value), 1000);
}

function encodeToken(after: string): string {
  return Buffer.from(after, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(token))
    throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect');
  return Buffer.from(token, 'base64url').toString('utf8');
}

export async function startS3Server(opts: S3ServerOptions): Promise<S3Server> {
  const store = await ObjectStore.open(opts.dataDir);
  for (const bucket of opts.buckets ?? []) {
    if (!isBucketName(bucket)) throw new Error(`invalid bucket name: ${bucket}`);
    await store.createBucket(bucket);
  }
  const region = opts.region ?? 'us-east-1';
  const log = opts.log ?? ((m: string) => console.error(m));
  let baseUrl = '';

  const requireBucket = (bucket: string) => {
    if (!store.hasBucket(bucket)) throw notFoundBucket(bucket);
  };

  const created = (
    req: IncomingMessage,
    requestId: string,
    bucket: string,
    meta: ObjectMeta,
    eventName: ObjectCreatedEvent,
  ) => {
    const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    opts.notifier?.objectCreated(
      { bucket, key: meta.key, size: meta.size, eTag: meta.etag },
      eventName,
      sourceIp,
      requestId,
    );
  };

  const listBuckets = (res: ServerResponse) => {
    const buckets = store
      .listBuckets()
      .map((b) => `<Bucket>${el('Name', b.name)}${el('CreationDate', iso(b.created))}</Bucket>`)
      .join('');
    sendXml(
      res,
      200,
      'ListAllMyBucketsResult',
      `<Owner>${el('ID', 'local')}${el('DisplayName', 'local')}</Owner><Buckets>${buckets}</Buckets>`,
    );
  };

  const listObjects = async (res: ServerResponse, bucket: string, query: URLSearchParams) => {
    const v2 = query.get('list-type') === '2';
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const maxKeys = parseMaxKeys(query.get('max-keys'));
    const urlEncoded = query.get('encoding-type') === 'url';
    const enc = (s: string) => (urlEncoded ? encodeURIComponent(s) : s);
    const token = query.get('continuation-token');
    const startAfter = query.get('start-after') ?? undefined;
    const marker = query.get('marker') ?? undefined;
    const after = v2 ? (token !== null ? decodeToken(token) : startAfter) : marker;
    const { entries, truncated } = listPage(await store.keys(bucket), { prefix, delimiter, after, maxKeys });
    const contents: string[] = [];
    const prefixes: string[] = [];
    for (const entry of entries) {
      if (entry.prefix) {
        prefixes.push(`<CommonPrefixes>${el('Prefix', enc(entry.key))}</CommonPrefixes>`);
        continue;
      }
      const meta = await store.head(bucket, entry.key);
      if (!meta) continue; // deleted since the directory was read
      contents.push(
        `<Contents>${el('Key', enc(meta.key))}${el('LastModified', iso(meta.lastModified))}${el('ETag', `"${meta.etag}"`)}${el('Size', meta.size)}${el('StorageClass', 'STANDARD')}</Contents>`,
      );
    }
    const last = entries.at(-1)?.key;
    const head = [
      el('Name', bucket),
      el('Prefix', enc(prefix)),
      ...(delimiter ? [el('Delimiter', enc(delimiter))] : []),
      el('MaxKeys', maxKeys),
      ...(urlEncoded ? [el('EncodingType', 'url')] : []),
      el('IsTruncated', truncated),
    ];
    if (v2) {
      head.push(el('KeyCount', entries.length));
      if (token !== null) head.push(el('ContinuationToken', token));
      if (startAfter !== undefined) head.push(el('StartAfter', enc(startAfter)));
      if (truncated && last !== undefined) head.push(el('NextContinuationToken', encodeToken(last)));
    } else {
      head.push(el('Marker', enc(marker ?? '')));
      if (truncated && last !== undefined) head.push(el('NextMarker', enc(last)));
    }
    sendXml(res, 200, 'ListBucketResult', head.join('') + contents.join('') + prefixes.join(''));
  };

  const deleteObjects = async (req: IncomingMessage, res: ServerResponse, bucket: string) => {
    const { keys, quiet } = parseDeleteObjects(await readXml(req));
    const parts: string[] = [];
    for (const key of keys) {
      try {
        checkKey(key);
        await store.delete(bucket, key);
        if (!quiet) parts.push(`<Deleted>${el('Key', key)}</Deleted>`);
      } catch (err) {
        if (!(err instanceof S3Error)) throw err;
        parts.push(`<Error>${el('Key', key)}${el('Code', err.code)}${el('Message', err.message)}</Error>`);
      }
    }
    sendXml(res, 200, 'DeleteResult', parts.join(''));
  };

  const bucketRequest = async (
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    query: URLSearchParams,
  ) => {
    const method = req.method ?? 'GET';
    const params = [...query.keys()].filter((k) => !isNeutralParam(k));
    const listParams = [
      'list-type',
      'prefix',
      'delimiter',
      'max-keys',
      'continuation-token',
      'start-after',
      'fetch-owner',
      'encoding-type',
      'marker',
    ];
    if (method === 'PUT' && params.length === 0) {
      if (!isBucketName(bucket))
        throw new S3Error(400, 'InvalidBucketName', 'The specified bucket is not valid.', { bucket });
      await readXml(req); // an optional CreateBucketConfiguration: the local S3 has one region
      await store.createBucket(bucket);
      res.writeHead(200, { location: `/${bucket}`, 'content-length': 0 });
      res.end();
      return;
    }
    requireBucket(bucket);
    if (method === 'HEAD' && params.length === 0) {
      res.writeHead(200, { 'x-amz-bucket-region': region });
      res.end();
      return;
    }
    if (method === 'GET' && params.length === 1 && params[0] === 'location') {
      const body = xmlDocument(
        `<LocationConstraint xmlns="${XMLNS}">${region === 'us-east-1' ? '' : xmlEscape(region)}</LocationConstraint>`,
      );
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (method === 'GET' && params.every((p) => listParams.includes(p)))
      return listObjects(res, bucket, query);
    if (method === 'POST' && params.length === 1 && params[0] === 'delete')
      return deleteObjects(req, res, bucket);
    const param = params.find((p) => !listParams.includes(p));
    throw new S3Error(
      501,
      'NotImplemented',
      `${param ? operationName(method, 'Bucket', param) : `${method} on a bucket`} is not implemented by the local S3`,
    );
  };

  const getObject = async (
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    key: string,
    query: URLSearchParams,
  ) => {
    const opened = await store.open(bucket, key);
    if (!opened) throw notFoundKey();
    const { meta, handle } = opened;
    let streaming = false;
    try {
      const outcome = evaluateConditions(conditionHeaders(req.headers), meta.etag, meta.lastModified);
      if (outcome === 'precondition-failed') throw preconditionFailed();
      const headers = objectHeaders(meta);
      if (outcome === 'not-modified') {
        res.writeHead(304, { etag: headers.etag!, 'last-modified': headers['last-modified']! });
        res.end();
        return;
      }
      const range = parseRange(header(req.headers, 'range'), meta.size);
      if (range.kind === 'unsatisfiable')
        throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', {
          'content-range': `bytes */${meta.size}`,
        });
      for (const name of RESPONSE_OVERRIDES) {
        const value = query.get(name);
        if (value !== null) headers[name.slice('response-'.length)] = value;
      }
      let status = 200;
      let start = 0;
      let end = meta.size - 1;
      if (range.kind === 'range') {
        status = 206;
        ({ start, end } = range);
        headers['content-range'] = `bytes ${start}-${end}/${meta.size}`;
      } else if (meta.checksum && /^enabled$/i.test(header(req.headers, 'x-amz-checksum-mode') ?? '')) {
        // Only on whole-object answers: a client would check it against whatever body it gets.
        headers[`x-amz-checksum-${meta.checksum.algorithm}`] = meta.checksum.value;
        headers['x-amz-checksum-type'] = 'FULL_OBJECT';
      }
      headers['content-length'] = String(end - start + 1);
      res.writeHead(status, headers);
      if (req.method === 'HEAD' || meta.size === 0) {
        res.end();
        return;
      }
      streaming = true;
      await pipeline(handle.createReadStream({ start, end, autoClose: true }), res);
    } finally {
      if (!streaming) await handle.close();
    }
  };

  /** The source of a copy, opened, after its `x-amz-copy-source-if-*` conditions. */
  const openCopySource = async (
    req: IncomingMessage,
  ): Promise<{ meta: ObjectMeta; handle: FileHandle; bucket: string }> => {
    const source = parseCopySource(header(req.headers, 'x-amz-copy-source') ?? '');
    requireBucket(source.bucket);
    const opened = await store.open(source.bucket, source.key);
    if (!opened) throw notFoundKey();
    const outcome = evaluateConditions(
      conditionHeaders(req.headers, 'x-amz-copy-source-'),
      opened.meta.etag,
      opened.meta.lastModified,
    );
    if (outcome !== 'proceed') {
      await opened.handle.close();
      throw preconditionFailed();
    }
    return { ...opened, bucket: source.bucket };
  };

  /** Streams (a range of) an opened object into a temp file with its MD5. */
  const copyBytes = async (handle: FileHandle, range?: { start: number; end: number }) => {
    const md5 = createHash('md5');
    let size = 0;
    const tempPath = await store.receive(
      handle.createReadStream({ autoClose: true, ...(range ?? {}) }) as Readable,
      digestTap(undefined, [
        (d) => {
          md5.update(d);
          size += d.length;
        },
      ]),
    );
    return { tempPath, size, md5: md5.digest('hex') };
  };

  const copyObject = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    bucket: string,
    key: string,
  ) => {
    const source = await openCopySource(req);
    const replace = (header(req.headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase() === 'REPLACE';
    if (!replace && source.bucket === bucket && source.meta.key === key) {
      await source.handle.close();
      throw new S3Error(
        400,
        'InvalidRequest',
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
      );
    }
    const copied = await copyBytes(source.handle);
    const fields = replace
      ? objectFields(req.headers)
      : {
          contentType: source.meta.contentType,
          headers: source.meta.headers,
          metadata: source.meta.metadata,
        };
    const meta = await store.put(bucket, key, copied.tempPath, {
      ...fields,
      size: copied.size,
      etag: copied.md5,
      ...(source.meta.checksum && !source.meta.etag.includes('-') ? { checksum: source.meta.checksum } : {}),
    });
    created(req, requestId, bucket, meta, 'ObjectCreated:Copy');
    sendXml(
      res,
      200,
      'CopyObjectResult',
      el('LastModified', iso(meta.lastModified)) + el('ETag', `"${meta.etag}"`),
    );
  };

  const putObject = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    bucket: string,
    key: string,
  ) => {
    const fields = objectFields(req.headers);
    const body = await receiveBody(req, store);
    const meta = await store.put(bucket, key, body.tempPath, {
      ...fields,
      size: body.size,
      etag: body.md5.toString('hex'),
      ...(body.checksum ? { checksum: body.checksum } : {}),
    });
    created(req, requestId, bucket, meta, 'ObjectCreated:Put');
    res.writeHead(200, {
      etag: `"${meta.etag}"`,
      'content-length': 0,
      ...(body.checksum ? { [`x-amz-checksum-${body.checksum.algorithm}`]: body.checksum.value } : {}),
    });
    res.end();
  };

  const uploadOf = async (uploadId: string | null, bucket: string, key: string) => {
    const upload = uploadId === null ? undefined : await store.getUpload(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key) throw notFoundUpload();
    return upload;
  };

  const uploadPart = async (
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    key: string,
    query: URLSearchParams,
  ) => {
    const partNumber = Number(query.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER)
      throw new S3Error(
        400,
        'InvalidArgument',
        'Part number must be an integer between 1 and 10000, inclusive',
      );
    const upload = await uploadOf(query.get('uploadId'), bucket, key);
    if (header(req.headers, 'x-amz-copy-source') !== undefined) {
      const source = await openCopySource(req);
      const rangeHeader = header(req.headers, 'x-amz-copy-source-range');
      const range = parseRange(rangeHeader, source.meta.size);
      if (rangeHeader !== undefined && range.kind !== 'range') {
        await source.handle.close();
        throw new S3Error(
          400,
          'InvalidArgument',
          'The x-amz-copy-source-range value must be of the form bytes=first-last',
        );
      }
      const copied = await copyBytes(source.handle, range.kind === 'range' ? range : undefined);
      const part = await store.putPart(upload.uploadId, partNumber, copied.tempPath, {
        size: copied.size,
        etag: copied.md5,
      });
      sendXml(
        res,
        200,
        'CopyPartResult',
        el('LastModified', iso(part.lastModified)) + el('ETag', `"${part.etag}"`),
      );
      return;
    }
    const body = await receiveBody(req, store);
    const part = await store.putPart(upload.uploadId, partNumber, body.tempPath, {
      size: body.size,
      etag: body.md5.toString('hex'),
    });
    res.writeHead(200, {
      etag: `"${part.etag}"`,
      'content-length': 0,
      ...(body.checksum ? { [`x-amz-checksum-${body.checksum.algorithm}`]: body.checksum.value } : {}),
    });
    res.end();
  };

  const createUpload = async (req: IncomingMessage, res: ServerResponse, bucket: string, key: string) => {
    const upload = await store.createUpload(bucket, key, objectFields(req.headers));
    const algorithm = header(req.headers, 'x-amz-checksum-algorithm');
    if (algorithm) res.setHeader('x-amz-checksum-algorithm', algorithm);
    sendXml(
      res,
      200,
      'InitiateMultipartUploadResult',
      el('Bucket', bucket) + el('Key', key) + el('UploadId', upload.uploadId),
    );
  };

  const completeUpload = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    bucket: string,
    key: string,
    uploadId: string | null,
  ) => {
    const upload = await uploadOf(uploadId, bucket, key);
    const requested = parseCompleteMultipartUpload(await readXml(req));
    const stored = new Map((await store.parts(upload.uploadId)).map((p) => [p.partNumber, p]));
    const parts = requested.map((wanted, i) => {
      const previous = requested[i - 1];
      if (previous && wanted.partNumber <= previous.partNumber)
        throw new S3Error(
          400,
          'InvalidPartOrder',
          'The list of parts was not in ascending order. Parts must be ordered by part number.',
        );
      const part = stored.get(wanted.partNumber);
      if (!part || part.etag !== wanted.etag)
        throw new S3Error(
          400,
          'InvalidPart',
          "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
        );
      return part;
    });
    for (const part of parts.slice(0, -1)) {
      if (part.size < MIN_PART_SIZE)
        throw new S3Error(
          400,
          'EntityTooSmall',
          'Your proposed upload is smaller than the minimum allowed object size.',
        );
    }
    const tempPath = await store.concatenate(upload.uploadId, parts);
    const etag = `${createHash('md5')
      .update(Buffer.concat(parts.map((p) => Buffer.from(p.etag, 'hex'))))
      .digest('hex')}-${parts.length}`;
    const meta = await store.put(bucket, key, tempPath, {
      contentType: upload.contentType,
      headers: upload.headers,
      metadata: upload.metadata,
      size: parts.reduce((sum, p) => sum + p.size, 0),
      etag,
    });
    await store.removeUpload(upload.uploadId);
    created(req, requestId, bucket, meta, 'ObjectCreated:CompleteMultipartUpload');
    sendXml(
      res,
      200,
      'CompleteMultipartUploadResult',
      el('Location', `${baseUrl}/${bucket}/${encodeURIComponent(key)}`) +
        el('Bucket', bucket) +
        el('Key', key) +
        el('ETag', `"${etag}"`),
    );
  };

  const listParts = async (res: ServerResponse, bucket: string, key: string, query: URLSearchParams) => {
    const upload = await uploadOf(query.get('uploadId'), bucket, key);
    const marker = Number(query.get('part-number-marker') ?? 0) || 0;
    const maxParts = Math.min(parseMaxKeys(query.get('max-parts')), 1000);
    const after = (await store.parts(upload.uploadId)).filter((p) => p.partNumber > marker);
    const page = after.slice(0, maxParts);
    const truncated = after.length > page.length;
    const items = page
      .map(
        (p) =>
          `<Part>${el('PartNumber', p.partNumber)}${el('LastModified', iso(p.lastModified))}${el('ETag', `"${p.etag}"`)}${el('Size', p.size)}</Part>`,
      )
      .join('');
    sendXml(
      res,
      200,
      'ListPartsResult',
      el('Bucket', bucket) +
        el('Key', key) +
        el('UploadId', upload.uploadId) +
        el('PartNumberMarker', marker) +
        (truncated ? el('NextPartNumberMarker', page.at(-1)!.partNumber) : '') +
        el('MaxParts', maxParts) +
        el('IsTruncated', truncated) +
        el('StorageClass', 'STANDARD') +
        items,
    );
  };

  const objectRequest = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    bucket: string,
    key: string,
    query: URLSearchParams,
  ) => {
    const method = req.method ?? 'GET';
    checkKey(key);
    requireBucket(bucket);
    const params = [...query.keys()].filter((k) => !isNeutralParam(k));
    const only = (...names: string[]) =>
      params.length === names.length && names.every((n) => params.includes(n));
    if ((method === 'GET' || method === 'HEAD') && params.every((p) => RESPONSE_OVERRIDES.includes(p)))
      return getObject(req, res, bucket, key, query);
    if (method === 'PUT' && params.length === 0)
      return header(req.headers, 'x-amz-copy-source') !== undefined
        ? copyObject(req, res, requestId, bucket, key)
        : putObject(req, res, requestId, bucket, key);
    if (method === 'PUT' && only('partNumber', 'uploadId')) return uploadPart(req, res, bucket, key, query);
    if (method === 'DELETE' && params.length === 0) {
      await store.delete(bucket, key);
      res.writeHead(204);
      res.end();
      return;
    }
    if (method === 'POST' && only('uploads')) return createUpload(req, res, bucket, key);
    if (method === 'POST' && only('uploadId'))
      return completeUpload(req, res, requestId, bucket, key, query.get('uploadId'));
    if (method === 'DELETE' && only('uploadId')) {
      const upload = await uploadOf(query.get('uploadId'), bucket, key);
      await store.removeUpload(upload.uploadId);
      res.writeHead(204);
      res.end();
      return;
    }
    if (
      method === 'GET' &&
      params.every((p) => ['uploadId', 'max-parts', 'part-number-marker', 'encoding-type'].includes(p))
    )
      return listParts(res, bucket, key, query);
    const param = params.find((p) => !RESPONSE_OVERRIDES.includes(p));
    throw new S3Error(
      501,
      'NotImplemented',
      `${param ? operationName(method, 'Object', param) : `${method} on an object`} is not implemented by the local S3`,
    );
  };

  const sendError = (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    resource: string,
    err: S3Error,
  ) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (req.method === 'HEAD') {
      res.writeHead(err.status, err.headers);
      res.end();
      return;
    }
    // A body left unread (refused before or while reading it) is not drained: close instead.
    if (!req.complete) res.setHeader('connection', 'close');
    const body = xmlDocument(
      `<Error>${el('Code', err.code)}${el('Message', err.message)}${el('Resource', resource)}${el('RequestId', requestId)}</Error>`,
    );
    res.writeHead(err.status, {
      ...err.headers,
      'content-type': 'application/xml',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', randomBytes(24).toString('base64'));
    res.setHeader('server', 'LocalS3');
    let resource = req.url ?? '/';
    try {
      const target = parseTarget(req);
      resource = target.resource;
      const method = req.method ?? 'GET';
      if (!['GET', 'HEAD', 'PUT', 'POST', 'DELETE'].includes(method))
        throw new S3Error(
          405,
          'MethodNotAllowed',
          'The specified method is not allowed against this resource.',
        );
      if (target.bucket === undefined) {
        if (method === 'GET') return listBuckets(res);
        throw new S3Error(
          405,
          'MethodNotAllowed',
          'The specified method is not allowed against this resource.',
        );
      }
      const needed = s3Permission(method, target.bucket, target.key, target.query);
      // S3 requests carry their payload's hash as a header: the body is not needed to check them.
      const request = { method, url: req.url ?? '/', headers: req.headers };
      const denial = await opts.iam?.authorize(request, needed.action, needed.resource);
      if (denial) {
        throw new S3Error(
          403,
          denial.reason === 'signature' ? 'SignatureDoesNotMatch' : 'AccessDenied',
          denial.message,
        );
      }
      if (target.key === undefined) return await bucketRequest(req, res, target.bucket, target.query);
      return await objectRequest(req, res, requestId, target.bucket, target.key, target.query);
    } catch (err) {
      if (err instanceof S3Error) return sendError(req, res, requestId, resource, err);
      if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return; // client went away
      log(`[s3] ${req.method} ${req.url} failed: ${(err as Error).stack ?? err}`);
      sendError(
        req,
        res,
        requestId,
        resource,
        new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.'),
      );
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  baseUrl = await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0);
  const port = Number(new URL(baseUrl).port);

  let closing: Promise<void> | undefined;
  return {
    url: baseUrl,
    port,
    close: () => {
      closing ??= new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeIdleConnections();
        // Requests in flight get a moment to finish; then what remains is cut.
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      return closing;
    },
  };
}
