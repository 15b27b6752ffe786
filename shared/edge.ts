import type { ErrorBody } from './errors.ts';

/**
 * What the edge of the API adds to every answer or answers itself, declared once: CloudFront's
 * response headers policy and the AWS WAF rate rules' custom response in AWS, the local gateway on
 * a laptop. A header with `override: false` keeps a function's own value (the docs page sets its
 * own content security policy; a function may set its own caching).
 */
export const EDGE_RESPONSE_HEADERS = {
  // Browsers ignore it over plain HTTP (the local runtime); behind CloudFront it pins HTTPS.
  'strict-transport-security': { value: 'max-age=63072000; includeSubDomains', override: true },
  'x-content-type-options': { value: 'nosniff', override: true },
  'x-frame-options': { value: 'DENY', override: true },
  'referrer-policy': { value: 'no-referrer', override: true },
  // JSON answers load nothing and are framed by nothing.
  'content-security-policy': { value: "default-src 'none'; frame-ancestors 'none'", override: false },
  // Answers are per caller (bearer tokens): no shared or browser cache keeps them.
  'cache-control': { value: 'no-store', override: false },
} as const satisfies Record<string, { value: string; override: boolean }>;

/** The status of a request over a rate limit (WAF's custom response, the local gateway). */
export const RATE_LIMITED_STATUS = 429;

/**
 * The body of a request refused by a per-client or overall rate limit. WAF's custom response body
 * is static, so it carries no request id.
 */
export const RATE_LIMITED_BODY: ErrorBody = {
  error: {
    code: 'TOO_MANY_REQUESTS',
    message: 'request rate limit exceeded; retry after the number of seconds in Retry-After',
  },
};

/** Seconds a client refused by a per-minute WAF rule is told to wait (WAF's header is static). */
export const RATE_LIMIT_RETRY_AFTER_SECONDS = 60;

/**
 * What the edge tells a client API Gateway's throttle refused (its 429 has no `Retry-After`): a
 * CloudFront viewer-response function adds this many seconds in AWS; the local gateway says when
 * the bucket holds a token again, at least this.
 */
export const THROTTLED_RETRY_AFTER_SECONDS = 1;
