import type { Config } from '../config.ts';
import { LOCAL_EMBEDDING_MODEL, readSecret } from '../config.ts';
import type { Embedder } from './embedder.ts';
import { LocalEmbedder } from './local.ts';
import type { OpenAIEmbedder } from './openai.ts';

export type { Embedder } from './embedder.ts';
export { LocalEmbedder, type LocalEmbedderOptions } from './local.ts';
// Types only: the `openai` SDK is loaded by the first `embed` (see LazyOpenAIEmbedder).
export type { OpenAIEmbedder, OpenAIEmbedderOptions, RetryOptions } from './openai.ts';
export { estimateTokens, MAX_INPUT_TOKENS, validateTexts } from './validate.ts';

const instances = new Map<string, Embedder>();

/**
 * The embedder for a configuration, built once per distinct configuration and then shared
 * (warm Lambdas and the local runtime reuse the HTTP client and the local scratch buffers).
 */
export function createEmbedder(config: Config['embedder']): Embedder {
  const key = cacheKey(config);
  let embedder = instances.get(key);
  if (!embedder) {
    embedder = build(config);
    instances.set(key, embedder);
  }
  return embedder;
}

function build(config: Config['embedder']): Embedder {
  if (config.provider === 'local') {
    // The model name is recorded with collections: it must name the algorithm that produced them.
    if (config.model !== LOCAL_EMBEDDING_MODEL) {
      throw new Error(
        `Invalid configuration: the local embedder implements ${LOCAL_EMBEDDING_MODEL}, not ${config.model}`,
      );
    }
    return new LocalEmbedder({ dimensions: config.dimensions });
  }
  return new LazyOpenAIEmbedder(config);
}

/**
 * Reads the OpenAI key on the first `embed` call, not at cold start, so only functions that
 * actually embed need (and are granted) access to the secret. The `openai` SDK is imported then
 * too: it is the largest dependency (~385 KB minified), a cold start that never embeds does not
 * evaluate it, and a bundle whose function never builds an embedder leaves it out.
 */
class LazyOpenAIEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  private readonly config: Extract<Config['embedder'], { provider: 'openai' }>;
  private inner: Promise<OpenAIEmbedder> | undefined;

  constructor(config: Extract<Config['embedder'], { provider: 'openai' }>) {
    this.config = config;
    this.model = config.model;
    this.dimensions = config.dimensions;
  }

  async embed(texts: string[]): Promise<number[][]> {
    if (!this.inner) {
      const { apiKeySecret, ...options } = this.config;
      if (!apiKeySecret) {
        throw new Error('Invalid configuration: OPENAI_API_KEY_SECRET is not set (no `embedder` access)');
      }
      this.inner = Promise.all([readSecret(apiKeySecret), import('./openai.ts')]).then(
        ([apiKey, { OpenAIEmbedder }]) => new OpenAIEmbedder({ ...options, apiKey }),
      );
      // A failed secret read is retried on the next call rather than cached.
      this.inner.catch(() => {
        this.inner = undefined;
      });
    }
    return (await this.inner).embed(texts);
  }
}

function cacheKey(config: Config['embedder']): string {
  if (config.provider === 'local') return JSON.stringify(['local', config.model, config.dimensions]);
  return JSON.stringify([
    'openai',
    config.model,
    config.dimensions,
    config.baseUrl ?? null,
    config.apiKeySecret,
  ]);
}
