import { z } from 'zod';

/**
 * A webhook's stored signing secret (the value of its Secrets Manager secret): the current secret
 * and, after a rotation, the previous one with the end of its grace period. Deliveries sign with
 * every secret `signingSecrets` gives, so a receiver still holding the previous secret verifies
 * them until the grace ends (docs/api.md). One JSON value, so a rotation is one write: the two
 * secrets can never be seen half replaced. A value stored before rotations existed is the plain
 * secret, read as the current one.
 */

const StoredSecretSchema = z.strictObject({
  v: z.literal(1),
  current: z.string().min(1),
  /** When `current` was made (absent for a plain value stored before rotations). */
  rotatedAt: z.iso.datetime().optional(),
  previous: z.string().min(1).optional(),
  previousValidUntil: z.iso.datetime().optional(),
});
export type StoredSecret = z.infer<typeof StoredSecretSchema>;

export function encodeSecret(secret: StoredSecret): string {
  return JSON.stringify(StoredSecretSchema.parse(secret));
}

export function decodeSecret(raw: string): StoredSecret {
  if (raw.startsWith('{')) {
    try {
      const parsed = StoredSecretSchema.safeParse(JSON.parse(raw));
      if (parsed.success) return parsed.data;
    } catch {
      // Not ours: a plain secret that starts with a brace.
    }
  }
  return { v: 1, current: raw };
}

/** The secrets a delivery signs with now: the current one, then the previous one during its grace. */
export function signingSecrets(secret: StoredSecret, now: Date): string[] {
  const previousValid =
    secret.previous !== undefined &&
    secret.previousValidUntil !== undefined &&
    now.getTime() < Date.parse(secret.previousValidUntil);
  return previousValid ? [secret.current, secret.previous as string] : [secret.current];
}

/**
 * `secret` after a rotation to `fresh`: the current one becomes the previous, valid `graceMs` more.
 * A previous secret still in its grace is dropped (a second rotation ends the first one's grace).
 */
export function rotateSecret(secret: StoredSecret, fresh: string, now: Date, graceMs: number): StoredSecret {
  return {
    v: 1,
    current: fresh,
    rotatedAt: now.toISOString(),
    previous: secret.current,
    previousValidUntil: new Date(now.getTime() + graceMs).toISOString(),
  };
}
