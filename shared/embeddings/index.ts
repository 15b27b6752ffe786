import { createHash } from 'node:crypto';
import type { Config } from '../config.ts';
import { LOCAL_EMBEDDING_MODEL } from '../config.ts';
import type { Embedder } from './embedder.ts';
import { LocalEmbedder } from './local.ts';
import { OpenAIEmbedder } from './openai.ts';

export type { Embedder } from './embedder.ts';
export { LocalEmbedder, type LocalEmbedderOptions } from './local.ts';
export { OpenAIEmbedder, type OpenAIEmbedderOptions, type RetryOptions } from './openai.ts';
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
  return new OpenAIEmbedder({
    apiKey: config.apiKey,
    model: config.model,
    dimensions: config.dimensions,
    ...(config.baseUrl ? { baseUrl: config.baseUrl } : {}),
  });
}

function cacheKey(config: Config['embedder']): string {
  if (config.provider === 'local') return JSON.stringify(['local', config.model, config.dimensions]);
  // The key is kept as a digest so the raw secret is not copied into another long-lived string.
  const keyDigest = createHash('sha256').update(config.apiKey).digest('hex');
  return JSON.stringify(['openai', config.model, config.dimensions, config.baseUrl ?? null, keyDigest]);
}
