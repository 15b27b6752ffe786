import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { FunctionDecl, Manifest } from '../infra/manifest.ts';
import { LOCAL_ACCOUNT_ID } from './iam.ts';

/**
 * Invokes the manifest's functions the way Lambda does: the handler module is loaded once (cold
 * start, not counted against the timeout, as Lambda's init phase is separate), each invocation
 * gets a realistic `Context`, the function's timeout is enforced, and the result goes through
 * JSON like Lambda's response marshalling (so a result Lambda could not return fails here too).
 *
 * By default a function runs in this process, and concurrent invocations share its module
 * instance and heap. An isolated function runs like Lambda's execution environments instead: a
 * pool of child processes (`sandbox.ts`), each with its function's memory as its heap limit,
 * handling one invocation at a time and reused while warm; one that times out is killed, one
 * that dies takes only its own invocation down. That is what lets a benchmark read the memory
 * of one worker.
 */

export type Invoke = (fnName: string, event: unknown) => Promise<unknown>;

export interface Invoker {
  (fnName: string, event: unknown): Promise<unknown>;
  /** The process ids of the live execution environments (isolated functions only). */
  sandboxPids(): number[];
  /** Shuts every execution environment down; isolated functions cannot be invoked after. */
  close(): Promise<void>;
}

export interface InvokerOptions {
  /** Where manifest `entry` paths are resolved. */
  rootDir: string;
  region?: string;
  /** Functions that run in child processes, one invocation at a time each, instead of in a thread. */
  isolate?: ReadonlySet<string>;
  /**
   * A function's whole environment (its `process.env`), read when its environment starts.
   * Default: a copy of this process's environment.
   */
  environment?: (fnName: string) => Record<string, string>;
  /**
   * Told of every invocation once it ends, whatever invoked it: its duration as Lambda bills it
   * (from the handler's call, not counting a cold start's init) and its error, if it failed.
   */
  observe?: (invocation: { fnName: string; durationMs: number; error?: unknown }) => void;
}

/** When the invocation proper began: set once the environment is ready (after any init). */
interface Timing {
  start: number;
}

/** Lambda's limit on a synchronous invocation's response (6 MB). */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

/** The invocation ran past the function's timeout (Lambda reports `Sandbox.Timedout`). */
export class LambdaTimeoutError extends Error {
  readonly functionName: string;
  readonly timeoutSeconds: number;
  constructor(functionName: string, timeoutSeconds: number) {
    super(`Task timed out after ${timeoutSeconds.toFixed(2)} seconds`);
    this.name = 'Sandbox.Timedout';
    this.functionName = functionName;
    this.timeoutSeconds = timeoutSeconds;
  }
}

/** The handler's result cannot be returned by Lambda (not JSON-serialisable, or too large). */
export class LambdaResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Runtime.MarshalError';
  }
}

/** An execution environment's process ended (crash, `process.exit`, out of memory, killed). */
export class LambdaExitError extends Error {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  constructor(exitCode: number | null, signal: NodeJS.Signals | null) {
    super(`Runtime exited with error: ${signal ? `signal: ${signal}` : `exit status ${exitCode}`}`);
    this.name = 'Runtime.ExitError';
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

type Callback = (error?: unknown, result?: unknown) => void;
export type Handler = (event: unknown, context: Context, callback: Callback) => unknown;

/** What an invocation's `Context` is made of: plain data, so it can be sent to an environment. */
const ContextDataSchema = z.object({
  functionName: z.string(),
  functionVersion: z.string(),
  invokedFunctionArn: z.string(),
  memoryLimitInMB: z.string(),
  awsRequestId: z.string(),
  logGroupName: z.string(),
  logStreamName: z.string(),
  /** When the invocation times out, epoch milliseconds. */
  deadline: z.number(),
});
export type ContextData = z.infer<typeof ContextDataSchema>;

/**
 * A thrown error as it crosses the process boundary: what callers read (name, message, stack)
 * and the error's own data, e.g. a typed error's `statusCode`, `code`, `issues`, `retryable`.
 */
const ErrorDataSchema = z.object({
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  fields: z.record(z.string(), z.unknown()),
});
export type ErrorData = z.infer<typeof ErrorDataSchema>;

/** Runtime → environment: one invocation. */
export const SandboxInvocationSchema = z.object({
  event: z.unknown(),
  context: ContextDataSchema,
});
export type SandboxInvocation = z.infer<typeof SandboxInvocationSchema>;

/** Environment → runtime: the init's outcome, then each invocation's. */
const SandboxReplySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ready') }),
  z.object({ kind: z.literal('init-error'), error: ErrorDataSchema }),
  z.object({ kind: z.literal('result'), requestId: z.string(), value: z.unknown() }),
  z.object({ kind: z.literal('error'), requestId: z.string(), error: ErrorDataSchema }),
]);
export type SandboxReply = z.infer<typeof SandboxReplySchema>;

