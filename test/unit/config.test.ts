import { describe, expect, it } from 'vitest';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL, loadConfig, parseEnv } from '#shared/config.ts';
import { createEmbedder } from '#shared/embeddings/index.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';

describe('configuration', () => {
  it('defaults to the offline embedder and local stage', async () => {
    const config = await loadConfig({ QDRANT_URL: 'http://127.0.0.1:6333' });
    expect(config.stage).toBe('local');
    expect(config.embedder).toEqual({
      provider: 'local',
      model: LOCAL_EMBEDDING_MODEL,
      dimensions: LOCAL_EMBEDDING_DIMENSIONS,
    });
    expect(config.qdrant).toEqual({ url: 'http://127.0.0.1:6333' });
  });

  it('names every invalid variable', () => {
    const parse = () => parseEnv({ QDRANT_URL: 'not a url', EMBEDDER: 'cohere', MAX_BODY_BYTES: '-3' });
    expect(parse).toThrow(/^Invalid configuration: /);
    expect(parse).toThrow(/QDRANT_URL/);
    expect(parse).toThrow(/EMBEDDER/);
    expect(parse).toThrow(/MAX_BODY_BYTES/);
  });

  it('needs no Qdrant location for a function granted no qdrant access; its client names the missing grant', async () => {
    const config = await loadConfig({});
    expect(config.qdrant).toBeUndefined();
    expect(() => getQdrantClient(config.qdrant)).toThrow(/QDRANT_URL.*no `qdrant` access/);
  });

  it('reads the OpenAI key through a secret reference, never from a plain variable', async () => {
    // A function granted no embedder access loads its configuration, and fails only if it embeds.
    const withoutKey = await loadConfig({ QDRANT_URL: 'http://q:6333', EMBEDDER: 'openai' });
    await expect(createEmbedder(withoutKey.embedder).embed(['hello'])).rejects.toThrow(
      /OPENAI_API_KEY_SECRET is not set \(no `embedder` access\)/,
    );
    process.env.TEST_OPENAI_KEY = 'sk-test-value';
    const config = await loadConfig({
      QDRANT_URL: 'http://q:6333',
      EMBEDDER: 'openai',
      OPENAI_API_KEY_SECRET: 'env:TEST_OPENAI_KEY',
      EMBEDDING_DIMENSIONS: '256',
    });
    expect(config.embedder).toMatchObject({
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: 256,
    });
    delete process.env.TEST_OPENAI_KEY;
  });
});
