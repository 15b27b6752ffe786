import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: `x-vp-signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the
 * subscription's secret, and `x-vp-timestamp: <unix seconds>`. Signing the timestamp with the body
 * lets a receiver reject a replayed request (an old timestamp) as well as a forged one; the
 * delivery id (`x-vp-delivery`) lets it drop a retried one it already handled. During a rotation's
 * grace period the header carries one signature per valid secret, comma-separated, the current
 * secret's first (as Stripe's `v1=` list): a receiver accepts the request when any one matches.
 */

export const SIGNATURE_HEADER = 'x-vp-signature';
export const TIMESTAMP_HEADER = 'x-vp-timestamp';
export const DELIVERY_HEADER = 'x-vp-delivery';
/** How old a signed request a receiver should still accept (the documented recommendation). */
export const REPLAY_TOLERANCE_SECONDS = 300;

export function signature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The signature header's value: one signature per secret, comma-separated. */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  return secrets.map((secret) => signature(secret, timestamp, body)).join(',');
}

/** A fresh signing secret: 32 random bytes, base64url (43 characters). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * What a receiver does (docs/api.md shows it): the signature must be the one of this body and
 * timestamp, and the timestamp recent. Returns why it refuses, or undefined when it accepts.
 */
export function verify(
  secret: string,
  headers: { signature?: string; timestamp?: string },
  body: string,
  now: Date = new Date(),
  toleranceSeconds = REPLAY_TOLERANCE_SECONDS,
): string | undefined {
  const timestamp = Number(headers.timestamp);
  if (!headers.timestamp || !Number.isInteger(timestamp)) return 'missing or malformed timestamp';
  if (Math.abs(now.getTime() / 1000 - timestamp) > toleranceSeconds) return 'timestamp outside the tolerance';
  const expected = Buffer.from(signature(secret, timestamp, body));
  const matches = (headers.signature ?? '').split(',').some((value) => {
    const given = Buffer.from(value.trim());
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? undefined : 'signature mismatch';
}
