import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAIEmbedder, type OpenAIEmbedderOptions } from '#shared/embeddings/openai.ts';
import { MAX_INPUT_TOKENS } from '#shared/embeddings/validate.ts';
import { UpstreamError, ValidationError } from '#shared/errors.ts';

const API_KEY = 'sk-test-4f9c2e7a1b3d5f60secretvalue';

interface Recorded {
  headers: IncomingHttpHeaders;
  body: { model: string; input: string[]; dimensions?: number; encoding_format?: string };
}

/** What the fake answers to one request; `undefined` means a well-formed answer. */
type Script = (req: Recorded, res: ServerResponse) => boolean | undefined;

/** Deterministic vector for a text: tests compute the expected rows with it. */
function fakeVector(text: string, dims: number): number[] {
  let h = 7;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)!) % 10007;
  return Array.from({ length: dims }, (_, k) => ((h + k * 13) % 101) / 101);
}

/** A minimal OpenAI-compatible server: POST /v1/embeddings, scripted failures, answers out of order. */
class FakeOpenAI {
  readonly requests: Recorded[] = [];
  script: Script[] = [];
  /** Dimensions answered when the request names none (models without the parameter). */
  nativeDimensions = 4;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        this.handle(req.method, req.url, req.headers, Buffer.concat(chunks).toString('utf8'), res),
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  reset(): void {
    this.requests.length = 0;
    this.script = [];
    this.nativeDimensions = 4;
  }

  private handle(
    method: string | undefined,
    url: string | undefined,
    headers: IncomingHttpHeaders,
    raw: string,
    res: ServerResponse,
  ): void {
    if (method !== 'POST' || url !== '/v1/embeddings') {
      json(res, 404, { error: { message: `no route ${method} ${url}`, type: 'invalid_request_error' } });
      return;
    }
    const recorded: Recorded = { headers, body: JSON.parse(raw) };
    this.requests.push(recorded);
    const step = this.script.shift();
    if (step?.(recorded, res)) return;
    const dims = recorded.body.dimensions ?? this.nativeDimensions;
    const data = recorded.body.input.map((text, index) => ({
      object: 'embedding',
      index,
      embedding: fakeVector(text, dims),
    }));
    // Reversed, so that only re-ordering by `index` gives the right rows.
    json(res, 200, { object: 'list', model: recorded.body.model, data: data.reverse(), usage: {} });
  }
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): true {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
  return true;
}

const fail =
  (status: number, headers: Record<string, string> = {}, message = `status ${status}`): Script =>
  (_req, res) =>
    json(res, status, { error: { message, type: 'server_error' } }, headers);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Nothing about an error — message, issues, cause — may carry the key. */
function expectNoKey(err: unknown): void {
  const e = err as Error;
  const dump = [e.message, e.stack, JSON.stringify(e), String(e.cause)].join('\n');
  expect(dump).not.toContain(API_KEY);
  expect(dump).not.toContain(API_KEY.slice(-12));
}

