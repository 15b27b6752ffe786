import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { WEBHOOK_TIMEOUT_MS } from './settings.ts';
import { DELIVERY_HEADER, SIGNATURE_HEADER, signatureHeader, TIMESTAMP_HEADER } from './signing.ts';
import { type CheckedTarget, checkTarget, type TargetPolicy } from './ssrf.ts';

/** A failed attempt; `permanent` when trying again cannot help (a refused target, a 4xx answer). */
export class DeliveryError extends Error {
  readonly permanent: boolean;
  readonly responseStatus: number | undefined;
  constructor(message: string, permanent: boolean, responseStatus?: number) {
    super(message);
    this.name = 'DeliveryError';
    this.permanent = permanent;
    this.responseStatus = responseStatus;
  }
}

/** Answers worth another attempt: timeouts, throttling, the receiver's own errors. */
const RETRIED_STATUSES = new Set([408, 425, 429]);

/**
 * POSTs a signed JSON body to a webhook: the target is checked (ssrf.ts) and the connection made
 * to the address checked, the request's Host and TLS name staying the URL's. Resolves with the
 * receiver's status (2xx); throws DeliveryError otherwise.
 */
export async function postWebhook(
  rawUrl: string,
  body: string,
  opts: { secrets: readonly string[]; deliveryId: string; policy: TargetPolicy; now?: () => Date },
): Promise<{ status: number }> {
  let target: CheckedTarget;
  try {
    target = await checkTarget(rawUrl, opts.policy, 'channel.url');
  } catch (err) {
    throw new DeliveryError((err as Error).message, true);
  }
  const timestamp = Math.floor((opts.now?.() ?? new Date()).getTime() / 1000);
  const status = await send(target, body, {
    'content-type': 'application/json',
    'user-agent': 'vector-platform-notifications',
    [DELIVERY_HEADER]: opts.deliveryId,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: signatureHeader(opts.secrets, timestamp, body),
  });
  if (status >= 200 && status < 300) return { status };
  const permanent = status < 500 && !RETRIED_STATUSES.has(status);
  throw new DeliveryError(`the webhook answered ${status}`, permanent, status);
}

function send(target: CheckedTarget, body: string, headers: Record<string, string>): Promise<number> {
  // Every lookup of this request answers the checked address (no second resolution).
  const pinned: LookupFunction = (_host, options, callback) => {
    if (options.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const request = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target.url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: pinned,
        timeout: WEBHOOK_TIMEOUT_MS,
        // Redirects are not followed (node:http never does): a 3xx is an answer, not a new target.
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', (err) =>
          reject(new DeliveryError(`reading the answer failed: ${err.message}`, false)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${WEBHOOK_TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(new DeliveryError(`the webhook call failed: ${err.message}`, false)));
    req.end(body);
  });
}
