import { CORRELATION_HEADER } from '../shared/correlation.ts';

/**
 * CORS as API Gateway's HTTP API applies its CORS configuration: an allowed origin gets
 * `access-control-allow-origin: <that origin>` (never `*`, never an origin it does not allow),
 * preflights are answered by the gateway itself with the configured methods and headers, and a
 * request from any other origin gets no CORS header at all, so browsers keep its answer from the
 * page that sent it. The local default allows loopback origins only (a page served on this
 * machine); AWS stages allow none unless configured (`corsOrigins`).
 */

export interface CorsPolicy {
  /** Exact origins (`https://app.example.com`), or `loopback`: http(s) on localhost, 127.0.0.1, [::1], any port. */
  origins: readonly string[] | 'loopback';
  /** The methods the API's routes use. */
  methods: readonly string[];
}

/** What requests may send: the bearer token, the body's type and the page's correlation id. */
export const CORS_ALLOW_HEADERS = `authorization,content-type,${CORRELATION_HEADER}`;
/** What pages may read of an answer besides the safelisted headers. */
export const CORS_EXPOSE_HEADERS = `apigw-requestid,retry-after,location,${CORRELATION_HEADER}`;
export const CORS_MAX_AGE_SECONDS = 3600;

const LOOPBACK = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;

export function isAllowedOrigin(policy: CorsPolicy, origin: string | undefined): origin is string {
  if (!origin) return false;
  return policy.origins === 'loopback' ? LOOPBACK.test(origin) : policy.origins.includes(origin);
}

/** Headers added to an answer to a request from `origin`; none when the origin is not allowed. */
export function corsHeaders(policy: CorsPolicy, origin: string | undefined): Record<string, string> {
  if (!isAllowedOrigin(policy, origin)) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-expose-headers': CORS_EXPOSE_HEADERS,
    vary: 'origin',
  };
}

/** The gateway's answer to a preflight (an OPTIONS request naming the method it asks for). */
export function preflightHeaders(policy: CorsPolicy, origin: string | undefined): Record<string, string> {
  if (!isAllowedOrigin(policy, origin)) return { vary: 'origin' };
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': policy.methods.join(','),
    'access-control-allow-headers': CORS_ALLOW_HEADERS,
    'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
    vary: 'origin',
  };
}

/** Parses `CORS_ORIGINS` (comma-separated bare origins); throws naming the bad entry. */
export function parseCorsOrigins(value: string): string[] {
  const origins = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (
      !URL.canParse(origin) ||
      new URL(origin).origin !== origin ||
      !/^https?:$/.test(new URL(origin).protocol)
    ) {
      throw new Error(`CORS_ORIGINS: "${origin}" is not a bare http(s) origin (scheme://host[:port])`);
    }
  }
  return origins;
}