const SANDBOX_ENTRY = fileURLToPath(new URL('./sandbox.ts', import.meta.url));
/** How long a closed environment may take to exit on its own before it is killed. */
const CLOSE_GRACE_MS = 2000;

export function createInvoker(manifest: Manifest, opts: InvokerOptions): Invoker {
  const region = opts.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const isolate = opts.isolate ?? new Set<string>();
  for (const fnName of isolate) {
    if (!Object.hasOwn(manifest.functions, fnName))
      throw new Error(`Cannot isolate ${fnName}: it is not declared in the manifest`);
  }
  const environmentOf =
    opts.environment ??
    (() =>
      Object.fromEntries(
        Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
      ));
  /** One thread per function that is not isolated, started at its first invocation. */
  const threads = new Map<string, Promise<ThreadEnvironment>>();
  /** Idle (warm) environments per isolated function, and every live one. */
  const idle = new Map<string, ExecutionEnvironment[]>();
  const live = new Set<ExecutionEnvironment>();
  let closed = false;

  const threadOf = (fnName: string, decl: FunctionDecl): Promise<ThreadEnvironment> => {
    let started = threads.get(fnName);
    if (!started) {
      const env = new ThreadEnvironment(
        resolve(opts.rootDir, decl.entry),
        decl.entry,
        decl.memoryMb,
        environmentOf(fnName),
      );
      started = env.ready.then(() => env);
      // A failed init or a thread that died is replaced at the next invocation, as Lambda does.
      const forget = () => {
        if (threads.get(fnName) === started) threads.delete(fnName);
      };
      started.catch(() => {
        forget();
        void env.terminate();
      });
      void env.exited.then(forget);
      threads.set(fnName, started);
    }
    return started;
  };

  const contextData = (fnName: string, decl: FunctionDecl, logStreamName: string): ContextData => {
    const functionName = `${manifest.service}-${fnName}`;
    return {
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
      memoryLimitInMB: String(decl.memoryMb),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName,
      deadline: Date.now() + decl.timeoutSeconds * 1000,
    };
  };

  const inThread = async (
    fnName: string,
    decl: FunctionDecl,
    event: unknown,
    timing: Timing,
  ): Promise<unknown> => {
    const env = await threadOf(fnName, decl);
    timing.start = performance.now();
    const context = contextData(fnName, decl, env.logStreamName);
    const outcome = await within(env.run(event, context), decl.timeoutSeconds * 1000);
    if (outcome.timedOut) throw new LambdaTimeoutError(context.functionName, decl.timeoutSeconds);
    // Already through marshal() in the thread: plain data.
    return outcome.value;
  };

  /** A warm environment of the function, or a new one (cold start) once its module is loaded. */
  const acquire = async (fnName: string, decl: FunctionDecl): Promise<ExecutionEnvironment> => {
    const warm = idle.get(fnName)?.pop();
    if (warm) return warm;
    const env = new ExecutionEnvironment(
      resolve(opts.rootDir, decl.entry),
      decl.entry,
      decl.memoryMb,
      environmentOf(fnName),
    );
    live.add(env);
    void env.exited.then(() => {
      live.delete(env);
      const pool = idle.get(fnName);
      const i = pool?.indexOf(env) ?? -1;
      if (i >= 0) pool?.splice(i, 1);
    });
    try {
      await env.ready;
    } catch (err) {
      // A failed init discards its environment; the next invocation starts a new one.
      await env.kill();
      throw err;
    }
    return env;
  };

  const release = (fnName: string, env: ExecutionEnvironment) => {
    if (closed || !env.alive) return;
    const pool = idle.get(fnName) ?? [];
    pool.push(env);
    idle.set(fnName, pool);
  };

  const isolated = async (
    fnName: string,
    decl: FunctionDecl,
    event: unknown,
    timing: Timing,
  ): Promise<unknown> => {
    const env = await acquire(fnName, decl);
    timing.start = performance.now();
    const context = contextData(fnName, decl, env.logStreamName);
    let outcome: Awaited<ReturnType<typeof within>>;
    try {
      outcome = await within(env.run(event, context), decl.timeoutSeconds * 1000);
    } catch (err) {
      // The handler failed: its environment stays warm (unless the failure was its death).
      release(fnName, env);
      throw err;
    }
    if (outcome.timedOut) {
      // Lambda stops a timed-out environment, whatever the handler was still doing.
      await env.kill();
      throw new LambdaTimeoutError(context.functionName, decl.timeoutSeconds);
    }
    release(fnName, env);
    // Already through marshal() in the environment: plain JSON data.
    return outcome.value;
  };

  const invoke = async (fnName: string, event: unknown): Promise<unknown> => {
    const decl = manifest.functions[fnName];
    if (!decl) throw new Error(`Function not found: ${fnName} is not declared in the manifest`);
    if (closed) throw new Error(`${fnName}: the execution environments have been shut down`);
    const timing: Timing = { start: performance.now() };
    const observe = opts.observe;
    const run = isolate.has(fnName) ? isolated : inThread;
    if (!observe) return run(fnName, decl, event, timing);
    try {
      const value = await run(fnName, decl, event, timing);
      observe({ fnName, durationMs: performance.now() - timing.start });
      return value;
    } catch (error) {
      observe({ fnName, durationMs: performance.now() - timing.start, error });
      throw error;
    }
  };

  return Object.assign(invoke, {
    sandboxPids: () => [...live].flatMap((env) => (env.pid === undefined ? [] : [env.pid])),
    close: async () => {
      closed = true;
      idle.clear();
      const started = [...threads.values()];
      threads.clear();
      await Promise.all([
        ...[...live].map((env) => env.close()),
        ...started.map((t) => t.then((env) => env.terminate()).catch(() => undefined)),
      ]);
    },
  });
}

