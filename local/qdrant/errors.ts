import { AppError } from '#shared/errors.ts';

/**
 * Errors of the embedded Qdrant-compatible server. Each carries the HTTP status and the exact
 * text Qdrant 1.19 puts in `status.error`, so that clients (and the platform's own error
 * mapping) see the same thing they would from a real Qdrant.
 */
export class QdrantApiError extends AppError {
  readonly statusCode: number;
  readonly code: string;

  constructor(statusCode: number, code: string, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
  }
}

/** Qdrant's `BadInput` (400, "Wrong input: …"). */
export function wrongInput(description: string): QdrantApiError {
  return new QdrantApiError(400, 'QDRANT_BAD_INPUT', `Wrong input: ${description}`);
}

/** Qdrant's `AlreadyExists` (409, also rendered as "Wrong input: …"). */
export function alreadyExists(description: string): QdrantApiError {
  return new QdrantApiError(409, 'QDRANT_ALREADY_EXISTS', `Wrong input: ${description}`);
}

/** Qdrant's `NotFound` (404, "Not found: …"). */
export function notFound(description: string): QdrantApiError {
  return new QdrantApiError(404, 'QDRANT_NOT_FOUND', `Not found: ${description}`);
}

/** A body that does not deserialize (400, "Format error in JSON body: …"). */
export function formatError(description: string): QdrantApiError {
  return new QdrantApiError(400, 'QDRANT_FORMAT_ERROR', `Format error in JSON body: ${description}`);
}

/** A body that deserializes but fails validation (422, "Validation error in JSON body: […]"). */
export function validationError(items: string[], where = 'JSON body'): QdrantApiError {
  return new QdrantApiError(
    422,
    'QDRANT_VALIDATION_ERROR',
    `Validation error in ${where}: [${items.join(', ')}]`,
  );
}

export function collectionNotFound(name: string): QdrantApiError {
  return notFound(`Collection \`${name}\` doesn't exist!`);
}

export function pointNotFound(id: number | string): QdrantApiError {
  return notFound(`No point with id ${id} found`);
}

/** Storage failures (500, "Service internal error: …"). */
export function serviceError(description: string): QdrantApiError {
  return new QdrantApiError(500, 'QDRANT_SERVICE_ERROR', `Service internal error: ${description}`);
}
