import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { ConflictError } from '#shared/errors.ts';
import { LEASE_MS, LEASE_PK, PlanLease } from '#shared/plans/lease.ts';

let dir: string;
let state: FileStateStore;
let now = 1_000_000;
const clock = () => now;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vp-plan-lease-'));
  state = new FileStateStore({ dir });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const acquire = (planId: string, field = 'planId') => PlanLease.acquire(state, planId, field, clock);

async function refusal(promise: Promise<unknown>): Promise<ConflictError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConflictError);
  return err as ConflictError;
}

describe('a plan lease', () => {
  it('is held by one request at a time, and refuses the others naming the plan and the field', async () => {
    const held = await acquire('a.md');
    const err = await refusal(acquire('a.md', 'id'));
    expect(err.message).toBe(
      'plan "a.md" is being indexed or deleted by another request; retry in 60 s at most',
    );
    expect(err.issues).toEqual([{ field: 'id', reason: 'the plan is being written by another request' }]);
    // Another plan is not concerned.
    await (await acquire('b.md')).release();
    await held.release();
    await (await acquire('a.md')).release();
  });

  it('is given to exactly one of several requests taking it at once', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        PlanLease.acquire(new FileStateStore({ dir }), 'race.md', 'planId', clock),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConflictError);
  });

  it('is extended by its holder once a quarter of it has run, without a write before', async () => {
    const held = await acquire('extended.md');
    const version = (await state.get(LEASE_PK, 'extended.md'))!.version;
    now += LEASE_MS / 8;
    await held.keep();
    expect((await state.get(LEASE_PK, 'extended.md'))!.version).toBe(version);
    now += LEASE_MS / 4;
    await held.keep();
    expect(await state.get(LEASE_PK, 'extended.md')).toMatchObject({
      version: version + 1,
      value: { expiresAt: now + LEASE_MS },
    });
    // Kept alive past its first expiry.
    now += (3 * LEASE_MS) / 4;
    await refusal(acquire('extended.md'));
    await held.release();
  });

  it('is taken over once expired (its holder died), and its old holder then stops and frees nothing', async () => {
    const dead = await acquire('crashed.md');
    now += LEASE_MS + 1;
    const next = await acquire('crashed.md');
    const err = await refusal(dead.keep());
    expect(err.message).toContain('"crashed.md"');
    expect(err.issues).toEqual([{ field: 'planId', reason: 'taken over by another request' }]);
    // A late release by the old holder leaves the new holder's lease in place.
    await dead.release();
    await refusal(acquire('crashed.md'));
    await next.release();
  });

  it('is kept by a holder past its expiry when no one took it over', async () => {
    const slow = await acquire('slow.md');
    now += 2 * LEASE_MS;
    await slow.keep();
    await refusal(acquire('slow.md'));
    await slow.release();
  });

  it('is released after a write that failed, which is answered with its own error', async () => {
    const held = await acquire('failing.md');
    await expect(
      held.around(async () => {
        throw new Error('qdrant down');
      }),
    ).rejects.toThrow('qdrant down');
    await (await acquire('failing.md')).release();
  });
});
