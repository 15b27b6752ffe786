import { AppError, UpstreamError } from '../errors.ts';

/**
 * The one place an AWS SDK failure becomes a typed error. The message names the operation, the
 * error's name and HTTP status: never the SDK's message, which for network errors carries the
 * endpoint, nor anything from the request.
 */

interface AwsErrorLike {
  name?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
]);

/** The SDK's (or the socket's) error name, e.g. `NoSuchKey`, `ECONNREFUSED`. */
export function awsErrorName(err: unknown): string {
  const e = err as AwsErrorLike | null | undefined;
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  return typeof e?.name === 'string' && e.name !== '' ? e.name : 'Error';
}

export function awsStatusCode(err: unknown): number | undefined {
  return (err as AwsErrorLike | null | undefined)?.$metadata?.httpStatusCode;
}

/** Maps a failed AWS call (`what`: e.g. `S3 GetObject`). AppErrors pass through unchanged. */
export function mapAwsError(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err;
  const name = awsErrorName(err);
  const status = awsStatusCode(err);
  const e = err as AwsErrorLike | null | undefined;
  const retryable =
    e?.$retryable !== undefined ||
    e?.$fault === 'server' ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    RETRYABLE_NAMES.has(name) ||
    // No HTTP answer at all: a socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT…).
    (status === undefined && /^E[A-Z]+$/.test(name));
  return new UpstreamError(`${what} failed: ${name}${status ? ` (HTTP ${status})` : ''}`, {
    retryable,
    cause: err,
  });
}

/** Runs an AWS call, mapping its failure. */
export async function awsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw mapAwsError(err, what);
  }
}
