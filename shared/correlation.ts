import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * The correlation id: one id per request or message, carried from the API (its `x-correlation-id`
 * header, or API Gateway's request id) into every log line, every event's `detail.correlationId`
 * and every SQS message's `correlationId` attribute, so one upload or request can be followed
 * through the functions it touches. Each wrapper runs its handler with the id it received (or a
 * new one); the id lives in AsyncLocalStorage, not a module variable, because the local runtime
 * runs concurrent invocations in one module instance and an SQS batch runs records in parallel.
 */

export const CORRELATION_HEADER = 'x-correlation-id';
/** The SQS message attribute, and the event detail's field. */
export const CORRELATION_ATTRIBUTE = 'correlationId';

/**
 * What an id may be: ids the platform makes (UUIDs, API Gateway's base64 request ids, S3 request
 * ids) and a client's own of the same sort. Nothing else is reflected into logs, headers or events.
 */
export const CorrelationIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:=+/-]{1,128}$/)
  .describe('The id of the request or message that led to this event (see docs/api.md).');

const current = new AsyncLocalStorage<string>();

/** The id of the request or message being handled; undefined outside any wrapper. */
export function correlationId(): string | undefined {
  return current.getStore();
}

/** Runs `fn` with `id` as the correlation id of everything it does. */
export function withCorrelationId<T>(id: string, fn: () => T): T {
  return current.run(id, fn);
}

/** The first candidate that is a valid id; a fresh UUID when none is. */
export function pickCorrelationId(...candidates: unknown[]): string {
  for (const candidate of candidates) {
    const parsed = CorrelationIdSchema.safeParse(candidate);
    if (parsed.success) return parsed.data;
  }
  return randomUUID();
}

/** `value[name]` when `value` is an object: ids are read from events and calls before they are parsed. */
export function fieldOf(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}
