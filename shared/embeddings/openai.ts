import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI, { APIConnectionError, APIError } from 'openai';
import * as z from 'zod';
import { OPENAI_EMBEDDING_MODEL } from '../config.ts';
import { UpstreamError } from '../errors.ts';
import type { Embedder } from './embedder.ts';
import { estimateTokens, validateTexts } from './validate.ts';

/** OpenAI's per-request limits for embeddings (every model). */
export const OPENAI_MAX_INPUTS_PER_REQUEST = 2048;
export const OPENAI_MAX_TOKENS_PER_REQUEST = 300_000;
/** Default request budget in estimated tokens: a margin under OpenAI's limit for the estimate's error. */
const DEFAULT_TOKENS_PER_REQUEST = 240_000;

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
const DEFAULT_TIMEOUT_MS = 30_000;
const KNOWN_DIMENSIONS: Record<string, number> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

export interface RetryOptions {
  /** Total attempts per request, first included. Default 5. */
  maxAttempts?: number;
  /** First backoff delay; doubles each attempt, with jitter. Default 500 ms. */
  baseDelayMs?: number;
  /** Longest wait: a `retry-after` beyond it ends the retries at once (the caller retries later). Default 20 s. */
  maxDelayMs?: number;
  /** How to wait; replaced in tests to observe the delays. */
  sleep?: (ms: number) => Promise<unknown>;
}

export interface OpenAIEmbedderOptions {
  apiKey: string;
  /** Default `text-embedding-3-small`. */
  model?: string;
  /** Vector size. Sent to text-embedding-3-* models; for others, checked against the answer. */
  dimensions?: number;
  /** Any OpenAI-compatible server, e.g. `http://127.0.0.1:8080/v1`. Default OpenAI's. */
  baseUrl?: string;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** Request size limits, capped at OpenAI's: at most 2048 inputs and 300k tokens (estimated). */
  batch?: { maxInputs?: number; maxTokens?: number };
}

const ResponseSchema = z.object({
  data: z.array(z.object({ index: z.number().int().nonnegative(), embedding: z.array(z.number()) })),
});

interface Failure {
  retryable: boolean;
  message: string;
  retryAfterMs?: number;
}

/**
 * Embeddings through the `openai` SDK. Inputs are validated up front, split into requests within
 * OpenAI's limits and sent one request at a time; answers are checked and re-ordered by `index`.
 * 429, 408, 5xx and network failures are retried with exponential backoff and jitter (honouring
 * `retry-after-ms` / `retry-after`), then reported as a retryable UpstreamError; other 4xx are not
 * retried. The API key never appears in an error: messages are sanitized and SDK errors are not
 * attached as causes.
 */
