import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { QdrantApiError } from '#local/qdrant/errors.ts';
import {
  changeAliasesSchema,
  countSchema,
  createCollectionSchema,
  createFieldIndexSchema,
  deletePayloadSchema,
  parseBody,
  pointRequestSchema,
  pointsBatchSchema,
  pointsListSchema,
  pointsSelectorSchema,
  queryBatchSchema,
  queryRequestSchema,
  scrollSchema,
  setPayloadSchema,
  updateCollectionSchema,
} from '#local/qdrant/schemas.ts';

const SCHEMAS: Record<string, z.ZodType> = {
  changeAliasesSchema,
  countSchema,
  createCollectionSchema,
  createFieldIndexSchema,
  deletePayloadSchema,
  pointRequestSchema,
  pointsBatchSchema,
  pointsListSchema,
  pointsSelectorSchema,
  queryBatchSchema,
  queryRequestSchema,
  scrollSchema,
  setPayloadSchema,
  updateCollectionSchema,
};

function rejection(schema: z.ZodType, body: unknown): { status: number; message: string } {
  try {
    parseBody(schema, body);
  } catch (err) {
    if (!(err instanceof QdrantApiError)) throw err;
    return { status: err.statusCode, message: err.message };
  }
  throw new Error('expected a rejection');
}

describe('parseBody on untrusted bodies', () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: any JSON value is accepted or answered with a Qdrant 400/422`, () => {
      fc.assert(
        fc.property(fc.jsonValue(), (body) => {
          try {
            parseBody(schema, body);
          } catch (err) {
            expect(err).toBeInstanceOf(QdrantApiError);
            const { statusCode, message } = err as QdrantApiError;
            if (statusCode === 400) expect(message.startsWith('Format error in JSON body: ')).toBe(true);
            else {
              expect(statusCode).toBe(422);
              expect(message).toMatch(/^Validation error in JSON body: \[.+\]$/);
            }
          }
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe("Qdrant's wording", () => {
  it('a value out of range is a 422 naming the field', () => {
    expect(rejection(queryRequestSchema, { limit: 0 })).toEqual({
      status: 422,
      message: 'Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]',
    });
    expect(rejection(createCollectionSchema, { vectors: { size: 0, distance: 'Dot' } })).toEqual({
      status: 422,
      message: 'Validation error in JSON body: [vectors.size: value 0 invalid, must be from 1 to 65536]',
    });
  });

  it('a wrong type, a missing field, an unknown variant or a bad id is a 400', () => {
    expect(rejection(scrollSchema, { limit: 'ten' })).toEqual({
      status: 400,
      message: 'Format error in JSON body: invalid type: string "ten", expected usize at limit',
    });
    expect(rejection(pointsListSchema, { points: [{ id: 1 }] })).toEqual({
      status: 400,
      message: 'Format error in JSON body: missing field `vector`',
    });
    expect(rejection(createCollectionSchema, { vectors: { size: 4, distance: 'cosine' } }).message).toBe(
      'Format error in JSON body: unknown variant `cosine`, expected one of `Cosine`, `Euclid`, `Dot`, `Manhattan` at vectors.distance',
    );
    expect(rejection(pointsListSchema, { points: [{ id: 'abc', vector: [1] }] })).toEqual({
      status: 400,
      message:
        'Format error in JSON body: value abc is not a valid point ID, valid values are either an unsigned integer or a UUID',
    });
    expect(rejection(changeAliasesSchema, { actions: [{ delete_alias: {} }] }).message).toBe(
      'Format error in JSON body: missing field `alias_name`',
    );
  });

  it('normalizes what it accepts', () => {
    expect(
      parseBody(pointsListSchema, {
        points: [{ id: '5C56C793691F4B3AB0A6A1B7E5A2E0C1', vector: [1], payload: null }],
      }),
    ).toEqual({ points: [{ id: '5c56c793-691f-4b3a-b0a6-a1b7e5a2e0c1', vector: [1], payload: {} }] });
    expect(parseBody(queryRequestSchema, { limit: null, with_payload: { include: ['a'] } })).toEqual({
      with_payload: { include: ['a'] },
    });
  });
});

describe('with_vectors', () => {
  it('is read as with_vector in query, scroll and retrieve bodies, and never both', () => {
    for (const schema of [queryRequestSchema, scrollSchema]) {
      expect(parseBody(schema, { with_vectors: true })).toEqual({ with_vector: true });
      expect(rejection(schema, { with_vectors: true, with_vector: false })).toEqual({
        status: 400,
        message: 'Format error in JSON body: duplicate field `with_vector`',
      });
    }
    expect(parseBody(pointRequestSchema, { ids: [1], with_vectors: [''] })).toEqual({
      ids: [1],
      with_vector: [''],
    });
    expect(rejection(queryBatchSchema, { searches: [{}, { with_vectors: 'yes' }] })).toEqual({
      status: 400,
      message:
        'Format error in JSON body: data did not match any variant of untagged enum WithVector at searches[1].with_vector',
    });
  });
});

describe('search params', () => {
  it('hnsw_ef is at least 1 (422), like every validated field', () => {
    expect(rejection(queryRequestSchema, { params: { hnsw_ef: 0 } })).toEqual({
      status: 422,
      message: 'Validation error in JSON body: [params.hnsw_ef: value 0 invalid, must be 1 or larger]',
    });
    expect(rejection(queryBatchSchema, { searches: [{ params: { hnsw_ef: 0, exact: true } }] }).message).toBe(
      'Validation error in JSON body: [searches[0].params.hnsw_ef: value 0 invalid, must be 1 or larger]',
    );
    expect(rejection(queryRequestSchema, { params: { exact: 'yes' } }).status).toBe(400);
    expect(parseBody(queryRequestSchema, { params: { hnsw_ef: 128, exact: false } })).toEqual({
      params: { hnsw_ef: 128, exact: false },
    });
  });
});
