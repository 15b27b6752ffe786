import { AsyncLocalStorage } from 'node:async_hooks';
import { z } from 'zod';
import { ROLES } from './auth/roles.ts';

/**
 * Who made the request being handled: the token's user (or machine client), the role its claims
 * grant and the address the gateway saw. The HTTP wrapper sets it for each request
 * (`correlatedHttp`), the coordinator passes it on in its contract calls, and the event publisher
 * adds it to every event published on the request's behalf (`detail.actor`), as it adds the
 * correlation id: one typed way, so no handler copies it by hand. Like the correlation id it lives
 * in AsyncLocalStorage, since concurrent invocations share one module instance locally.
 */

export const ActorSchema = z
  .strictObject({
    /** The token's `username` (people), else its `sub` (a machine client's id); `anonymous` without one. */
    id: z.string().min(1).max(256),
    /** The highest role the token's groups or scopes grant (`public` without a token). */
    role: z.enum(ROLES),
    /** The client's address as API Gateway (or the local gateway) saw it. */
    sourceIp: z.string().min(1).max(64).optional(),
  })
  .describe('Who made the request that led to this event: user or client, role, source address.');
export type Actor = z.infer<typeof ActorSchema>;

const current = new AsyncLocalStorage<Actor>();

/** The actor of the request being handled; undefined outside a request (queues, schedules, scripts). */
export function currentActor(): Actor | undefined {
  return current.getStore();
}

/** Runs `fn` on behalf of `actor` (nothing changes when it is undefined). */
export function withActor<T>(actor: Actor | undefined, fn: () => T): T {
  return actor === undefined ? fn() : current.run(actor, fn);
}
