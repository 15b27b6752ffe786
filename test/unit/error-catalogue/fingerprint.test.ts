import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fingerprintOf,
  MAX_NORMALIZED_LENGTH,
  normalizeMessage,
} from '#shared/error-catalogue/fingerprint.ts';
import { ErrorQuerySchema, FingerprintSchema } from '#shared/error-catalogue/model.ts';
import {
  FAILURE_DETAIL_TYPES,
  failureOfDeadLetter,
  failureOfEvent,
} from '#shared/error-catalogue/sources.ts';
import { EVENT_TYPES } from '#shared/events/catalogue.ts';

describe('normalizeMessage', () => {
  it.each([
    ['chunk 3 of job 6f1d3c5e-8b0a-5d7e-9c4f-2a1b3c4d5e6f failed', 'chunk <num> of job <uuid> failed'],
    ['object "exports/broken.json" not found', 'object <str> not found'],
    ["collection 'notes' holds 384", 'collection <str> holds <num>'],
    ['read exports/a/b.jsonl: ETIMEDOUT 10.0.0.1:443', 'read <path>: ETIMEDOUT <ip>'],
    ['took 1500ms at 2026-12-07T03:03:08.123Z', 'took <num>ms at <time>'],
    ['digest abc123def4567890 of m_17 and job-12ab', 'digest <hex> of <id> and <id>'],
    ['Timeout on http://127.0.0.1:6333/collections/x', 'Timeout on <url>'],
    ['failed after 3.\n  then  -2.5e3', 'failed after <num>. then <num>'],
  ])('%s → %s', (message, normalized) => {
    expect(normalizeMessage(message)).toBe(normalized);
  });

  it('keeps words, and is bounded', () => {
    expect(normalizeMessage('Unexpected end of JSON input')).toBe('Unexpected end of JSON input');
    expect(normalizeMessage('x '.repeat(2_000)).length).toBeLessThanOrEqual(MAX_NORMALIZED_LENGTH);
  });
});

/** Two values of one kind the normalizer replaces (a number, a uuid, a quoted text, a path, a time). */
const pairOf = <T>(arb: fc.Arbitrary<T>, show: (v: T) => string) =>
  fc.tuple(arb, arb).map(([a, b]) => [show(a), show(b)] as const);
const valuePair = fc.oneof(
  pairOf(fc.nat(), String),
  pairOf(fc.uuid(), String),
  pairOf(fc.string({ unit: fc.constantFrom('a', 'b', '1', ' ', '/', '.'), maxLength: 12 }), (s) => `"${s}"`),
  pairOf(
    fc.array(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 2, maxLength: 4 }),
    (parts) => `exports/${parts.join('/')}.json`,
  ),
  pairOf(fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }), (d) =>
    d.toISOString(),
  ),
);
const template = fc.array(fc.constantFrom('failed', 'chunk', 'of', 'object', 'not found:', 'job', 'after'), {
  minLength: 1,
  maxLength: 6,
});
const fill = (words: string[], values: readonly string[]) =>
  words.map((w, i) => `${w} ${values[i] ?? ''}`).join(' ');

describe('fingerprintOf', () => {
  it('is 16 hex digits, the path parameter the API accepts', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (message, code, origin) => {
        expect(FingerprintSchema.safeParse(fingerprintOf({ message, code, origin })).success).toBe(true);
      }),
    );
  });

  it('the same message shape with other values gives the same fingerprint', () => {
    fc.assert(
      fc.property(template, fc.array(valuePair, { minLength: 6, maxLength: 6 }), (words, pairs) => {
        const key = (values: readonly string[]) => ({
          message: normalizeMessage(fill(words, values)),
          code: 'MigrationFailed',
          origin: 'migration',
        });
        expect(fingerprintOf(key(pairs.map((p) => p[0])))).toBe(fingerprintOf(key(pairs.map((p) => p[1]))));
      }),
    );
  });

  it('another code or origin gives another fingerprint', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (message, code, other, origin) => {
        fc.pre(code !== other);
        expect(fingerprintOf({ message, code, origin })).not.toBe(
          fingerprintOf({ message, code: other, origin }),
        );
        expect(fingerprintOf({ message, code, origin })).not.toBe(
          fingerprintOf({ message, code, origin: `${origin}x` }),
        );
      }),
    );
  });

  it('never throws on any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 3_000 }), (text) => {
        expect(normalizeMessage(text).length).toBeLessThanOrEqual(MAX_NORMALIZED_LENGTH);
      }),
    );
  });
});

