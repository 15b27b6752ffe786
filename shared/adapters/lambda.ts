import {
  GetEventSourceMappingCommand,
  InvokeCommand,
  type LambdaClient,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { UpstreamError } from '../errors.ts';
import type { EventSourceSwitch, FunctionInvoker } from '../managers/ports.ts';
import { awsCall } from './aws-errors.ts';

/** Functions invoked synchronously (RequestResponse), their JSON result parsed. */
export class LambdaInvoker implements FunctionInvoker {
  readonly #client: LambdaClient;

  constructor(client: LambdaClient) {
    this.#client = client;
  }

  async invoke(functionName: string, payload: unknown, options: { timeoutMs: number }): Promise<unknown> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), options.timeoutMs);
    try {
      const out = await this.#client.send(
        new InvokeCommand({
          FunctionName: functionName,
          Payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
        { abortSignal: abort.signal },
      );
      const text = out.Payload ? new TextDecoder().decode(out.Payload) : 'null';
      if (out.FunctionError) {
        // Lambda's error document: `{ errorType, errorMessage, trace }`.
        const doc = safeJson(text) as { errorType?: string; errorMessage?: string } | undefined;
        throw new UpstreamError(
          `${functionName} failed: ${doc?.errorType ?? out.FunctionError}: ${doc?.errorMessage ?? 'no message'}`,
        );
      }
      const result = safeJson(text);
      if (result === undefined)
        throw new UpstreamError(`${functionName} answered something that is not JSON`);
      return result;
    } catch (err) {
      if (abort.signal.aborted) {
        throw new UpstreamError(`${functionName} did not answer within ${options.timeoutMs} ms`, {
          retryable: true,
        });
      }
      if (err instanceof UpstreamError) throw err;
      return awsCall(`Lambda Invoke ${functionName}`, () => Promise.reject(err));
    } finally {
      clearTimeout(timer);
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** How long a mapping may take to settle: within the coordinator API function's 29 s timeout. */
const SETTLE_TIMEOUT_MS = 20_000;
const SETTLE_POLL_MS = 250;

/**
 * Event source mappings switched with UpdateEventSourceMapping, then watched with
 * GetEventSourceMapping until Lambda reports them `Enabled` or `Disabled`: a mapping still
 * `Disabling` may take one more batch, so a manager is not `stopped` before its mappings are.
 */
export class LambdaEventSources implements EventSourceSwitch {
  readonly #client: LambdaClient;

  constructor(client: LambdaClient) {
    this.#client = client;
  }

  async setEnabled(uuid: string, enabled: boolean): Promise<{ uuid: string; state: string }> {
    const wanted = enabled ? 'Enabled' : 'Disabled';
    let state = (
      await awsCall('Lambda UpdateEventSourceMapping', () =>
        this.#client.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: enabled })),
      )
    ).State;
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (state !== wanted) {
      if (Date.now() > deadline) {
        throw new UpstreamError(
          `event source mapping ${uuid} is still ${state ?? 'unknown'}, not ${wanted}`,
          {
            retryable: true,
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
      state = (
        await awsCall('Lambda GetEventSourceMapping', () =>
          this.#client.send(new GetEventSourceMappingCommand({ UUID: uuid })),
        )
      ).State;
    }
    return { uuid, state };
  }
}
