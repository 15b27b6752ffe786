import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFilter } from '#local/qdrant/filter.ts';
import {
  DEFAULT_TEXT_OPTIONS,
  documentTokens,
  queryTokens,
  type TextOptions,
  textOptions,
} from '#local/qdrant/text.ts';
import { failure, type Harness, startHarness } from './harness.ts';

const options = (params: Record<string, unknown>): TextOptions => textOptions({ type: 'text', ...params })!;

describe('tokenizers', () => {
  it('word: runs of letters and digits, lowercased by default', () => {
    expect(documentTokens('Hello, world! Привет, мир! x2', DEFAULT_TEXT_OPTIONS)).toEqual([
      'hello',
      'world',
      'привет',
      'мир',
      'x2',
    ]);
    expect(textOptions('text')).toBe(DEFAULT_TEXT_OPTIONS);
  });

  it('whitespace: splits at white space only', () => {
    expect(documentTokens('Wi-Fi  e-mail,\tok', options({ tokenizer: 'whitespace' }))).toEqual([
      'wi-fi',
      'e-mail,',
      'ok',
    ]);
  });

  it('lowercase false keeps the case on both sides', () => {
    const keepCase = options({ lowercase: false });
    expect(documentTokens('Hello World', keepCase)).toEqual(['Hello', 'World']);
    expect(queryTokens('hello', keepCase)).toEqual(['hello']);
  });

  it('custom stopwords are dropped, case-insensitively when lowercasing', () => {
    const stop = options({ stopwords: { custom: ['The', 'of'] } });
    expect(documentTokens('The Lord of the Rings', stop)).toEqual(['lord', 'rings']);
    const exact = options({ lowercase: false, stopwords: { custom: ['The'] } });
    expect(documentTokens('The the', exact)).toEqual(['the']);
  });

  it('min and max token lengths drop words out of bounds (in characters)', () => {
    const bounded = options({ min_token_len: 2, max_token_len: 4 });
    expect(documentTokens('a to tree forest ééé', bounded)).toEqual(['to', 'tree', 'ééé']);
  });

  it('prefix: every prefix of each word in the document, each query word once (cut to the maximum)', () => {
    const prefix = options({ tokenizer: 'prefix', min_token_len: 2, max_token_len: 4 });
    expect(documentTokens('Hello мир a', prefix)).toEqual(['he', 'hel', 'hell', 'ми', 'мир']);
    expect(queryTokens('HELLO a mi', prefix)).toEqual(['hell', 'mi']);
    const unbounded = options({ tokenizer: 'prefix', stopwords: { custom: ['the'] } });
    expect(documentTokens('theory the', unbounded)).toEqual(['t', 'th', 'the', 'theo', 'theor', 'theory']);
    // A partly typed word is looked up even if it is a stopword.
    expect(queryTokens('the', unbounded)).toEqual(['the']);
  });

  it('multilingual: dictionary word segmentation, lowercased, words without a letter dropped', () => {
    const multilingual = options({ tokenizer: 'multilingual', lowercase: false });
    expect(documentTokens('これはテストです', multilingual)).toEqual(['これ', 'は', 'テスト', 'です']);
    expect(documentTokens("It's Qdrant's code, 2024.", multilingual)).toEqual([
      'it',
      's',
      'qdrant',
      's',
      'code',
    ]);
  });

  it('never throw and never give an empty token, whatever the text and the options', () => {
    const anyOptions = fc.record({
      tokenizer: fc.constantFrom('word', 'whitespace', 'prefix', 'multilingual'),
      lowercase: fc.boolean(),
      min_token_len: fc.option(fc.nat(5), { nil: undefined }),
      max_token_len: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
      stopwords: fc.record({ custom: fc.array(fc.string({ maxLength: 3 })) }),
    });
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), anyOptions, (text, params) => {
        const parsed = options(params);
        for (const token of [...documentTokens(text, parsed), ...queryTokens(text, parsed)]) {
          if (params.min_token_len !== 0) expect(token).not.toBe('');
        }
      }),
    );
  });
});

