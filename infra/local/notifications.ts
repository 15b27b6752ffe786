import { randomBytes } from 'node:crypto';
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import type { NotificationDecl } from '../manifest.ts';
import type { Invoke } from './functions.ts';

/**
 * S3 bucket notifications for the local runtime. fauxqs (the local S3) has none, so the S3
 * endpoint the platform and its users talk to is this thin proxy in front of fauxqs's S3: every
 * request is streamed through unchanged, and once fauxqs has accepted an object-creating request
 * (PutObject, CopyObject, CompleteMultipartUpload — whatever the client: SDK, `aws s3 cp`,
 * presigned URL) the matching notifications invoke their function with the S3 event S3 sends,
 * asynchronously and with Lambda's two retries for asynchronous invocations.
 */

export type ObjectCreatedEvent =
  | 'ObjectCreated:Put'
  | 'ObjectCreated:Copy'
  | 'ObjectCreated:CompleteMultipartUpload';

export interface ObjectCreatingRequest {
  bucket: string;
  key: string;
  eventName: ObjectCreatedEvent;
}

function isIpv4(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

function decodeKey(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** Query parameters that do not change what a PUT does (SDK operation hints, presigned-URL auth). */
function isNeutralQueryKey(key: string): boolean {
  return key === 'x-id' || key.toLowerCase().startsWith('x-amz-');
}

/**
 * Which object a request creates, if it is one of S3's object-creating operations; undefined for
 * every other request (reads, part uploads, bucket operations, sub-resources such as `?tagging`).
 * Path-style (`/bucket/key`) and virtual-hosted (`bucket.localhost`) addressing, as fauxqs accepts.
 */
export function classifyS3Request(
  method: string,
  url: string,
  headers: { host?: string | undefined; 'x-amz-copy-source'?: string | string[] | undefined },
): ObjectCreatingRequest | undefined {
  if (method !== 'PUT' && method !== 'POST') return undefined;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const queryKeys = q === -1 ? [] : [...new URLSearchParams(url.slice(q + 1)).keys()];
  if (!path.startsWith('/')) return undefined;

  const hostname = (headers.host ?? '').replace(/:\d+$/, '');
  const virtual = hostname.includes('.') && !isIpv4(hostname) && !hostname.startsWith('[');
  let bucket: string;
  let rawKey: string;
  if (virtual) {
    bucket = hostname.slice(0, hostname.indexOf('.'));
    rawKey = path.slice(1);
  } else {
    const slash = path.indexOf('/', 1);
    if (slash === -1) return undefined;
    bucket = path.slice(1, slash);
    rawKey = path.slice(slash + 1);
  }
  if (bucket === '' || rawKey === '') return undefined;
  const key = decodeKey(rawKey);
  if (key === undefined) return undefined;

  if (method === 'PUT') {
    if (!queryKeys.every(isNeutralQueryKey)) return undefined;
    return {
      bucket,
      key,
      eventName: headers['x-amz-copy-source'] ? 'ObjectCreated:Copy' : 'ObjectCreated:Put',
    };
  }
  if (queryKeys.includes('uploadId') && !queryKeys.includes('uploads')) {
    return { bucket, key, eventName: 'ObjectCreated:CompleteMultipartUpload' };
  }
  return undefined;
}

/** True when an object key has a `.` or `..` segment (see the proxy's refusal below). */
export function hasDotSegment(key: string): boolean {
  return key.split('/').some((s) => s === '.' || s === '..');
}

/** The object key as S3 writes it in events: URL-encoded, spaces as `+`, slashes kept. */
export function encodeEventKey(key: string): string {
  return encodeURIComponent(key).replaceAll('%20', '+').replaceAll('%2F', '/');
}

export function matchesNotification(decl: Pick<NotificationDecl, 'prefix' | 'suffix'>, key: string): boolean {
  return key.startsWith(decl.prefix) && (decl.suffix === undefined || key.endsWith(decl.suffix));
}

let sequence = 0;
/** S3's `sequencer`: a hex string that orders events for the same key. */
function nextSequencer(): string {
  sequence = (sequence + 1) % 0x10000;
  return (Date.now() * 0x10000 + sequence).toString(16).toUpperCase().padStart(18, '0');
}

export interface ObjectFacts {
  bucket: string;
  key: string;
  size: number;
  eTag: string;
  versionId?: string;
}

export function buildS3Event(opts: {
  object: ObjectFacts;
  eventName: ObjectCreatedEvent;
  configurationId: string;
  region: string;
  sourceIp: string;
  requestId: string;
  eventTime?: Date;
}): S3Event {
  const { object } = opts;
  const record: S3EventRecord = {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: opts.region,
    eventTime: (opts.eventTime ?? new Date()).toISOString(),
    eventName: opts.eventName,
    userIdentity: { principalId: 'AWS:LOCAL' },
    requestParameters: { sourceIPAddress: opts.sourceIp },
    responseElements: {
      'x-amz-request-id': opts.requestId,
      'x-amz-id-2': randomBytes(48).toString('base64'),
    },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: opts.configurationId,
      bucket: {
        name: object.bucket,
        ownerIdentity: { principalId: 'LOCAL' },
        arn: `arn:aws:s3:::${object.bucket}`,
      },
      object: {
        key: encodeEventKey(object.key),
        size: object.size,
        eTag: object.eTag,
        sequencer: nextSequencer(),
        ...(object.versionId ? { versionId: object.versionId } : {}),
      },
    },
  };
  return { Records: [record] };
}

export interface NotificationTarget extends NotificationDecl {
  /** The notification's id in events (`configurationId`). */
  id: string;
}

export interface S3NotificationProxyOptions {
  /** fauxqs's base URL (`http://127.0.0.1:port`). */
  upstream: string;
  /** The bucket the notifications are declared on. */
  bucket: string;
  notifications: readonly NotificationTarget[];
  invoke: Invoke;
  region: string;
  host?: string;
  port?: number;
  /** Delays before Lambda's retries of a failed asynchronous invocation (Lambda: ~1 and ~2 minutes). */
  retryDelaysMs?: readonly number[];
  log?: (message: string) => void;
}

export interface S3NotificationProxy {
  url: string;
  port: number;
  /** Resolves once every notification already triggered has been delivered (or has failed for good). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'expect',
  'upgrade',
  'proxy-connection',
  'te',
]);

function forwardHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

function s3Error(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startS3NotificationProxy(
  opts: S3NotificationProxyOptions,
): Promise<S3NotificationProxy> {
  const upstream = new URL(opts.upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const log = opts.log ?? ((m: string) => console.error(m));
  const retryDelays = opts.retryDelaysMs ?? [1_000, 2_000];
  const pending = new Set<Promise<void>>();
  /** Retry waits in progress; closing ends them at once. */
  const waits = new Map<NodeJS.Timeout, () => void>();
  let closed = false;

  const track = (work: Promise<void>) => {
    pending.add(work);
    work.finally(() => pending.delete(work));
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolveSleep) => {
      const t = setTimeout(() => {
        waits.delete(t);
        resolveSleep();
      }, ms);
      waits.set(t, resolveSleep);
    });

  /** Size, ETag and version of the object as stored, asked of fauxqs itself. */
  const headObject = (bucket: string, key: string): Promise<ObjectFacts | undefined> =>
    new Promise((resolveHead) => {
      const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
      const req = request(
        { host: upstream.hostname, port: upstream.port, method: 'HEAD', path, agent },
        (res) => {
          res.resume();
          const etag = res.headers.etag;
          if (res.statusCode !== 200 || !etag) return resolveHead(undefined);
          const version = res.headers['x-amz-version-id'];
          resolveHead({
            bucket,
            key,
            size: Number(res.headers['content-length'] ?? 0),
            eTag: etag.replaceAll('"', ''),
            ...(typeof version === 'string' && version !== 'null' ? { versionId: version } : {}),
          });
        },
      );
      req.on('error', () => resolveHead(undefined));
      req.end();
    });

  const deliver = async (fnName: string, event: S3Event, key: string) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await opts.invoke(fnName, event);
        return;
      } catch (err) {
        const retryIn = retryDelays[attempt];
        if (closed || retryIn === undefined) {
          log(
            `[s3-notifications] ${fnName} failed for s3://${opts.bucket}/${key}, giving up: ${(err as Error).message}`,
          );
          return;
        }
        log(
          `[s3-notifications] ${fnName} failed for s3://${opts.bucket}/${key} (${(err as Error).message}); retrying`,
        );
        await sleep(retryIn);
        if (closed) return;
      }
    }
  };

  const notify = async (created: ObjectCreatingRequest, sourceIp: string, requestId: string) => {
    const targets = opts.notifications.filter((n) => matchesNotification(n, created.key));
    if (targets.length === 0) return;
    const object = await headObject(created.bucket, created.key);
    if (!object) return; // overwritten or deleted meanwhile: S3 would still notify, but with nothing to read
    await Promise.all(
      targets.map((t) =>
        deliver(
          t.function,
          buildS3Event({
            object,
            eventName: created.eventName,
            configurationId: t.id,
            region: opts.region,
            sourceIp,
            requestId,
          }),
          created.key,
        ),
      ),
    );
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const created = classifyS3Request(req.method ?? 'GET', url, req.headers);
    const watched = created !== undefined && created.bucket === opts.bucket && opts.notifications.length > 0;
    if (created && hasDotSegment(created.key)) {
      // fauxqs's file storage maps keys to paths under the data directory; a `..` segment would
      // write outside it. Real S3 accepts such keys; the platform never needs them.
      req.resume();
      return s3Error(
        res,
        400,
        'InvalidArgument',
        'Object keys with "." or ".." segments are refused by the local S3',
      );
    }

    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: url,
        headers: forwardHeaders(req.headers),
        agent,
      },
      (upRes) => {
        const status = upRes.statusCode ?? 502;
        const headers = forwardHeaders(upRes.headers);
        if (!watched || status !== 200) {
          res.writeHead(status, headers);
          upRes.pipe(res);
          return;
        }
        // Registered before the client can see the answer, so `settled()` called after a
        // successful upload always covers its notification.
        let release!: () => void;
        const answered = new Promise<void>((r) => {
          release = r;
        });
        const requestId = String(
          upRes.headers['x-amz-request-id'] ?? randomBytes(8).toString('hex').toUpperCase(),
        );
        const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
        let ok = true;
        track(
          answered
            .then(() => (ok ? notify(created, sourceIp, requestId) : undefined))
            .catch((err: unknown) => {
              log(`[s3-notifications] notification failed: ${(err as Error).message}`);
            }),
        );
        if (created.eventName !== 'ObjectCreated:CompleteMultipartUpload') {
          res.writeHead(status, headers);
          upRes.pipe(res);
          upRes.on('end', release);
          upRes.on('error', () => {
            ok = false;
            release();
          });
          return;
        }
        // CompleteMultipartUpload can fail with a 200 whose body is an <Error>: read it first.
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('error', () => {
          ok = false;
          release();
          res.destroy();
        });
        upRes.on('end', () => {
          const body = Buffer.concat(chunks);
          ok = !body.includes('<Error>');
          res.writeHead(status, { ...headers, 'content-length': String(body.length) });
          res.end(body);
          release();
        });
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) s3Error(res, 502, 'BadGateway', `local S3 unavailable: ${err.message}`);
      else res.destroy();
    });
    req.pipe(up);
  };

  const server = createServer(handle);
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '127.0.0.1';
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;

  const settled = async () => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    settled,
    close: () => {
      closing ??= (async () => {
        closed = true;
        for (const [t, wake] of waits) {
          clearTimeout(t);
          wake();
        }
        waits.clear();
        // Deliveries in flight may still read the object through this endpoint: let them end.
        const stopped = new Promise<void>((r) => server.close(() => r()));
        await settled();
        server.closeAllConnections();
        await stopped;
        agent.destroy();
      })();
      return closing;
    },
  };
}
