import { randomBytes, randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import type { FunctionDecl, Manifest } from '../manifest.ts';

/**
 * Invokes the manifest's functions in this process the way Lambda does: the handler module is
 * loaded once (cold start, not counted against the timeout, as Lambda's init phase is separate),
 * each invocation gets a realistic `Context`, the function's timeout is enforced, and the result
 * goes through JSON like Lambda's response marshalling (so a result Lambda could not return fails
 * here too).
 */

export type Invoke = (fnName: string, event: unknown) => Promise<unknown>;

/** The account id the local emulators (fauxqs) use in their ARNs. */
export const LOCAL_ACCOUNT_ID = '000000000000';

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

type Callback = (error?: unknown, result?: unknown) => void;
type Handler = (event: unknown, context: Context, callback: Callback) => unknown;

interface Loaded {
  handler: Handler;
  /** One log stream per execution environment, as Lambda names them. */
  logStreamName: string;
}

export function createInvoker(manifest: Manifest, opts: { rootDir: string; region?: string }): Invoke {
  const region = opts.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const modules = new Map<string, Promise<Loaded>>();

  const load = (decl: FunctionDecl): Promise<Loaded> => {
    const file = resolve(opts.rootDir, decl.entry);
    let loaded = modules.get(file);
    if (!loaded) {
      loaded = importHandler(file, decl.entry);
      // A failed init is retried on the next invocation, as Lambda does.
      loaded.catch(() => modules.delete(file));
      modules.set(file, loaded);
    }
    return loaded;
  };

  return async (fnName, event) => {
    const decl = manifest.functions[fnName];
    if (!decl) throw new Error(`Function not found: ${fnName} is not declared in the manifest`);
    const { handler, logStreamName } = await load(decl);
    const functionName = `${manifest.service}-${fnName}`;
    const timeoutMs = decl.timeoutSeconds * 1000;

    return new Promise<unknown>((resolvePromise, rejectPromise) => {
      let settled = false;
      const timer = setTimeout(
        () => finish(new LambdaTimeoutError(functionName, decl.timeoutSeconds)),
        timeoutMs,
      );
      const deadline = Date.now() + timeoutMs;

      function finish(error: unknown, result?: unknown): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error !== undefined && error !== null) rejectPromise(error);
        else {
          try {
            resolvePromise(marshal(result));
          } catch (err) {
            rejectPromise(err);
          }
        }
      }

      const context: Context = {
        callbackWaitsForEmptyEventLoop: true,
        functionName,
        functionVersion: '$LATEST',
        invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
        memoryLimitInMB: String(decl.memoryMb),
        awsRequestId: randomUUID(),
        logGroupName: `/aws/lambda/${functionName}`,
        logStreamName,
        getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
        // The legacy context methods still settle the invocation in Lambda's Node runtimes.
        done: (error?: Error, result?: unknown) => finish(error, result),
        fail: (error: Error | string) => finish(typeof error === 'string' ? new Error(error) : error),
        succeed: (result: unknown) => finish(undefined, result),
      };

      try {
        const returned = handler(event, context, finish);
        // An async handler settles through its promise; a callback-style one through `finish`.
        if (isThenable(returned))
          returned.then(
            (result) => finish(undefined, result),
            (err) => finish(err ?? new Error('Handler rejected')),
          );
      } catch (err) {
        finish(err ?? new Error('Handler threw'));
      }
    });
  };
}

async function importHandler(file: string, entry: string): Promise<Loaded> {
  const mod = (await import(pathToFileURL(file).href)) as { handler?: unknown };
  if (typeof mod.handler !== 'function') {
    throw new Error(`Runtime.HandlerNotFound: ${entry} does not export a function named handler`);
  }
  return { handler: mod.handler as Handler, logStreamName: newLogStreamName() };
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
function marshal(result: unknown): unknown {
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
