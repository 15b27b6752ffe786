import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Limits, Throttle } from '../infra/manifest.ts';
import { THROTTLED_RETRY_AFTER_SECONDS } from '../shared/edge.ts';

/**
 * The manifest's request limits as AWS applies them, for the local gateway, in AWS's order:
 * first the WAF rate-based rules at the edge (per client IP, and over all clients, counted over
 * one-minute windows: `rate-limiter-flexible`), then API Gateway's throttle (the route's own, else
 * the stage's).
 */

export type LimitVerdict =
  | { ok: true }
  /** Refused by a WAF rule: the platform's 429 with `Retry-After`. */
  | { ok: false; by: 'edge'; retryAfterSeconds: number }
  /** Refused by API Gateway's throttle: its own 429. */
  | { ok: false; by: 'throttle'; retryAfterSeconds: number };

/**
 * API Gateway's throttle is a token bucket (`burst` tokens, refilled at `ratePerSecond`), which
 * `rate-limiter-flexible`'s fixed and rolling windows do not reproduce: a window lets a full
 * window's worth through at its edge, a bucket never more than `burst` at once. Hence this one.
 */
export class TokenBucket {
  private readonly throttle: Throttle;
  private readonly now: () => number;
  private tokens: number;
  private last: number;
  constructor(throttle: Throttle, now: () => number = () => performance.now()) {
    this.throttle = throttle;
    this.now = now;
    this.tokens = throttle.burst;
    this.last = now();
  }

  /** Takes a token; when none is left, the seconds until one is (a whole number, at least 1). */
  take(): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const t = this.now();
    this.tokens = Math.min(
      this.throttle.burst,
      this.tokens + ((t - this.last) / 1000) * this.throttle.ratePerSecond,
    );
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return {
      ok: false,
      retryAfterSeconds: Math.max(
        THROTTLED_RETRY_AFTER_SECONDS,
        Math.ceil((1 - this.tokens) / this.throttle.ratePerSecond),
      ),
    };
  }
}

const MINUTE_SECONDS = 60;

export class RequestLimits {
  private readonly perClient: RateLimiterMemory;
  private readonly overall: RateLimiterMemory;
  private readonly stage: TokenBucket;
  private readonly routes = new Map<string, TokenBucket>();

  constructor(limits: Limits, routeThrottles: ReadonlyMap<string, Throttle>) {
    this.perClient = new RateLimiterMemory({ points: limits.perClientPerMinute, duration: MINUTE_SECONDS });
    this.overall = new RateLimiterMemory({ points: limits.overallPerMinute, duration: MINUTE_SECONDS });
    this.stage = new TokenBucket(limits.stage);
    for (const [routeKey, throttle] of routeThrottles) this.routes.set(routeKey, new TokenBucket(throttle));
  }

  /** Counts one request from `clientIp` to `routeKey` (undefined: no route takes it). */
  async admit(clientIp: string, routeKey: string | undefined): Promise<LimitVerdict> {
    for (const [limiter, key] of [
      [this.perClient, clientIp],
      [this.overall, 'all'],
    ] as const) {
      try {
        await limiter.consume(key);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        return { ok: false, by: 'edge', retryAfterSeconds: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) };
      }
    }
    const bucket = (routeKey && this.routes.get(routeKey)) || this.stage;
    const taken = bucket.take();
    return taken.ok ? taken : { ok: false, by: 'throttle', retryAfterSeconds: taken.retryAfterSeconds };
  }
}
