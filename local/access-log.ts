import { isReported, type WrittenAccessLogLine } from '../shared/access-log/format.ts';
import { encodeSubscriptionEvent, type LogEvent } from '../shared/access-log/subscription.ts';
import type { Invoke } from './functions.ts';
import { LOCAL_ACCOUNT_ID } from './iam.ts';

/**
 * The access log's subscription filter, locally: the gateway's lines the filter selects
 * (`isReported`, the predicate the AWS filter pattern is derived from) are batched as CloudWatch
 * Logs batches them (up to a second, or `maxLines`) and delivered to the consumer as the same
 * event (`awslogs.data`: base64 of gzipped JSON), asynchronously, with Lambda's two retries.
 */

export interface AccessLogSubscriptionOptions {
  /** The consuming function (the manifest's `apiAccessLogConsumer`). */
  consumer: string;
  invoke: Invoke;
  logGroup: string;
  /** Longest wait before a delivery. */
  flushMs?: number;
  /** Lines per delivery at most. */
  maxLines?: number;
  retryDelaysMs?: readonly number[];
  log?: (message: string) => void;
}

export const SUBSCRIPTION_FILTER_NAME = 'ApiAccessLogSubscription';

export class AccessLogSubscription {
  readonly #opts: AccessLogSubscriptionOptions;
  readonly #pending: LogEvent[] = [];
  readonly #deliveries = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #sequence = 0;
  #closed = false;

  constructor(opts: AccessLogSubscriptionOptions) {
    this.#opts = opts;
  }

  /** The gateway's access-log listener: keeps the line if the filter selects it. */
  readonly write = (line: WrittenAccessLogLine): void => {
    if (this.#closed || !isReported(line.status)) return;
    const timestamp = Date.now();
    this.#sequence += 1;
    this.#pending.push({
      // CloudWatch's event ids are 56-digit strings; unique and ordered is what matters here.
      id: `${timestamp}${String(this.#sequence).padStart(12, '0')}`,
      timestamp,
      message: JSON.stringify(line),
    });
    if (this.#pending.length >= (this.#opts.maxLines ?? 100)) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.#opts.flushMs ?? 1_000);
  };

  /** Delivers what is pending now and resolves once every delivery so far has ended. */
  async settled(): Promise<void> {
    this.#flush();
    while (this.#deliveries.size > 0) await Promise.allSettled([...this.#deliveries]);
  }

  async close(): Promise<void> {
    await this.settled();
    this.#closed = true;
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const logEvents = this.#pending.splice(0);
    const event = encodeSubscriptionEvent({
      messageType: 'DATA_MESSAGE',
      owner: LOCAL_ACCOUNT_ID,
      logGroup: this.#opts.logGroup,
      logStream: 'local',
      subscriptionFilters: [SUBSCRIPTION_FILTER_NAME],
      logEvents,
    });
    const delivery = this.#deliver(event, logEvents.length).finally(() => this.#deliveries.delete(delivery));
    this.#deliveries.add(delivery);
  }

  async #deliver(event: unknown, lines: number): Promise<void> {
    const { consumer, invoke } = this.#opts;
    const log = this.#opts.log ?? ((m: string) => console.error(m));
    const retryDelays = this.#opts.retryDelaysMs ?? [1_000, 2_000];
    for (let attempt = 0; ; attempt++) {
      try {
        await invoke(consumer, event);
        return;
      } catch (err) {
        const retryIn = retryDelays[attempt];
        const what = `[access-log] ${consumer} failed for ${lines} lines`;
        if (this.#closed || retryIn === undefined) {
          log(`${what}, giving up: ${(err as Error).message}`);
          return;
        }
        log(`${what} (${(err as Error).message}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, retryIn));
      }
    }
  }
}
