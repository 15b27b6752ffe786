import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { buildApp } from 'fauxqs';
import { LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import { closeNow, listen } from './listen.ts';

/**
 * Local SQS: fauxqs's SQS served by our own loopback listener. fauxqs's own `startFauxqs` listens
 * on every interface and cannot be told otherwise, so its app is never bound to a socket: each
 * request is handed to it in memory (`inject`) once the caller's grants allow it, and a call the
 * calling function is not granted gets SQS's AccessDenied.
 */

export interface SqsEndpoint {
  url: string;
  close(): Promise<void>;
}

/** SQS's largest request (a 256 KiB message batch, with room for JSON escaping). */
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;

export async function startSqsEndpoint(opts: {
  host: string;
  port: number;
  region: string;
  iam: LocalIam;
  /**
   * Where queues and their messages are kept (fauxqs's SQLite persistence), so messages waiting
   * in a queue (a stopped manager's, a migration's chunks) survive a restart as they do in SQS.
   */
  dataDir: string;
}): Promise<SqsEndpoint> {
  const persistent = await persistentStores(opts.dataDir);
  const app = buildApp({ logger: false, defaultRegion: opts.region, stores: persistent.stores });
  await app.ready();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_REQUEST_BYTES) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks);
    const call = describeCall(req, body.toString('utf8'), opts.region);
    const request = { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body };
    const denial = call && (await opts.iam.authorize(request, call.action, call.resource));
    if (denial) {
      sendDenied(
        res,
        call.json,
        denial.reason === 'signature' ? 'SignatureDoesNotMatch' : 'AccessDenied',
        denial.message,
      );
      return;
    }
    const reply = await app.inject({
      method: req.method as 'GET' | 'POST',
      url: req.url ?? '/',
      headers: req.headers,
      payload: body,
    });
    res.writeHead(reply.statusCode, reply.headers as Record<string, string>);
    res.end(reply.rawPayload);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return {
    url: await listen(server, opts.host, opts.port),
    close: async () => {
      await closeNow(server);
      await app.close();
      persistent.close();
    },
  };
}

type FauxqsStores = NonNullable<NonNullable<Parameters<typeof buildApp>[0]>['stores']>;

/**
 * fauxqs's stores with its SQLite persistence under `dataDir`, wired as its own `startFauxqs`
 * wires them. `startFauxqs` cannot be used (it listens on 0.0.0.0, not loopback), and the
 * package exports neither the stores nor the persistence that `buildApp({ stores })` takes: they
 * are loaded by path from the exactly pinned version (package.json), whose layout this relies on.
 */
async function persistentStores(dataDir: string): Promise<{ stores: FauxqsStores; close(): void }> {
  const entry = import.meta.resolve('fauxqs');
  const load = (path: string) => import(new URL(path, entry).href);
  const [{ SqsStore }, { SnsStore }, { S3Store }, { PersistenceManager }] = await Promise.all([
    load('./sqs/sqsStore.js'),
    load('./sns/snsStore.js'),
    load('./s3/s3Store.js'),
    load('./persistence.js'),
  ]);
  const stores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
  const persistence = new PersistenceManager(dataDir);
  // fauxqs 2.4.1 writes NULL receive counts when a message turns visible again (visibility 0 or
  // expiry), which its own schema refuses (NOT NULL): the message was lost from the in-flight set
  // and the call failed. Turning visible clears the receipt and the deadline only.
  const ready = persistence.db.prepare(
    'UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE message_id = ?',
  );
  persistence.updateMessageReady = (messageId: string) => ready.run(messageId);
  // Loaded before persistence is attached, as fauxqs does: loading must not write back.
  persistence.loadSqsAndSns(stores.sqsStore, stores.snsStore);
  stores.sqsStore.persistence = persistence;
  stores.snsStore.persistence = persistence;
  for (const queue of stores.sqsStore.allQueues()) queue.persistence = persistence;
  return { stores: stores as FauxqsStores, close: () => persistence.close() };
}

/**
 * The IAM action and resource of an SQS call, in either protocol the SDKs speak: AWS JSON 1.0
 * (`X-Amz-Target: AmazonSQS.SendMessage`, the JS SDK) or the query protocol (`Action=…`, the
 * AWS CLI 2.9). Batch operations need the single operation's permission, as in IAM.
 */
export function describeCall(
  req: Pick<IncomingMessage, 'headers' | 'url'>,
  body: string,
  region: string,
): { action: string; resource: string; json: boolean } | undefined {
  const target = req.headers['x-amz-target'];
  let operation: string | undefined;
  let queueUrl: string | undefined;
  let queueName: string | undefined;
  const json = typeof target === 'string';
  if (json) {
    operation = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : undefined;
    try {
      const parsed = JSON.parse(body) as { QueueUrl?: unknown; QueueName?: unknown };
      if (typeof parsed.QueueUrl === 'string') queueUrl = parsed.QueueUrl;
      if (typeof parsed.QueueName === 'string') queueName = parsed.QueueName;
    } catch {
      // fauxqs answers the malformed body itself.
    }
  } else {
    const params = new URLSearchParams(body || new URL(req.url ?? '/', 'http://local').search);
    operation = params.get('Action') ?? undefined;
    queueUrl = params.get('QueueUrl') ?? undefined;
    queueName = params.get('QueueName') ?? undefined;
  }
  if (!operation) return undefined;
  const name = queueUrl ? queueUrl.split('/').filter(Boolean).pop() : queueName;
  return {
    action: `sqs:${operation.replace(/Batch$/, '')}`,
    resource: `arn:aws:sqs:${region}:${LOCAL_ACCOUNT_ID}:${name ?? '*'}`,
    json,
  };
}

function sendDenied(res: ServerResponse, json: boolean, code: string, message: string): void {
  const requestId = randomUUID();
  if (json) {
    res.writeHead(403, {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': requestId,
      // SQS's JSON protocol names the query-protocol error code here; the SDK reads it.
      'x-amzn-query-error': `${code};Sender`,
    });
    const type = code === 'AccessDenied' ? 'AccessDeniedException' : 'InvalidSignatureException';
    res.end(JSON.stringify({ __type: `com.amazon.coral.service#${type}`, message }));
    return;
  }
  res.writeHead(403, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
  res.end(
    `<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message><Detail/></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  );
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
