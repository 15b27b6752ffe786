import { randomBytes } from 'node:crypto';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import type { NotificationDecl } from '../infra/manifest.ts';
import type { Invoke } from './functions.ts';
import type { S3ObjectListener } from './s3/server.ts';

/**
 * S3 bucket notifications for the local runtime. The local S3 (`s3/server.ts`) tells the notifier
 * once it has durably stored an object (PutObject, CopyObject, CompleteMultipartUpload — whatever
 * the client: SDK, `aws s3 cp`, presigned URL), and the matching notifications invoke their
 * function with the S3 event S3 sends, asynchronously and with Lambda's two retries for
 * asynchronous invocations.
 */

export type ObjectCreatedEvent =
  | 'ObjectCreated:Put'
  | 'ObjectCreated:Copy'
  | 'ObjectCreated:CompleteMultipartUpload';

/** The object key as S3 writes it in events: URL-encoded, spaces as `+`, slashes kept. */
export function encodeEventKey(key: string): string {
  return encodeURIComponent(key).replaceAll('%20', '+').replaceAll('%2F', '/');
}

export function matchesNotification(decl: Pick<NotificationDecl, 'prefix' | 'suffix'>, key: string): boolean {
  return key.startsWith(decl.prefix) && (decl.suffix === undefined || key.endsWith(decl.suffix));
}

let sequence = 0;
/** S3's `sequencer`: a hex string that orders events for the same key. */
export function nextSequencer(): string {
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

export interface NotifierOptions {
  /** The bucket the notifications are declared on; objects of other buckets notify nothing. */
  bucket: string;
  notifications: readonly NotificationTarget[];
  invoke: Invoke;
  region: string;
  /** Delays before Lambda's retries of a failed asynchronous invocation (Lambda: ~1 and ~2 minutes). */
  retryDelaysMs?: readonly number[];
  log?: (message: string) => void;
}

/**
 * The local S3's listener (`objectCreated`: called before the client is answered, so that
 * `settled()` called after the client has its 200 covers the delivery, which runs asynchronously).
 */
export interface Notifier extends S3ObjectListener {
  /** Resolves once every notification already triggered has been delivered (or has failed for good). */
  settled(): Promise<void>;
  /** Ends pending retry waits and waits for deliveries in flight; idempotent. */
  close(): Promise<void>;
}

export function createNotifier(opts: NotifierOptions): Notifier {
  const log = opts.log ?? ((m: string) => console.error(m));
  const retryDelays = opts.retryDelaysMs ?? [1_000, 2_000];
  const pending = new Set<Promise<void>>();
  /** Retry waits in progress; closing ends them at once. */
  const waits = new Map<NodeJS.Timeout, () => void>();
  let closed = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolveSleep) => {
      const t = setTimeout(() => {
        waits.delete(t);
        resolveSleep();
      }, ms);
      waits.set(t, resolveSleep);
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

  const settled = async () => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };

  let closing: Promise<void> | undefined;
  return {
    objectCreated(object, eventName, sourceIp, requestId) {
      if (closed || object.bucket !== opts.bucket) return;
      const targets = opts.notifications.filter((n) => matchesNotification(n, object.key));
      if (targets.length === 0) return;
      // Started on the next turn, after the server has answered, as S3 notifies after the fact.
      const work = new Promise<void>((resolveTurn) => setImmediate(resolveTurn))
        .then(() =>
          Promise.all(
            targets.map((t) =>
              deliver(
                t.function,
                buildS3Event({
                  object,
                  eventName,
                  configurationId: t.id,
                  region: opts.region,
                  sourceIp,
                  requestId,
                }),
                object.key,
              ),
            ),
          ),
        )
        .then(
          () => undefined,
          (err: unknown) => log(`[s3-notifications] notification failed: ${(err as Error).message}`),
        );
      pending.add(work);
      void work.finally(() => pending.delete(work));
    },
    settled,
    close: () => {
      closing ??= (async () => {
        closed = true;
        for (const [t, wake] of waits) {
          clearTimeout(t);
          wake();
        }
        waits.clear();
        await settled();
      })();
      return closing;
    },
  };
}