describe('full-text filters', () => {
  const holds = (condition: unknown, payload: Record<string, unknown>, textIndex?: Record<string, unknown>) =>
    compileFilter({ must: [condition] }, 'filter', (key) =>
      textIndex !== undefined && Object.hasOwn(textIndex, key) ? textOptions(textIndex[key]) : undefined,
    )({ id: 1, payload });

  it('use the text index of the key, also inside a nested filter', () => {
    const index = { title: { type: 'text', lowercase: false } };
    expect(holds({ key: 'title', match: { text: 'fox' } }, { title: 'Fox' })).toBe(true);
    expect(holds({ key: 'title', match: { text: 'fox' } }, { title: 'Fox' }, index)).toBe(false);
    expect(holds({ key: 'title', match: { text: 'Fox' } }, { title: 'Fox' }, index)).toBe(true);
    const nested = {
      nested: { key: 'books', filter: { must: [{ key: 'title', match: { text_any: 'fox cat' } }] } },
    };
    const books = { books: [{ title: 'Fox' }] };
    expect(holds(nested, books)).toBe(true);
    expect(holds(nested, books, { 'books[].title': { type: 'text', lowercase: false } })).toBe(false);
  });

  it('with an index of the prefix tokenizer, match words by their beginning', () => {
    const index = { t: { type: 'text', tokenizer: 'prefix' } };
    expect(holds({ key: 't', match: { text: 'qua vec' } }, { t: 'Quantized vectors' }, index)).toBe(true);
    expect(holds({ key: 't', match: { text: 'qua vec' } }, { t: 'Quantized vectors' })).toBe(false);
    expect(
      holds({ key: 't', match: { phrase: 'quantized vectors' } }, { t: 'Quantized vectors' }, index),
    ).toBe(true);
  });

  it('match nothing when the query is only stopwords', () => {
    const index = { t: { type: 'text', stopwords: { custom: ['the'] } } };
    expect(holds({ key: 't', match: { text: 'the' } }, { t: 'the end' }, index)).toBe(false);
    expect(holds({ key: 't', match: { text: 'the end' } }, { t: 'the end' }, index)).toBe(true);
  });
});

describe('text indexes on the server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.client.createCollection('docs', { vectors: { size: 2, distance: 'Dot' } });
    await h.client.upsert('docs', {
      points: [
        { id: 1, vector: [1, 0], payload: { title: 'Wi-Fi setup guide', body: 'The Quick Fox' } },
        { id: 2, vector: [0, 1], payload: { title: 'Wi Fi for everyone', body: 'the quick fox' } },
      ],
    });
  });
  afterAll(async () => {
    await h.close();
  });

  const matching = async (key: string, match: Record<string, string>) =>
    (await h.client.scroll('docs', { filter: { must: [{ key, match }] }, with_payload: false })).points.map(
      (point) => point.id,
    );

  it("apply the index's tokenizer and lowercase option once the index exists", async () => {
    expect(await matching('title', { text: 'wi-fi' })).toEqual([1, 2]);
    expect(await matching('body', { text: 'Quick' })).toEqual([1, 2]);
    await h.client.createPayloadIndex('docs', {
      field_name: 'title',
      field_schema: { type: 'text', tokenizer: 'whitespace' },
      wait: true,
    });
    await h.client.createPayloadIndex('docs', {
      field_name: 'body',
      field_schema: { type: 'text', lowercase: false, stopwords: { custom: ['the'] } },
      wait: true,
    });
    expect(await matching('title', { text: 'wi-fi' })).toEqual([1]);
    expect(await matching('title', { text_any: 'wi everyone' })).toEqual([2]);
    expect(await matching('body', { text: 'Quick' })).toEqual([1]);
    expect(await matching('body', { text: 'the Quick' })).toEqual([1]);
    // A query of stopwords only has no token to look for.
    expect(
      (await h.client.count('docs', { filter: { must: [{ key: 'body', match: { text: 'the' } }] } })).count,
    ).toBe(0);
    await h.client.deletePayloadIndex('docs', 'title', { wait: true });
    expect(await matching('title', { text: 'wi-fi' })).toEqual([1, 2]);
  });

  it('refuse the parameters this server cannot apply, and malformed ones', async () => {
    const refused = async (field_schema: Record<string, unknown>) =>
      failure(
        h.client.createPayloadIndex('docs', { field_name: 'other', field_schema: field_schema as never }),
      );
    expect(await refused({ type: 'text', stopwords: 'english' })).toEqual({
      status: 400,
      error:
        'Wrong input: field_schema.stopwords: the stopwords of a language are not supported by this embedded server (custom ones are)',
    });
    expect((await refused({ type: 'text', stopwords: { languages: ['english'] } })).status).toBe(400);
    expect((await refused({ type: 'text', ascii_folding: true })).status).toBe(400);
    expect((await refused({ type: 'text', stemmer: { type: 'snowball', language: 'english' } })).error).toBe(
      'Wrong input: field_schema.stemmer: stemming is not supported by this embedded server',
    );
    expect(await refused({ type: 'text', tokenizer: 'sentence' })).toEqual({
      status: 400,
      error:
        'Format error in JSON body: data did not match any variant of untagged enum PayloadFieldSchema at field_schema',
    });
    expect((await refused({ type: 'text', min_token_len: -1 })).status).toBe(400);
    expect((await refused({ type: 'text', stopwords: { custom: [1] } })).status).toBe(400);
    expect((await refused({ type: 'text', stopwords: ['the'] })).status).toBe(400);
    expect(Object.keys((await h.client.getCollection('docs')).payload_schema)).toEqual(['body']);
  });
});
