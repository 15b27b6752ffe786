import {
  QdrantClientResourceExhaustedError,
  QdrantClientTimeoutError,
  QdrantClientUnexpectedResponseError,
} from '@qdrant/js-client-rest';
import { AppError, ConflictError, NotFoundError, UpstreamError, ValidationError } from '../errors.ts';

/**
 * The one place a Qdrant client failure becomes a typed error. Messages carry Qdrant's own reason
 * (its `status.error` text) but never a URL, a header or a stack: the client's errors embed the
 * request URL, which may hold credentials.
 */

export interface QdrantCallContext {
  /** The collection the call addressed, named in a 404. */
  collection?: string;
  /** The request field a Qdrant 400 is about (e.g. `filter`); `body` when not known. */
  field?: string;
}

/** The longest part of Qdrant's reason repeated to a caller. */
const MAX_REASON = 500;

/** The shape of `ApiError` from the client's fetch layer (not exported by the client package). */
interface ApiErrorLike {
  status: number;
  data?: unknown;
}

function isApiError(err: unknown): err is Error & ApiErrorLike {
  return err instanceof Error && typeof (err as Partial<ApiErrorLike>).status === 'number' && 'data' in err;
}

/** Answers about the request itself (bad input, a missing or existing resource), not Qdrant failing. */
const REQUEST_STATUSES: ReadonlySet<number> = new Set([400, 404, 409, 422]);

/** Whether a client error is Qdrant failing or unreachable (what the call metrics count as errors). */
export function isQdrantFailure(err: unknown): boolean {
  return !(isApiError(err) && REQUEST_STATUSES.has(err.status));
}

/** Qdrant's explanation from an error body `{status: {error: "..."}}`, shortened. */
function qdrantReason(data: unknown): string | undefined {
  const status = (data as { status?: unknown } | null | undefined)?.status;
  const reason =
    typeof status === 'object' && status !== null ? (status as { error?: unknown }).error : undefined;
  if (typeof reason !== 'string' || reason === '') return undefined;
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason;
}

/** Maps any error thrown by a Qdrant client call. AppErrors pass through unchanged. */
export function mapQdrantError(err: unknown, context: QdrantCallContext = {}): Error {
  if (err instanceof AppError) return err;
  if (isApiError(err)) {
    const reason = qdrantReason(err.data) ?? `HTTP ${err.status}`;
    const { status } = err;
    if (status === 404) {
      if (context.collection !== undefined) {
        return new NotFoundError(`collection "${context.collection}" does not exist`, [
          { field: 'collection', reason: `"${context.collection}" does not exist` },
        ]);
      }
      return new NotFoundError(`Qdrant: ${reason}`);
    }
    if (status === 409 || (status === 400 && /already exists/i.test(reason))) {
      return new ConflictError(`Qdrant: ${reason}`);
    }
    if (status === 400 || status === 422) return ValidationError.field(context.field ?? 'body', reason);
    if (status === 401 || status === 403) {
      return new UpstreamError(`Qdrant refused the platform's credentials (HTTP ${status})`, { cause: err });
    }
    return new UpstreamError(`Qdrant failed (HTTP ${status}): ${reason}`, {
      retryable: status === 429 || status >= 500,
      cause: err,
    });
  }
  if (err instanceof QdrantClientTimeoutError)
    return new UpstreamError('Qdrant timed out', { retryable: true, cause: err });
  if (err instanceof QdrantClientResourceExhaustedError) {
    return new UpstreamError(`Qdrant is rate limiting (retry after ${err.retry_after} s)`, {
      retryable: true,
      cause: err,
    });
  }
  if (err instanceof QdrantClientUnexpectedResponseError) {
    return new UpstreamError('Qdrant answered with an unexpected response', { cause: err });
  }
  const code = networkCode(err);
  if (code !== undefined)
    return new UpstreamError(`Qdrant is unreachable (${code})`, { retryable: true, cause: err });
  return err instanceof Error ? err : new Error(String(err));
}

/** `fetch failed` hides the socket error in its cause: ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET… */
function networkCode(err: unknown): string | undefined {
  if (!(err instanceof TypeError)) return undefined;
  let current: unknown = err.cause;
  while (current instanceof Error) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return err.message === 'fetch failed' ? 'network error' : undefined;
}

/** Runs a Qdrant client call, mapping its failure. */
export async function qdrantCall<T>(context: QdrantCallContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw mapQdrantError(err, context);
  }
}
