import type { FunctionFigures } from './contract.ts';

/**
 * The edges the managers use, each with an AWS adapter (`shared/adapters/lambda.ts`,
 * `shared/adapters/cloudwatch.ts`) that the local runtime serves with its own endpoints.
 */

/** Synchronous invocation of a function by its deployed name. */
export interface FunctionInvoker {
  /**
   * The function's result. Throws UpstreamError when it failed (its error type and message), did
   * not answer within `timeoutMs`, or could not be called.
   */
  invoke(functionName: string, payload: unknown, options: { timeoutMs: number }): Promise<unknown>;
}

/**
 * Turns an SQS event source mapping on or off (Lambda's UpdateEventSourceMapping) and resolves
 * once it is `Enabled` or `Disabled` (throws UpstreamError if it does not get there in time).
 */
export interface EventSourceSwitch {
  setEnabled(uuid: string, enabled: boolean): Promise<{ uuid: string; state: string }>;
}

export interface Window {
  start: Date;
  end: Date;
}

export interface RouteFigures {
  method: string;
  /** The route's path as declared (`/api/v1/managers/{id}`). */
  resource: string;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

/** CloudWatch's figures of functions and of API routes. */
export interface MetricsReader {
  /** By the caller's key (the manifest key), for functions given by deployed name. */
  functions(
    names: Readonly<Record<string, string>>,
    window: Window,
  ): Promise<Record<string, FunctionFigures>>;
  routes(
    api: { id: string; stage: string },
    routes: ReadonlyArray<{ method: string; resource: string }>,
    window: Window,
  ): Promise<RouteFigures[]>;
}
