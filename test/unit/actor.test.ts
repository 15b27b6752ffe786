import { afterEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
});

import { currentActor, withActor } from '#shared/actor.ts';
import { withCorrelationId } from '#shared/correlation.ts';
import { parseEvent } from '#shared/events/publisher.ts';
import { actorOf, httpHandler } from '#shared/http.ts';
import { ContractCallSchema } from '#shared/managers/contract.ts';
import { httpEvent, invoke } from './http/support.ts';
import { RecordingBus } from './managers/support.ts';

/** Who made a request, from the HTTP wrapper to the events published on its behalf. */

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('the actor of a request', () => {
  it('is the token’s user, the role its groups or scopes grant, and the gateway’s source address', () => {
    expect(actorOf(httpEvent())).toEqual({ id: 'tester', role: 'admin', sourceIp: '127.0.0.1' });
    expect(
      actorOf(httpEvent({ claims: { sub: 's-1', username: 'ada', 'cognito:groups': '[readonly]' } })),
    ).toEqual({ id: 'ada', role: 'reader', sourceIp: '127.0.0.1' });
    expect(actorOf(httpEvent({ claims: { sub: 'machine', scope: 'vector-platform/write' } }))).toMatchObject({
      id: 'machine',
      role: 'writer',
    });
    expect(actorOf(httpEvent({ claims: null }))).toEqual({
      id: 'anonymous',
      role: 'public',
      sourceIp: '127.0.0.1',
    });
  });

  it('is on every event published while the request is handled, with its correlation id', async () => {
    const bus = new RecordingBus();
    const handler = httpHandler({ config: false }, async () => {
      await bus.publisher().publish('CollectionDeleted', { collection: 'c' });
      return { actor: currentActor() };
    });
    const res = await invoke(handler, { headers: { 'x-correlation-id': 'corr-1' } });
    expect(res.body.actor).toEqual({ id: 'tester', role: 'admin', sourceIp: '127.0.0.1' });
    const [published] = bus.events;
    expect(published?.detail).toEqual({
      collection: 'c',
      schemaVersion: 1,
      correlationId: 'corr-1',
      actor: { id: 'tester', role: 'admin', sourceIp: '127.0.0.1' },
    });
    // A consumer reads it back with the catalogue.
    expect(
      parseEvent({ source: 'x', 'detail-type': 'CollectionDeleted', detail: published!.detail }).detail,
    ).toMatchObject({ actor: { id: 'tester' } });
  });

  it('is absent outside a request (queues, schedules), and does not leak between concurrent ones', async () => {
    const bus = new RecordingBus();
    await withCorrelationId('c', () => bus.publisher().publish('CollectionDeleted', { collection: 'x' }));
    expect(bus.events[0]?.detail).not.toHaveProperty('actor');
    const seen = await Promise.all(
      ['a', 'b', 'c'].map((id) =>
        withActor({ id, role: 'admin' }, async () => {
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          return currentActor()?.id;
        }),
      ),
    );
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('crosses a contract call as a field the manager’s wrapper parses', () => {
    const call = { call: 'action', action: 'x', input: {}, by: 'ada', actor: { id: 'ada', role: 'admin' } };
    expect(ContractCallSchema.parse(call)).toMatchObject({ actor: { id: 'ada', role: 'admin' } });
    expect(() => ContractCallSchema.parse({ ...call, actor: { id: 'ada', role: 'root' } })).toThrow();
  });
});
