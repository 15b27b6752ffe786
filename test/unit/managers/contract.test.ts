import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { validateConfig } from '#shared/managers/config-store.ts';
import {
  CheckSchema,
  ContractCallSchema,
  ContractReplySchema,
  DescriptionSchema,
  GaugeSchema,
  HealthSchema,
  type HealthStatus,
  MetricsSchema,
  StatusSchema,
  ValidationResultSchema,
  worstOf,
} from '#shared/managers/contract.ts';
import { check, describe as describeManager } from '#shared/managers/contract-handler.ts';
import { statusOf } from '#shared/managers/lifecycle.ts';
import { MANAGER_IDS } from '#shared/managers/specs.ts';
import { declarationOf, healthOf, healthyCheck } from './support.ts';

/** The contract's schemas, `worstOf` and `check()`: what every manager answers and how it is judged. */

const CALL_KINDS = ['describe', 'health', 'status', 'metrics', 'validateConfig', 'start', 'stop', 'action'];

/** Anything JavaScript can hand a parser: boxed values, null prototypes, sparse arrays, maps… */
const anyValue = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
});

/** Objects that look like calls: a known or unknown `call`, and random other fields. */
const callLike = fc
  .record(
    {
      call: fc.oneof(fc.constantFrom(...CALL_KINDS), fc.string()),
      action: anyValue,
      input: anyValue,
      by: anyValue,
      config: anyValue,
      extra: anyValue,
    },
    { requiredKeys: ['call'] },
  )
  .map((r) => r as Record<string, unknown>);

