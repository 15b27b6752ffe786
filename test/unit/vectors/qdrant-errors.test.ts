import { QdrantClientTimeoutError, QdrantClientUnexpectedResponseError } from '@qdrant/js-client-rest';
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, UpstreamError, ValidationError } from '#shared/errors.ts';
import { mapQdrantError, qdrantCall } from '#shared/vectors/qdrant-errors.ts';

/** An error shaped like the client's fetch-layer `ApiError` (status, data, and the request URL). */
function apiError(status: number, reason?: string): Error {
  return Object.assign(new Error('Bad Request'), {
    status,
    url: 'https://user:secret@qdrant.example:6333/collections/x/points/query',
    data: reason === undefined ? 'plain text' : { status: { error: reason }, time: 0.001 },
  });
}

describe('mapQdrantError', () => {
  it('maps 404 to NotFoundError naming the collection', () => {
    const err = mapQdrantError(apiError(404, 'Not found: Collection `x` doesn’t exist!'), {
      collection: 'x',
    });
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe('collection "x" does not exist');
    expect((err as NotFoundError).issues).toEqual([{ field: 'collection', reason: '"x" does not exist' }]);
  });

  it('maps 409, and the 400 "already exists" of older Qdrants, to ConflictError', () => {
    expect(mapQdrantError(apiError(409, 'Wrong input: Collection `x` already exists!'))).toBeInstanceOf(
      ConflictError,
    );
    expect(mapQdrantError(apiError(400, 'Wrong input: Collection `x` already exists!'))).toBeInstanceOf(
      ConflictError,
    );
  });

  it('maps 400 and 422 to ValidationError with Qdrant’s reason under the given field', () => {
    const err = mapQdrantError(apiError(422, 'Validation error in JSON body: [filter.must[0]: bad]'), {
      field: 'filter',
    });
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([
      { field: 'filter', reason: 'Validation error in JSON body: [filter.must[0]: bad]' },
    ]);
    expect((mapQdrantError(apiError(400, 'Wrong input: x')) as ValidationError).issues[0]!.field).toBe(
      'body',
    );
  });

  it('shortens a very long reason', () => {
    const err = mapQdrantError(apiError(400, 'x'.repeat(5000)));
    expect(err.message.length).toBeLessThan(600);
  });

  it.each([
    [500, true],
    [503, true],
    [429, true],
    [401, false],
    [403, false],
  ])(
    'maps HTTP %i to UpstreamError (retryable: %s), without the URL or its credentials',
    (status, retryable) => {
      const err = mapQdrantError(apiError(status, 'Service internal error: disk full'));
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).retryable).toBe(retryable);
      expect(err.message).not.toMatch(/secret|qdrant\.example|6333/);
    },
  );

  it('maps timeouts, unexpected answers and socket errors to UpstreamError', () => {
    expect(mapQdrantError(new QdrantClientTimeoutError('aborted'))).toMatchObject({ retryable: true });
    const unexpected = mapQdrantError(
      new QdrantClientUnexpectedResponseError('Unexpected Response: 302 https://user:secret@host'),
    );
    expect(unexpected).toBeInstanceOf(UpstreamError);
    expect(unexpected.message).not.toContain('secret');
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6333'), { code: 'ECONNREFUSED' }),
    });
    const mapped = mapQdrantError(refused);
    expect(mapped).toMatchObject({ retryable: true, message: 'Qdrant is unreachable (ECONNREFUSED)' });
  });

  it('passes typed errors and programming errors through', () => {
    const typed = ValidationError.field('vector', 'bad');
    expect(mapQdrantError(typed)).toBe(typed);
    const bug = new RangeError('index out of range');
    expect(mapQdrantError(bug)).toBe(bug);
  });

  it('qdrantCall maps the failure of the call it runs', async () => {
    await expect(
      qdrantCall({ collection: 'c' }, async () => Promise.reject(apiError(404, 'gone'))),
    ).rejects.toThrow(NotFoundError);
    expect(await qdrantCall({}, async () => 42)).toBe(42);
  });
});
