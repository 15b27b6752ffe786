/**
 * Typed errors: services throw these, the HTTP and SQS wrappers map them to responses in one
 * place (`toErrorResponse`). No handler builds an error body by hand; no stack trace leaves.
 */

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `points.3.vector`. */
  field: string;
  reason: string;
}

export abstract class AppError extends Error {
  abstract readonly statusCode: number;
  abstract readonly code: string;
  readonly issues: FieldIssue[];

  constructor(message: string, issues: FieldIssue[] = []) {
    super(message);
    this.name = new.target.name;
    this.issues = issues;
  }
}

export class ValidationError extends AppError {
  readonly statusCode = 400;
  readonly code = 'VALIDATION_ERROR';
  static field(field: string, reason: string): ValidationError {
    return new ValidationError(`${field}: ${reason}`, [{ field, reason }]);
  }
}

export class UnauthorizedError extends AppError {
  readonly statusCode = 401;
  readonly code = 'UNAUTHORIZED';
}

export class ForbiddenError extends AppError {
  readonly statusCode = 403;
  readonly code = 'FORBIDDEN';
}

export class NotFoundError extends AppError {
  readonly statusCode = 404;
  readonly code = 'NOT_FOUND';
}

/** A route exists for the path, but not for the method: `allow` lists the methods that do. */
export class MethodNotAllowedError extends AppError {
  readonly statusCode = 405;
  readonly code = 'METHOD_NOT_ALLOWED';
  readonly allow: readonly string[];
  constructor(method: string, path: string, allow: readonly string[]) {
    super(`${method} is not routed for ${path}; allowed: ${allow.join(', ')}`, [
      { field: 'method', reason: `must be one of ${allow.join(', ')}` },
    ]);
    this.allow = allow;
  }
}

export class ConflictError extends AppError {
  readonly statusCode = 409;
  readonly code = 'CONFLICT';
}

export class PayloadTooLargeError extends AppError {
  readonly statusCode = 413;
  readonly code = 'PAYLOAD_TOO_LARGE';
}

export class UnsupportedMediaTypeError extends AppError {
  readonly statusCode = 415;
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
}

/** A dependency (Qdrant, OpenAI, S3…) failed or answered something unusable. */
export class UpstreamError extends AppError {
  readonly statusCode = 502;
  readonly code = 'UPSTREAM_ERROR';
  /** Whether retrying the same call later may succeed (429, 5xx, network). */
  readonly retryable: boolean;
  constructor(message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message);
    this.retryable = options.retryable ?? false;
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

export class ServiceUnavailableError extends AppError {
  readonly statusCode = 503;
  readonly code = 'SERVICE_UNAVAILABLE';
  /** When to try again (the `Retry-After` header), seconds. */
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options: { retryAfterSeconds?: number; issues?: FieldIssue[] } = {}) {
    super(message, options.issues);
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export interface ErrorBody {
  error: { code: string; message: string; issues?: FieldIssue[]; requestId?: string };
}

/** `Allow` on a 405; on a 401, the bearer challenge API Gateway's JWT authorizer also sends. */
function headersOf(err: AppError): Record<string, string> {
  if (err instanceof MethodNotAllowedError) return { allow: err.allow.join(', ') };
  if (err instanceof ServiceUnavailableError && err.retryAfterSeconds !== undefined) {
    return { 'retry-after': String(err.retryAfterSeconds) };
  }
  if (err instanceof UnauthorizedError) {
    return {
      'www-authenticate': `Bearer error="invalid_token", error_description="${err.message.replaceAll('"', "'")}"`,
    };
  }
  return {};
}

/**
 * The one place an error becomes a status code, headers and a body. Unknown errors never leak
 * details.
 */
export function toErrorResponse(
  err: unknown,
  requestId?: string,
): { statusCode: number; headers: Record<string, string>; body: ErrorBody } {
  if (err instanceof AppError) {
    return {
      statusCode: err.statusCode,
      headers: headersOf(err),
      body: {
        error: {
          code: err.code,
          message: err.message,
          ...(err.issues.length > 0 ? { issues: err.issues } : {}),
          ...(requestId ? { requestId } : {}),
        },
      },
    };
  }
  return {
    statusCode: 500,
    headers: {},
    body: {
      error: {
        code: 'INTERNAL_ERROR',
        message: 'Internal server error',
        ...(requestId ? { requestId } : {}),
      },
    },
  };
}