/** Settles with the promise's value, or as timed out once `ms` have passed; rejects as it does. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ timedOut: false; value: T } | { timedOut: true }> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<{ timedOut: true }>((resolveExpiry) => {
    timer = setTimeout(() => resolveExpiry({ timedOut: true }), ms);
  });
  try {
    return await Promise.race([promise.then((value) => ({ timedOut: false as const, value })), expiry]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls a handler with a Lambda `Context` built from `data`, and settles with its outcome: an
 * async handler through its promise, a callback-style one through its callback (or the legacy
 * `context.done/succeed/fail`), whichever comes first.
 */
export function callHandler(handler: Handler, event: unknown, data: ContextData): Promise<unknown> {
  return new Promise<unknown>((resolvePromise, rejectPromise) => {
    let settled = false;
    function finish(error: unknown, result?: unknown): void {
      if (settled) return;
      settled = true;
      if (error !== undefined && error !== null) rejectPromise(error);
      else resolvePromise(result);
    }

    const { deadline, ...fields } = data;
    const context: Context = {
      ...fields,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      // The legacy context methods still settle the invocation in Lambda's Node runtimes.
      done: (error?: Error, result?: unknown) => finish(error, result),
      fail: (error: Error | string) => finish(typeof error === 'string' ? new Error(error) : error),
      succeed: (result: unknown) => finish(undefined, result),
    };

    try {
      const returned = handler(event, context, finish);
      if (isThenable(returned))
        returned.then(
          (result) => finish(undefined, result),
          (err) => finish(err ?? new Error('Handler rejected')),
        );
    } catch (err) {
      finish(err ?? new Error('Handler threw'));
    }
  });
}

export async function importHandler(file: string, entry: string): Promise<Handler> {
  const mod = (await import(pathToFileURL(file).href)) as { handler?: unknown };
  if (typeof mod.handler !== 'function') {
    throw new Error(`Runtime.HandlerNotFound: ${entry} does not export a function named handler`);
  }
  return mod.handler as Handler;
}

