import { describe, expect, it } from 'vitest';
import { createEmbedder, LocalEmbedder } from '#shared/embeddings/index.ts';

describe('createEmbedder', () => {
  it('builds the local embedder with the configured dimensions, once per configuration', () => {
    const a = createEmbedder({ provider: 'local', model: 'local-hash-v1', dimensions: 64 });
    const b = createEmbedder({ provider: 'local', model: 'local-hash-v1', dimensions: 64 });
    const c = createEmbedder({ provider: 'local', model: 'local-hash-v1', dimensions: 32 });

    expect(a).toBeInstanceOf(LocalEmbedder);
    expect(a.dimensions).toBe(64);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(c.dimensions).toBe(32);
  });

  it('builds the OpenAI embedder, distinct per key, base URL or model', () => {
    const config = {
      provider: 'openai' as const,
      model: 'text-embedding-3-small',
      dimensions: 256,
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKeySecret: 'env:KEY_ONE',
    };
    const a = createEmbedder(config);

    expect([a.model, a.dimensions]).toEqual(['text-embedding-3-small', 256]);
    expect(createEmbedder({ ...config })).toBe(a);
    expect(createEmbedder({ ...config, apiKeySecret: 'env:KEY_TWO' })).not.toBe(a);
    expect(createEmbedder({ ...config, baseUrl: 'http://127.0.0.1:10/v1' })).not.toBe(a);
    expect(createEmbedder({ ...config, model: 'text-embedding-3-large' })).not.toBe(a);
  });

  it('reads the OpenAI key only when it first embeds, and retries a failed read', async () => {
    const embedder = createEmbedder({
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: 8,
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKeySecret: 'env:VP_TEST_UNSET_KEY',
    });
    await expect(embedder.embed(['hello'])).rejects.toThrow(/env:VP_TEST_UNSET_KEY is empty/);
    await expect(embedder.embed(['hello'])).rejects.toThrow(/env:VP_TEST_UNSET_KEY is empty/);
  });

  it('refuses a local model name other than the implemented algorithm', () => {
    expect(() => createEmbedder({ provider: 'local', model: 'local-hash-v0', dimensions: 384 })).toThrow(
      /implements local-hash-v1/,
    );
  });
});