describe('the contract schemas', () => {
  it('accept what the handler answers: health, status, description, validation', () => {
    // Arrange: answers built the way the contract handler builds them.
    const health = healthOf('migration', [healthyCheck('state-store')]);
    const description = describeManager(declarationOf('migration'), ['tasks']);
    // Act & assert
    expect(HealthSchema.parse(health)).toEqual(health);
    expect(StatusSchema.parse(statusOf('migration', undefined))).toEqual({
      managerId: 'migration',
      state: 'running',
      since: null,
      by: 'deployment',
    });
    expect(
      StatusSchema.parse(
        statusOf('migration', {
          state: 'failed',
          since: '2026-01-01T00:00:00.000Z',
          by: 'coordinator',
          lastError: { message: 'disk on fire', at: '2026-01-01T00:00:00.000Z' },
        }),
      ).lastError,
    ).toEqual({ message: 'disk on fire', at: '2026-01-01T00:00:00.000Z' });
    for (const id of MANAGER_IDS) {
      expect(() => DescriptionSchema.parse(describeManager(declarationOf(id), [])), id).not.toThrow();
      expect(() => ValidationResultSchema.parse(validateConfig(id, {})), id).not.toThrow();
      expect(() => ValidationResultSchema.parse(validateConfig(id, { nope: 1 })), id).not.toThrow();
    }
    expect(DescriptionSchema.parse(description).owns.collections).toEqual(['tasks']);
  });

  it('refuse malformed answers: unknown fields, bad statuses, negative latencies, bad gauge names', () => {
    const health = healthOf('migration', [healthyCheck('state-store')]);
    const refused = [
      [HealthSchema, { ...health, extra: true }],
      [HealthSchema, { ...health, status: 'fine' }],
      [HealthSchema, { ...health, managerId: 'nobody' }],
      [HealthSchema, { ...health, checkedAt: 'yesterday' }],
      [CheckSchema, { name: 'x', status: 'healthy', latencyMs: -1 }],
      [CheckSchema, { name: '', status: 'healthy', latencyMs: 1 }],
      [GaugeSchema, { name: 'Bad-Name', help: 'h', value: 1 }],
      [GaugeSchema, { name: 'ok_name', help: 'h', value: 1, labels: { 'bad label': 'x' } }],
      [GaugeSchema, { name: 'ok_name', help: '', value: 1 }],
      [GaugeSchema, { name: 'ok_name', help: 'h', value: Number.POSITIVE_INFINITY }],
      [StatusSchema, { managerId: 'migration', state: 'paused', since: null, by: 'x' }],
      [
        MetricsSchema,
        {
          managerId: 'migration',
          window: { start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:15:00Z' },
          functions: {
            f: { invocations: -1, errors: 0, throttles: 0, durationMs: { p50: null, p95: null, p99: null } },
          },
          totals: { invocations: 0, errors: 0, throttles: 0 },
          gauges: [],
        },
      ],
      [ContractReplySchema, { ok: true }],
      [ContractReplySchema, { ok: false, error: { statusCode: 500, code: 'X' } }],
      [ContractReplySchema, { ok: false, error: { statusCode: 1.5, code: 'X', message: 'm' } }],
      // An error reply is an HTTP error status: a 200 or a 0 would reach the API as its status.
      [ContractReplySchema, { ok: false, error: { statusCode: 200, code: 'X', message: 'm' } }],
      [ContractReplySchema, { ok: false, error: { statusCode: 0, code: 'X', message: 'm' } }],
      [ContractReplySchema, { ok: false, error: { statusCode: 600, code: 'X', message: 'm' } }],
      [ContractReplySchema, { ok: 'yes', result: 1 }],
    ] as const;
    for (const [schema, value] of refused) {
      expect((schema as z.ZodType).safeParse(value).success, JSON.stringify(value)).toBe(false);
    }
  });

  it('parse every well-formed call, and refuse calls with missing or unknown fields', () => {
    expect(ContractCallSchema.parse({ call: 'describe' })).toEqual({ call: 'describe' });
    expect(
      ContractCallSchema.parse({ call: 'action', action: 'redrive', input: { jobId: 'a' }, by: 'me' }),
    ).toEqual({
      call: 'action',
      action: 'redrive',
      input: { jobId: 'a' },
      by: 'me',
    });
    for (const bad of [
      {},
      { call: 'explode' },
      { call: 'describe', extra: 1 },
      { call: 'action', action: 'redrive', input: {} },
      { call: 'action', action: '', input: {}, by: 'me' },
      { call: 'action', action: 'redrive', input: {}, by: '' },
    ]) {
      expect(ContractCallSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('ContractCallSchema refuses any untrusted value with a zod error, never another exception', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, callLike), (value) => {
        let result: ReturnType<typeof ContractCallSchema.safeParse> | undefined;
        try {
          result = ContractCallSchema.safeParse(value);
        } catch (err) {
          throw new Error(`safeParse threw instead of answering: ${String(err)}`);
        }
        if (!result.success) {
          expect(result.error).toBeInstanceOf(z.ZodError);
          expect(() => ContractCallSchema.parse(value)).toThrow(z.ZodError);
        } else {
          // Whatever it accepts is one of the calls, with no field of another call.
          expect(CALL_KINDS).toContain(result.data.call);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('ContractReplySchema accepts exactly the two reply shapes', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.string(),
        fc.integer({ min: 400, max: 599 }),
        (result, message, statusCode) => {
          expect(ContractReplySchema.safeParse({ ok: true, result }).success).toBe(true);
          expect(
            ContractReplySchema.safeParse({ ok: false, error: { statusCode, code: 'CODE', message } })
              .success,
          ).toBe(true);
          expect(ContractReplySchema.safeParse({ ok: false, result }).success).toBe(false);
        },
      ),
    );
  });
});

describe('worstOf', () => {
  it('is the worst status of the checks, healthy when there are none', () => {
    expect(worstOf([])).toBe('healthy');
    expect(worstOf(['healthy', 'healthy'])).toBe('healthy');
    expect(worstOf(['healthy', 'degraded', 'healthy'])).toBe('degraded');
    expect(worstOf(['degraded', 'unhealthy', 'healthy'])).toBe('unhealthy');
    expect(worstOf(['unhealthy'])).toBe('unhealthy');
  });

  it('does not depend on the order of the checks, and is never better than any of them', () => {
    const rank: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };
    fc.assert(
      fc.property(fc.array(fc.constantFrom<HealthStatus>('healthy', 'degraded', 'unhealthy')), (statuses) => {
        const worst = worstOf(statuses);
        expect(worstOf([...statuses].reverse())).toBe(worst);
        for (const s of statuses) expect(rank[worst]).toBeGreaterThanOrEqual(rank[s]);
        if (statuses.length > 0) expect(statuses).toContain(worst);
      }),
    );
  });
});

describe('check()', () => {
  it('times the check and reports it healthy by default, with its detail', async () => {
    const result = await check('qdrant', async () => {
      await new Promise((r) => setTimeout(r, 25));
      return { detail: '3 collections' };
    });
    expect(result).toMatchObject({ name: 'qdrant', status: 'healthy', detail: '3 collections' });
    // The timer may fire up to a millisecond early as performance.now() sees it.
    expect(result.latencyMs).toBeGreaterThanOrEqual(24);
    expect(result.latencyMs).toBeLessThan(5_000);
    // Rounded to hundredths of a millisecond.
    expect(Math.round(result.latencyMs * 100) / 100).toBe(result.latencyMs);
    expect(CheckSchema.parse(result)).toEqual(result);
  });

  it('keeps the status the check answers, and leaves out an empty detail', async () => {
    expect(await check('slow', async () => ({ status: 'degraded', detail: 'slow' }))).toMatchObject({
      status: 'degraded',
      detail: 'slow',
    });
    const nothing = await check('ping', async () => undefined);
    expect(nothing.status).toBe('healthy');
    expect(nothing).not.toHaveProperty('detail');
    expect(await check('empty', async () => ({ detail: '' }))).not.toHaveProperty('detail');
  });

  it('turns a thrown error into unhealthy with its message, timed too', async () => {
    const result = await check('queue', async () => {
      await new Promise((r) => setTimeout(r, 10));
      throw new Error('connect ECONNREFUSED 127.0.0.1:9324');
    });
    expect(result).toMatchObject({
      name: 'queue',
      status: 'unhealthy',
      detail: 'connect ECONNREFUSED 127.0.0.1:9324',
    });
    expect(result.latencyMs).toBeGreaterThanOrEqual(9);
    expect(CheckSchema.parse(result)).toEqual(result);
  });

  it('turns anything thrown (not only an Error) into unhealthy, with what was thrown as detail', async () => {
    for (const thrown of ['a string', null, undefined, 42, { code: 'E' }]) {
      const result = await check('odd', async () => {
        throw thrown;
      });
      expect(result.status, String(thrown)).toBe('unhealthy');
      expect(typeof result.detail, String(thrown)).toBe('string');
      expect(CheckSchema.safeParse(result).success).toBe(true);
    }
    expect((await check('odd', () => Promise.reject('a string'))).detail).toBe('a string');
  });
});