/**
 * One execution environment, the runtime's side: a child process running `sandbox.ts` for one
 * handler module, spoken to over IPC. The child inherits this process's environment (the
 * handlers' configuration) and its stdout/stderr (the handlers' logs).
 */
class ExecutionEnvironment {
  /** One log stream per execution environment, as Lambda names them. */
  readonly logStreamName = newLogStreamName();
  /** Settles when the handler module has been loaded: rejects with the init error, or the exit. */
  readonly ready: Promise<void>;
  /** Resolves once the process has exited and its channel is closed. */
  readonly exited: Promise<void>;
  readonly #child: ChildProcess;
  #init!: Pending;
  #exitedResolve!: () => void;
  /** The invocation in progress, at most one. */
  readonly #pending = new Map<string, Pending>();
  #exit: LambdaExitError | undefined;

  constructor(file: string, entry: string, memoryMb: number, env: Record<string, string>) {
    this.ready = new Promise((resolve, reject) => {
      this.#init = { resolve: () => resolve(), reject };
    });
    this.exited = new Promise((resolveExited) => {
      this.#exitedResolve = resolveExited;
    });
    this.#child = fork(SANDBOX_ENTRY, [file, entry], {
      execPath: process.execPath,
      // The function's memory as the heap limit (a worker that outgrows its Lambda fails here
      // too), and none of this process's own flags (a test runner's, say).
      execArgv: [`--max-old-space-size=${memoryMb}`],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
      env,
    });
    // Anything else on the channel (a handler calling process.send itself) is not ours.
    this.#child.on('message', (message) => settleReply(message, this.#init, this.#pending));
    this.#child.once('exit', (code, signal) => {
      // The replies still in the channel are read before it reports 'disconnect'. ('close' would
      // say both, but never comes once this side has disconnected.)
      const exit = new LambdaExitError(code, signal);
      if (this.#child.connected) this.#child.once('disconnect', () => this.#gone(exit));
      else this.#gone(exit);
    });
    this.#child.on('error', (err) => {
      // A process that could not start never closes; the other errors (a failed kill or send)
      // leave the process to its own 'close'.
      if (this.#child.pid === undefined) this.#gone(err);
    });
  }

  get pid(): number | undefined {
    return this.#exit ? undefined : this.#child.pid;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** One invocation; settles with the handler's marshalled result or its error. */
  run(event: unknown, context: ContextData): Promise<unknown> {
    return new Promise((resolveRun, rejectRun) => {
      if (this.#exit) return rejectRun(this.#exit);
      if (this.#pending.size > 0)
        return rejectRun(new Error('An execution environment runs one invocation at a time'));
      const invocation: SandboxInvocation = { event, context };
      try {
        this.#child.send(invocation, (err) => {
          // The channel is gone while the process lingers: end it, its 'close' fails this invocation.
          if (err) this.#child.kill('SIGKILL');
        });
      } catch (err) {
        // The event is not JSON-serialisable: nothing was sent.
        return rejectRun(err);
      }
      this.#pending.set(context.awsRequestId, { resolve: resolveRun, reject: rejectRun });
    });
  }

  /** Stops the process at once (a timed-out or failed environment). */
  kill(): Promise<void> {
    if (!this.#exit) this.#child.kill('SIGKILL');
    return this.exited;
  }

  /** Closes the channel, on which the environment exits; killed if it takes too long. */
  async close(): Promise<void> {
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), CLOSE_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  #gone(error: Error): void {
    if (this.#exit) return;
    this.#exit = error instanceof LambdaExitError ? error : new LambdaExitError(null, null);
    this.#init.reject(error);
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    this.#exitedResolve();
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** Settles what an environment's reply answers: its init, or one of its invocations in `pending`. */
function settleReply(message: unknown, init: Pending, pending: Map<string, Pending>): void {
  const parsed = SandboxReplySchema.safeParse(message);
  if (!parsed.success) return;
  const reply = parsed.data;
  if (reply.kind === 'ready') init.resolve(undefined);
  else if (reply.kind === 'init-error') init.reject(fromErrorData(reply.error));
  else {
    const invocation = pending.get(reply.requestId);
    if (!invocation) return;
    pending.delete(reply.requestId);
    if (reply.kind === 'result') invocation.resolve(reply.value);
    else invocation.reject(fromErrorData(reply.error));
  }
}

/**
 * A function's thread, the runtime's side: `sandbox.ts` in a worker thread with the function's
 * environment as its `process.env` and its memory as heap limit. Its modules (configuration,
 * clients, adapters) are its own, so no function reads another's settings or credentials.
 */
class ThreadEnvironment {
  readonly logStreamName = newLogStreamName();
  /** Settles when the handler module has been loaded: rejects with the init error, or the exit. */
  readonly ready: Promise<void>;
  /** Resolves once the thread has ended. */
  readonly exited: Promise<void>;
  readonly #worker: Worker;
  readonly #pending = new Map<string, Pending>();
  #init!: Pending;
  #exit: Error | undefined;

  constructor(file: string, entry: string, memoryMb: number, env: Record<string, string>) {
    this.ready = new Promise((resolve, reject) => {
      this.#init = { resolve: () => resolve(), reject };
    });
    this.#worker = new Worker(SANDBOX_ENTRY, {
      workerData: [file, entry],
      env,
      resourceLimits: { maxOldGenerationSizeMb: memoryMb },
    });
    this.exited = new Promise((resolveExited) => this.#worker.once('exit', () => resolveExited()));
    this.#worker.on('message', (message) => settleReply(message, this.#init, this.#pending));
    this.#worker.on('error', (err) => this.#gone(err));
    this.#worker.once('exit', (code) => this.#gone(new LambdaExitError(code, null)));
  }

  run(event: unknown, context: ContextData): Promise<unknown> {
    return new Promise((resolveRun, rejectRun) => {
      if (this.#exit) return rejectRun(this.#exit);
      const invocation: SandboxInvocation = { event, context };
      this.#pending.set(context.awsRequestId, { resolve: resolveRun, reject: rejectRun });
      try {
        this.#worker.postMessage(invocation);
      } catch (err) {
        // The event cannot be cloned: nothing was sent.
        this.#pending.delete(context.awsRequestId);
        rejectRun(err);
      }
    });
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }

  /** The thread failed (an uncaught error, out of memory) or ended: every invocation in it fails. */
  #gone(error: Error): void {
    if (this.#exit) return;
    this.#exit = error;
    this.#init.reject(error);
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    void this.#worker.terminate();
  }
}

/** A thrown value as data for the runtime (own enumerable properties that JSON can carry). */
export function toErrorData(error: unknown): ErrorData {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  const source = error as unknown as Record<string, unknown>;
  for (const key of Object.keys(error)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    const value = source[key];
    fields[key] = value instanceof Error ? toErrorData(value) : asJson(value);
  }
  if (error.cause !== undefined && !Object.hasOwn(fields, 'cause')) {
    fields.cause = error.cause instanceof Error ? toErrorData(error.cause) : asJson(error.cause);
  }
  return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}), fields };
}

