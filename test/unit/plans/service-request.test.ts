import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AppError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '#shared/errors.ts';
import { readIndexRequest } from '#shared/plans/request.ts';
import { PlanQuerySchema, SearchTasksBodySchema } from '#shared/plans/schemas.ts';
import { parseWith } from '#shared/validation.ts';

/** The body of POST /plans (raw markdown or JSON) and the other plan request schemas. */

const MAX = 6 * 1024 * 1024;

function event(options: {
  contentType?: string;
  body?: string;
  base64?: boolean;
  query?: Record<string, string>;
}): APIGatewayProxyEventV2 {
  return {
    headers: options.contentType ? { 'Content-Type': options.contentType } : {},
    body: options.body,
    isBase64Encoded: options.base64 ?? false,
    queryStringParameters: options.query,
  } as unknown as APIGatewayProxyEventV2;
}

function failure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('POST /plans body', () => {
  it('takes a raw markdown body with the plan id in the query', () => {
    const request = readIndexRequest(
      event({
        contentType: 'text/markdown; charset=utf-8',
        body: '# Plan\n- [ ] é',
        query: { planId: 'a/b.md' },
      }),
      MAX,
    );
    expect(request).toEqual({ planId: 'a/b.md', markdown: Buffer.from('# Plan\n- [ ] é') });
  });

  it('keeps the bytes of a binary body (another encoding than UTF-8)', () => {
    const bytes = Buffer.from([0x2d, 0x20, 0x5b, 0x20, 0x5d, 0x20, 0xe9, 0x74, 0xe9]);
    const request = readIndexRequest(
      event({
        contentType: 'application/octet-stream',
        body: bytes.toString('base64'),
        base64: true,
        query: { planId: 'p.md' },
      }),
      MAX,
    );
    expect(request).toEqual({ planId: 'p.md', markdown: bytes });
  });

  it('takes JSON with the markdown inline or an S3 key', () => {
    expect(
      readIndexRequest(event({ body: JSON.stringify({ planId: 'p.md', markdown: '# P' }) }), MAX),
    ).toEqual({
      planId: 'p.md',
      markdown: '# P',
    });
    expect(
      readIndexRequest(
        event({
          contentType: 'application/json',
          body: JSON.stringify({ planId: 'p.md', s3Key: 'plans/p.md' }),
        }),
        MAX,
      ),
    ).toEqual({ planId: 'p.md', s3Key: 'plans/p.md' });
  });

  it('names the field and the reason of every refusal', () => {
    const issues = (e: AppError) => e.issues.map((i) => i.field);
    const raw = (body: string | undefined, query?: Record<string, string>) =>
      failure(() =>
        readIndexRequest(event({ contentType: 'text/plain', body, ...(query ? { query } : {}) }), MAX),
      );
    const json = (body: unknown, query?: Record<string, string>) =>
      failure(() =>
        readIndexRequest(event({ body: JSON.stringify(body), ...(query ? { query } : {}) }), MAX),
      );

    expect(issues(raw('# P'))).toEqual(['query.planId']);
    expect(issues(raw(undefined, { planId: 'p.md' }))).toEqual(['body']);
    expect(issues(raw('# P', { planId: '../p.md' }))).toEqual(['query.planId']);
    expect(issues(json({ planId: 'p.md' }))).toEqual(['markdown']);
    expect(issues(json({ planId: 'p.md', markdown: '# P', s3Key: 'k' }))).toEqual(['s3Key']);
    const extra = json({ planId: 'p.md', markdown: '# P', extra: 1 });
    expect(issues(extra)).toEqual(['body']);
    expect(extra.message).toContain('"extra"');
    expect(issues(json({ planId: 'a//b', markdown: '# P' }))).toEqual(['planId']);
    expect(issues(json({ planId: 'p.md', s3Key: '' }))).toEqual(['s3Key']);
    expect(issues(json({ planId: 'p.md', markdown: '# P' }, { planId: 'p.md' }))).toEqual(['query.planId']);
    expect(issues(failure(() => readIndexRequest(event({}), MAX)))).toEqual(['body']);
    expect(
      failure(() => readIndexRequest(event({ contentType: 'text/html', body: '<p>' }), MAX)),
    ).toBeInstanceOf(UnsupportedMediaTypeError);
    expect(failure(() => readIndexRequest(event({ body: `"${'x'.repeat(100)}"` }), 50))).toBeInstanceOf(
      PayloadTooLargeError,
    );
  });

  it('answers any JSON body with a request or a field-naming error, never anything else', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record(
            {
              planId: fc.oneof(fc.string(), fc.constant('plans/p.md')),
              markdown: fc.string(),
              s3Key: fc.string(),
              other: fc.jsonValue(),
            },
            { requiredKeys: [] },
          ),
        ),
        (body) => {
          try {
            const request = readIndexRequest(event({ body: JSON.stringify(body) }), MAX);
            expect(typeof request.planId).toBe('string');
          } catch (err) {
            expect(err).toBeInstanceOf(ValidationError);
            expect((err as ValidationError).issues.length).toBeGreaterThan(0);
          }
        },
      ),
    );
  });
});

describe('plan queries and task search bodies', () => {
  it('reads a task page from the query string', () => {
    expect(parseWith(PlanQuerySchema, {}, 'query')).toEqual({ offset: 0, limit: 1000 });
    expect(parseWith(PlanQuerySchema, { offset: '20', limit: '5' }, 'query')).toEqual({
      offset: 20,
      limit: 5,
    });
    for (const bad of [
      { limit: '0' },
      { limit: '5001' },
      { offset: '-1' },
      { offset: '1e3' },
      { page: '1' },
    ]) {
      expect(() => parseWith(PlanQuerySchema, bad, 'query')).toThrow(ValidationError);
    }
  });

  it('normalizes search filters given as one value or a list', () => {
    expect(
      parseWith(
        SearchTasksBodySchema,
        { text: 'smtp', plan: 'plans~a.md', status: 'done', priority: ['P0'] },
        '',
      ),
    ).toEqual({
      text: 'smtp',
      plan: ['plans/a.md'],
      status: ['done'],
      priority: ['P0'],
      limit: 10,
      offset: 0,
    });
    const fields = (body: unknown) => {
      const result = SearchTasksBodySchema.safeParse(body);
      return result.success ? [] : result.error.issues.map((i) => i.path.join('.'));
    };
    expect(fields({ text: ' ' })).toEqual(['text']);
    expect(fields({ text: 'x', status: 'finished' })).toEqual(['status']);
    expect(fields({ text: 'x', depth: {} })).toEqual(['depth']);
    expect(fields({ text: 'x', limit: 101 })).toEqual(['limit']);
    expect(fields({ text: 'x', plan: '../a' })).toEqual(['plan']);
    expect(fields({ text: 'x', filter: {} })).toEqual(['']);
  });
});
