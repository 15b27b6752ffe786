import { S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { LocalRuntime } from '#local/runtime.ts';
import type { Group } from '#shared/auth/roles.ts';
import type { JobView } from '#shared/migrations/service.ts';

/**
 * What the integration tests share: calls to a local runtime's HTTP API, an S3 client on its
 * exports bucket (any credentials work locally), waiting for a migration job to end or for any
 * condition, and a queue's message counts. The suites that also run against a deployed stage
 * reach the platform through `testTarget` (target.ts), which builds on these.
 */

/**
 * `call(method, path, body?, headers?)` against `baseUrl()` (read per call: a test may restart its
 * runtime), with `Authorization: Bearer <token()>` when a token source is given and the call sets
 * no `authorization` of its own. `send` is `fetch` unless the target needs another (a deployed
 * stage's waits out 429s: see target.ts).
 */
export function apiCaller(
  baseUrl: () => string,
  token?: () => Promise<string>,
  send: (url: string, init: RequestInit) => Promise<Response> = fetch,
) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const auth: Record<string, string> =
      token && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')
        ? { authorization: `Bearer ${await token()}` }
        : {};
    const res = await send(`${baseUrl()}${path}`, {
      method,
      headers:
        body === undefined
          ? { ...auth, ...headers }
          : { 'content-type': 'application/json', ...auth, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
}

/**
 * Tokens from a runtime's issuer for people in `groups` (default an administrator), made once per
 * issuer (a restarted runtime may listen elsewhere) and renewed before they expire.
 */
export function tokenFor(
  runtime: () => LocalRuntime,
  groups: readonly Group[] = ['admin'],
): () => Promise<string> {
  let cached: { issuer: string; token: string; renewAt: number } | undefined;
  return async () => {
    const rt = runtime();
    if (!cached || cached.issuer !== rt.issuer || Date.now() > cached.renewAt) {
      cached = {
        issuer: rt.issuer,
        token: await rt.issueToken({ groups }),
        renewAt: Date.now() + 30 * 60_000,
      };
    }
    return cached.token;
  };
}

/**
 * One caller per platform role against a runtime's API (`path` below its URL, `/api/v1` by
 * default): an administrator, a user (writer) and a read-only person.
 */
export function callersByRole(runtime: () => LocalRuntime, path = '/api/v1') {
  const base = () => `${runtime().apiUrl}${path}`;
  return {
    admin: apiCaller(base, tokenFor(runtime)),
    writer: apiCaller(base, tokenFor(runtime, ['user'])),
    reader: apiCaller(base, tokenFor(runtime, ['readonly'])),
  };
}

export function s3ClientOf(runtime: LocalRuntime): S3Client {
  return new S3Client({
    region: runtime.region,
    endpoint: runtime.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** The migration job once it has ended (completed or failed); after `ms`, fails with its last state. */
export async function migrationFinished(
  call: ReturnType<typeof apiCaller>,
  id: string,
  ms = 60_000,
): Promise<JobView> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { status, body } = await call('GET', `/api/v1/migrations/${id}`);
    if (status !== 200)
      throw new Error(`GET /api/v1/migrations/${id} answered ${status}: ${JSON.stringify(body)}`);
    const job = body as JobView;
    if (job.status === 'completed' || job.status === 'failed') return job;
    if (Date.now() > deadline) {
      throw new Error(
        `migration ${id} did not end in ${ms} ms; last seen: ${JSON.stringify({ status: job.status, chunks: job.chunks })}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls `probe` until it returns a value (not undefined); fails naming `what` after `ms`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${ms} ms)`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls `condition` until it holds; fails naming `what` after `ms`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 15_000,
): Promise<void> {
  await eventually(what, async () => ((await condition()) ? true : undefined), ms);
}

/** A queue's messages as SQS approximates them: visible, and received but not deleted (hidden). */
export async function messageCounts(
  sqs: SQSClient,
  url: string,
): Promise<{ visible: number; hidden: number }> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages),
    hidden: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

/** The message counts of a runtime's manifest queue, read as the account's administrator. */
export async function queueCounts(
  runtime: LocalRuntime,
  queue: string,
): Promise<{ visible: number; hidden: number }> {
  const sqs = new SQSClient({
    region: runtime.region,
    endpoint: runtime.sqsEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const url = runtime.queueUrls[queue]?.url;
    if (!url) throw new Error(`the runtime has no queue ${queue}`);
    return await messageCounts(sqs, url);
  } finally {
    sqs.destroy();
  }
}