/** The error back as an `Error` with the same name, message, stack and data. */
function fromErrorData(data: ErrorData): Error {
  const error =
    data.name === 'Runtime.MarshalError' ? new LambdaResponseError(data.message) : new Error(data.message);
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  const { cause, ...fields } = data.fields;
  Object.assign(error, fields);
  if (cause !== undefined) {
    const nested = ErrorDataSchema.safeParse(cause);
    error.cause = nested.success ? fromErrorData(nested.data) : cause;
  }
  return error;
}

/** The value as JSON would carry it (its `toJSON`, no functions), or its string if JSON cannot. */
function asJson(value: unknown): unknown {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? null : JSON.parse(json);
  } catch {
    return String(value);
  }
}

function newLogStreamName(): string {
  const d = new Date();
  const day = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}`;
  return `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Lambda returns `JSON.stringify(result)`: undefined becomes null, classes become plain data. */
export function marshal(result: unknown): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(result ?? null);
  } catch (err) {
    throw new LambdaResponseError(`Unable to stringify response body: ${(err as Error).message}`);
  }
  if (json === undefined) return null; // a function or symbol result
  if (json.length > MAX_RESPONSE_BYTES / 4 && Buffer.byteLength(json) > MAX_RESPONSE_BYTES) {
    throw new LambdaResponseError(
      `Response payload size (${Buffer.byteLength(json)} bytes) exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
    );
  }
  return JSON.parse(json);
}