describe('OpenAIEmbedder against a local OpenAI-compatible server', () => {
  const fake = new FakeOpenAI();
  let baseUrl = '';
  let sleeps: number[] = [];

  const make = (options: Partial<OpenAIEmbedderOptions> = {}): OpenAIEmbedder =>
    new OpenAIEmbedder({
      apiKey: API_KEY,
      baseUrl,
      dimensions: 8,
      ...options,
      retry: {
        maxAttempts: 3,
        baseDelayMs: 2,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        ...options.retry,
      },
    });

  beforeAll(async () => {
    baseUrl = await fake.start();
  });
  afterAll(() => fake.stop());
  beforeEach(() => {
    fake.reset();
    sleeps = [];
  });

  it('sends model, float encoding, dimensions and the key; returns rows in input order', async () => {
    const texts = ['alpha', 'beta', 'gamma', 'delta'];
    const rows = await make().embed(texts);

    expect(rows).toEqual(texts.map((t) => fakeVector(t, 8)));
    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect(req!.body).toEqual({
      model: 'text-embedding-3-small',
      input: texts,
      dimensions: 8,
      encoding_format: 'float',
    });
    expect(req!.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it('defaults to text-embedding-3-small at 1536 dimensions', async () => {
    const embedder = new OpenAIEmbedder({ apiKey: API_KEY, baseUrl });
    const [row] = await embedder.embed(['x']);

    expect([embedder.model, embedder.dimensions]).toEqual(['text-embedding-3-small', 1536]);
    expect(row).toHaveLength(1536);
    expect(fake.requests[0]!.body.dimensions).toBe(1536);
  });

  it('makes no call for an empty list', async () => {
    expect(await make().embed([])).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });

  it('splits by input count: at most 2048 inputs per request by default', async () => {
    const texts = Array.from({ length: 2050 }, (_, i) => `t${i}`);
    const rows = await make().embed(texts);

    expect(fake.requests.map((r) => r.body.input.length)).toEqual([2048, 2]);
    expect(rows[2049]).toEqual(fakeVector('t2049', 8));
    expect(rows[0]).toEqual(fakeVector('t0', 8));
  });

  it('splits by input count and by estimated tokens, keeping order across requests', async () => {
    const texts = Array.from({ length: 7 }, (_, i) => `text-${i}`);
    const byCount = await make({ batch: { maxInputs: 3 } }).embed(texts);
    const countSizes = fake.requests.map((r) => r.body.input.length);
    fake.reset();
    // Each 9-byte text is 3 estimated tokens: a budget of 10 holds three of them.
    const nine = Array.from({ length: 7 }, (_, i) => `nine-by-${i}`);
    const byTokens = await make({ batch: { maxTokens: 10 } }).embed(nine);

    expect(countSizes).toEqual([3, 3, 1]);
    expect(byCount).toEqual(texts.map((t) => fakeVector(t, 8)));
    expect(fake.requests.map((r) => r.body.input)).toEqual([
      nine.slice(0, 3),
      nine.slice(3, 6),
      nine.slice(6),
    ]);
    expect(byTokens).toEqual(nine.map((t) => fakeVector(t, 8)));
  });

  it('sends an input larger than the token budget alone rather than never', async () => {
    await make({ batch: { maxTokens: 2 } }).embed(['a much longer text', 'b']);
    expect(fake.requests.map((r) => r.body.input.length)).toEqual([1, 1]);
  });

  it('omits dimensions for models without the parameter and checks the answer size', async () => {
    fake.nativeDimensions = 8;
    const rows = await make({ model: 'text-embedding-ada-002' }).embed(['one']);
    expect(fake.requests[0]!.body).not.toHaveProperty('dimensions');
    expect(rows[0]).toHaveLength(8);

    fake.nativeDimensions = 5;
    const err = await rejection(make({ model: 'text-embedding-ada-002' }).embed(['one']));
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/returned 5 dimensions, 8 configured/);
  });

  it('retries 429 after the retry-after-ms delay, then succeeds', async () => {
    fake.script = [fail(429, { 'retry-after-ms': '7' })];
    const rows = await make().embed(['a', 'b']);

    expect(rows).toEqual([fakeVector('a', 8), fakeVector('b', 8)]);
    expect(fake.requests).toHaveLength(2);
    expect(sleeps).toEqual([7]);
  });

  it('reads retry-after in seconds too', async () => {
    fake.script = [fail(429, { 'retry-after': '0.004' })];
    await make().embed(['a']);
    expect(sleeps).toEqual([4]);
  });

  it('retries 5xx with exponential backoff and jitter, then succeeds', async () => {
    fake.script = [fail(500), fail(503)];
    const rows = await make({ retry: { maxAttempts: 3, baseDelayMs: 100 } }).embed(['a']);

    expect(rows).toEqual([fakeVector('a', 8)]);
    expect(fake.requests).toHaveLength(3);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[1]).toBeGreaterThanOrEqual(100);
    expect(sleeps[1]).toBeLessThanOrEqual(200);
  });

  it('gives up after the bounded attempts with a retryable UpstreamError', async () => {
    fake.script = [fail(500), fail(502), fail(500), fail(500)];
    const err = await rejection(make().embed(['a']));

    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/gave up after 3 attempts/);
    expect(fake.requests).toHaveLength(3);
    expectNoKey(err);
  });

  it('stops at once when retry-after exceeds the longest wait', async () => {
    fake.script = [fail(429, { 'retry-after': '120' })];
    const err = await rejection(make({ retry: { maxDelayMs: 1000 } }).embed(['a']));

    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/retry after 120000 ms/);
    expect(fake.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('treats 401 as non-retryable, keeps OpenAI message, and never reveals the key', async () => {
    const echo: Script = (req, res) =>
      json(res, 401, {
        error: {
          message: `Incorrect API key provided: ${req.headers.authorization?.replace('Bearer ', '')}. Also ${API_KEY.slice(0, 6)}****${API_KEY.slice(-4)}`,
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        },
      });
    fake.script = [echo];
    const err = await rejection(make().embed(['a']));

    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/401 Incorrect API key provided/);
    expect(fake.requests).toHaveLength(1);
    expectNoKey(err);
    expect((err as Error).message).not.toContain(API_KEY.slice(-4));
  });

  it('treats other 4xx as non-retryable with the upstream message', async () => {
    fake.script = [fail(400, {}, "This model's maximum context length is 8192 tokens")];
    const err = await rejection(make().embed(['a']));

    expect((err as UpstreamError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/400 This model's maximum context length/);
    expect(fake.requests).toHaveLength(1);
  });

  it.each([
    ['data is not an array', { data: 'nope' }],
    ['too few embeddings', { data: [] }],
    ['an index out of range', { data: [{ index: 5, embedding: fakeVector('a', 8) }] }],
    ['a non-numeric vector', { data: [{ index: 0, embedding: ['x'] }] }],
  ])('rejects a malformed response (%s) as non-retryable', async (_label, body) => {
    fake.script = [(_req, res) => json(res, 200, body)];
    const err = await rejection(make().embed(['a']));

    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/malformed response|dimensions/);
    expect(fake.requests).toHaveLength(1);
  });

  it('rejects repeated indices', async () => {
    fake.script = [
      (_req, res) =>
        json(res, 200, {
          data: [
            { index: 0, embedding: fakeVector('a', 8) },
            { index: 0, embedding: fakeVector('b', 8) },
          ],
        }),
    ];
    const err = await rejection(make().embed(['a', 'b']));
    expect((err as Error).message).toMatch(/repeated index 0/);
  });

  it('rejects a body that is not JSON', async () => {
    fake.script = [
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"data": [');
        return true;
      },
    ];
    const err = await rejection(make().embed(['a']));
    expect((err as UpstreamError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/invalid JSON/);
  });

  it('retries network errors, then fails retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await rejection(make({ baseUrl: `http://127.0.0.1:${port}/v1` }).embed(['a']));

    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
    expect(sleeps).toHaveLength(2);
    expectNoKey(err);
  });

  it('validates every input before any call', async () => {
    const err = await rejection(make().embed(['fine', '   ', 'y'.repeat(MAX_INPUT_TOKENS * 3 + 3)]));

    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.field)).toEqual(['texts.1', 'texts.2']);
    expect(fake.requests).toHaveLength(0);
  });

  it('refuses a configuration without a key or with unknown dimensions', () => {
    expect(() => new OpenAIEmbedder({ apiKey: '' })).toThrow(/API key/);
    expect(() => new OpenAIEmbedder({ apiKey: API_KEY, model: 'my-model' })).toThrow(/dimensions/);
  });
});