describe('failure sources', () => {
  it('selects every *Failed type of the catalogue and the legacy manager.error, nothing else', () => {
    expect(FAILURE_DETAIL_TYPES).toEqual([
      ...EVENT_TYPES.filter((t) => t.endsWith('Failed')),
      'manager.error',
    ]);
    expect(FAILURE_DETAIL_TYPES).toContain('MigrationFailed');
    expect(FAILURE_DETAIL_TYPES).not.toContain('ErrorCatalogued');
    expect(FAILURE_DETAIL_TYPES).not.toContain('ErrorReopened');
  });

  const envelope = (type: string, detail: Record<string, unknown>) => ({
    id: 'e-1',
    time: '2026-12-07T03:00:00Z',
    source: 'vector-platform',
    'detail-type': type,
    detail,
  });

  it('reads an event: its reason, its type as code, the publishing manager, its correlation id', () => {
    const failure = failureOfEvent(
      envelope('MigrationFailed', { reason: 'export could not be parsed', correlationId: 'c-1', jobId: 'j' }),
      (type) => (type === 'MigrationFailed' ? 'migration' : undefined),
    );
    expect(failure).toEqual({
      message: 'export could not be parsed',
      code: 'MigrationFailed',
      origin: 'migration',
      source: 'event',
      ref: 'event:e-1',
      at: '2026-12-07T03:00:00.000Z',
      correlationId: 'c-1',
    });
  });

  it('reads the legacy manager.error as ManagerFailed, and an API 5xx by its route and request id', () => {
    const legacy = failureOfEvent(
      envelope('manager.error', { managerId: 'config', error: 'boom' }),
      () => 'x',
    );
    expect(legacy).toMatchObject({ message: 'boom', code: 'ManagerFailed', origin: 'config' });
    const api = failureOfEvent(
      envelope('ApiRequestFailed', { requestId: 'r-1', routeKey: 'GET /api/v1/x', status: 502 }),
      () => 'api-gateway',
    );
    expect(api).toMatchObject({
      message: 'ApiRequestFailed with status 502',
      origin: 'GET /api/v1/x',
      correlationId: 'r-1',
    });
  });

  it('refuses an event that is not a failure, naming the field', () => {
    expect(() => failureOfEvent(envelope('PlanIndexed', {}), () => undefined)).toThrow(/detail-type/);
  });

  it('reads a dead letter: the queue is the origin, an event in it gives its type and message', () => {
    const now = new Date('2026-12-07T04:00:00Z');
    expect(
      failureOfDeadLetter(
        { queue: 'migrations', messageId: 'm-1', body: '{"jobId":"j","chunkIndex":3}' },
        now,
      ),
    ).toEqual({
      message: 'dead-lettered: {"jobId":"j","chunkIndex":3}',
      code: 'DeadLettered',
      origin: 'migrations',
      source: 'dead-letter',
      ref: 'dlq:migrations:m-1',
      at: now.toISOString(),
    });
    const event = JSON.stringify(envelope('BackupFailed', { reason: 'bucket gone', correlationId: 'c-2' }));
    expect(
      failureOfDeadLetter(
        { queue: 'errorEvents', messageId: 'm-2', body: event, sentAt: '2026-12-07T01:00:00.000Z' },
        now,
      ),
    ).toMatchObject({
      message: 'bucket gone',
      code: 'BackupFailed',
      correlationId: 'c-2',
      at: '2026-12-07T01:00:00.000Z',
    });
  });

  it('any dead-letter body is read, never a crash', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500 }), (body) => {
        const failure = failureOfDeadLetter({ queue: 'q', messageId: 'm', body }, new Date());
        expect(failure.origin).toBe('q');
      }),
    );
  });
});

describe('the list query', () => {
  it('names the field it refuses', () => {
    const issue = (query: Record<string, string>) => ErrorQuerySchema.safeParse(query).error?.issues[0]?.path;
    expect(issue({ status: 'closed' })).toEqual(['status']);
    expect(issue({ since: 'yesterday' })).toEqual(['since']);
    expect(issue({ limit: '0' })).toEqual(['limit']);
    expect(issue({ bogus: '1' })).toEqual([]);
    expect(ErrorQuerySchema.parse({})).toEqual({ limit: 50 });
  });
});
