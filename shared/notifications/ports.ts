/**
 * The edges of the notifications manager, each with an AWS adapter (`shared/adapters/`) that the
 * local runtime serves with its own endpoints (Secrets Manager, SES v2, SQS).
 */

/** Webhook signing secrets, by name (Secrets Manager). */
export interface SecretStore {
  /** Creates the secret, or gives an existing one a new value. */
  put(name: string, value: string): Promise<void>;
  /** Gives an existing secret a new value (never creates one: a rotation needs no more). */
  replace(name: string, value: string): Promise<void>;
  get(name: string): Promise<string>;
  /** Deletes it at once (no recovery window); a missing secret is not an error. */
  delete(name: string): Promise<void>;
}

/** Sends a complete RFC 5322 message (SES v2 SendEmail, raw content). */
export interface EmailSender {
  send(message: { from: string; to: readonly string[]; raw: Uint8Array }): Promise<{ messageId: string }>;
}

/** Puts a received message back on its queue later (SQS ChangeMessageVisibility): the retry backoff. */
export interface Redelivery {
  later(receiptHandle: string, seconds: number): Promise<void>;
}