export class OpenAIEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  private readonly client: OpenAI;
  private readonly apiKey: string;
  private readonly sendDimensions: boolean;
  private readonly maxInputs: number;
  private readonly maxTokens: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<unknown>;

  constructor(options: OpenAIEmbedderOptions) {
    if (!options.apiKey) throw new Error('Invalid configuration: the OpenAI embedder needs an API key');
    this.model = options.model ?? OPENAI_EMBEDDING_MODEL;
    const dimensions = options.dimensions ?? KNOWN_DIMENSIONS[this.model];
    if (dimensions === undefined || !Number.isSafeInteger(dimensions) || dimensions <= 0) {
      throw new Error(
        `Invalid configuration: embedding dimensions must be a positive integer for model ${this.model}`,
      );
    }
    this.dimensions = dimensions;
    this.sendDimensions = this.model.startsWith('text-embedding-3-');
    this.apiKey = options.apiKey;
    this.maxInputs = clamp(
      options.batch?.maxInputs ?? OPENAI_MAX_INPUTS_PER_REQUEST,
      OPENAI_MAX_INPUTS_PER_REQUEST,
    );
    this.maxTokens = clamp(
      options.batch?.maxTokens ?? DEFAULT_TOKENS_PER_REQUEST,
      OPENAI_MAX_TOKENS_PER_REQUEST,
    );
    this.maxAttempts = Math.max(1, Math.floor(options.retry?.maxAttempts ?? 5));
    this.baseDelayMs = Math.max(0, options.retry?.baseDelayMs ?? 500);
    this.maxDelayMs = Math.max(0, options.retry?.maxDelayMs ?? 20_000);
    this.sleep = options.retry?.sleep ?? sleep;
    // Retries are ours (one policy, key-free errors); the base URL is explicit so that no
    // environment variable read by the SDK can redirect the key elsewhere.
    this.client = new OpenAI({
      apiKey: options.apiKey,
      baseURL: options.baseUrl ?? DEFAULT_BASE_URL,
      maxRetries: 0,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  }

  async embed(texts: string[]): Promise<number[][]> {
    validateTexts(texts);
    const rows: number[][] = [];
    for (const [start, end] of this.batches(texts)) {
      for (const row of await this.embedBatch(texts.slice(start, end))) rows.push(row);
    }
    return rows;
  }

  /** Consecutive `[start, end)` ranges, each within the input and token budgets. */
  private *batches(texts: string[]): Generator<[number, number]> {
    let start = 0;
    let tokens = 0;
    for (let i = 0; i < texts.length; i++) {
      const t = estimateTokens(texts[i]!);
      if (i > start && (i - start === this.maxInputs || tokens + t > this.maxTokens)) {
        yield [start, i];
        start = i;
        tokens = 0;
      }
      tokens += t;
    }
    if (start < texts.length) yield [start, texts.length];
  }

  private async embedBatch(input: string[]): Promise<number[][]> {
    for (let attempt = 1; ; attempt++) {
      let response: unknown;
      try {
        response = await this.client.embeddings.create({
          model: this.model,
          input,
          encoding_format: 'float',
          ...(this.sendDimensions ? { dimensions: this.dimensions } : {}),
        });
      } catch (err) {
        const failure = this.describe(err);
        if (!failure.retryable) throw new UpstreamError(`OpenAI embeddings: ${failure.message}`);
        if (attempt >= this.maxAttempts) {
          throw new UpstreamError(
            `OpenAI embeddings: ${failure.message} (gave up after ${attempt} attempts)`,
            {
              retryable: true,
            },
          );
        }
        const delay = failure.retryAfterMs ?? this.backoff(attempt);
        if (delay > this.maxDelayMs) {
          throw new UpstreamError(
            `OpenAI embeddings: ${failure.message} (asked to retry after ${Math.ceil(delay)} ms)`,
            {
              retryable: true,
            },
          );
        }
        await this.sleep(delay);
        continue;
      }
      return this.rows(response, input.length);
    }
  }

  /** Exponential backoff with equal jitter: half fixed, half random. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  /** The vectors in input order; anything unexpected is a non-retryable UpstreamError. */
  private rows(response: unknown, count: number): number[][] {
    const parsed = ResponseSchema.safeParse(response);
    if (!parsed.success)
      throw new UpstreamError('OpenAI embeddings: malformed response (no valid data array)');
    const { data } = parsed.data;
    if (data.length !== count) {
      throw new UpstreamError(
        `OpenAI embeddings: malformed response (${data.length} embeddings for ${count} inputs)`,
      );
    }
    const rows: number[][] = new Array(count);
    for (const item of data) {
      if (item.index >= count || rows[item.index] !== undefined) {
        throw new UpstreamError(
          `OpenAI embeddings: malformed response (unexpected or repeated index ${item.index})`,
        );
      }
      if (item.embedding.length !== this.dimensions) {
        throw new UpstreamError(
          `OpenAI embeddings: model ${this.model} returned ${item.embedding.length} dimensions, ${this.dimensions} configured`,
        );
      }
      rows[item.index] = item.embedding;
    }
    return rows;
  }

  private describe(err: unknown): Failure {
    // APIConnectionError (timeouts included) extends APIError but has no status: check it first.
    if (err instanceof APIConnectionError) return { retryable: true, message: this.sanitize(err.message) };
    if (err instanceof APIError) {
      const status = err.status ?? 0;
      const retryable = status === 429 || status === 408 || status >= 500;
      const retryAfterMs = retryable ? retryAfter(err.headers) : undefined;
      return {
        retryable,
        message: this.sanitize(err.message),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    // A body that is not JSON though labelled so: the server is broken, not busy.
    if (err instanceof SyntaxError) return { retryable: false, message: 'malformed response (invalid JSON)' };
    // Anything else comes from reading the response (connection reset mid-body): transient.
    return { retryable: true, message: this.sanitize(err instanceof Error ? err.message : String(err)) };
  }

  /** Removes the key (and anything key- or bearer-shaped, OpenAI echoes masked keys) and bounds the length. */
  private sanitize(message: string): string {
    let out = this.apiKey.length >= 4 ? message.split(this.apiKey).join('[redacted]') : message;
    out = out.replace(/\bsk-[\w*.-]+/g, 'sk-[redacted]').replace(/\bBearer\s+\S+/gi, 'Bearer [redacted]');
    return out.length > 500 ? `${out.slice(0, 500)}…` : out;
  }
}

function clamp(value: number, max: number): number {
  return Math.min(max, Math.max(1, Math.floor(value)));
}

/** `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date), in milliseconds. */
function retryAfter(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
