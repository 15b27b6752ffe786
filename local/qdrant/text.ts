/**
 * Full-text tokenization for `match.text`, `match.text_any` and `match.phrase`, as Qdrant's text
 * index does it (segment `full_text_index/tokenizers`): a field with a text index is matched with
 * that index's tokenizer, `lowercase`, custom stopwords and token lengths; a field without one with
 * the defaults (the `word` tokenizer, lowercased), which is what Qdrant ≥ 1.19.1 does there.
 *
 * Not reproduced (refused when an index asks for them, see unsupportedTextParam): the predefined
 * stopword lists of each language, stemming and ASCII folding.
 */

export const TOKENIZERS = ['prefix', 'whitespace', 'word', 'multilingual'] as const;
export type Tokenizer = (typeof TOKENIZERS)[number];

export interface TextOptions {
  tokenizer: Tokenizer;
  lowercase: boolean;
  /** Tokens dropped (already lowercased when `lowercase`). */
  stopwords: ReadonlySet<string>;
  /** Token length bounds, in characters. */
  minTokenLen: number | undefined;
  maxTokenLen: number | undefined;
}

export const DEFAULT_TEXT_OPTIONS: TextOptions = {
  tokenizer: 'word',
  lowercase: true,
  stopwords: new Set(),
  minTokenLen: undefined,
  maxTokenLen: undefined,
};

type Params = Record<string, unknown>;

const isParams = (value: unknown): value is Params =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The options of a stored field schema if it is a text index (`"text"` or `{"type": "text", …}`). */
export function textOptions(schema: unknown): TextOptions | undefined {
  if (schema === 'text') return DEFAULT_TEXT_OPTIONS;
  if (!isParams(schema) || schema.type !== 'text') return undefined;
  const lowercase = schema.lowercase !== false;
  const custom = isParams(schema.stopwords) ? schema.stopwords.custom : undefined;
  const words = Array.isArray(custom) ? custom.filter((word) => typeof word === 'string') : [];
  const length = (value: unknown) => (typeof value === 'number' ? value : undefined);
  return {
    tokenizer: TOKENIZERS.find((name) => name === schema.tokenizer) ?? 'word',
    lowercase,
    stopwords: new Set(lowercase ? words.map((word) => word.toLowerCase()) : words),
    minTokenLen: length(schema.min_token_len),
    maxTokenLen: length(schema.max_token_len),
  };
}

/** Why this server cannot apply the text index parameters `params`, if it cannot. */
export function unsupportedTextParam(params: Params): string | undefined {
  const { stopwords } = params;
  if (
    typeof stopwords === 'string' ||
    (isParams(stopwords) && Array.isArray(stopwords.languages) && stopwords.languages.length > 0)
  ) {
    return 'stopwords: the stopwords of a language are not supported by this embedded server (custom ones are)';
  }
  if (params.stemmer !== undefined && params.stemmer !== null) {
    return 'stemmer: stemming is not supported by this embedded server';
  }
  if (params.ascii_folding === true) {
    return 'ascii_folding: ASCII folding is not supported by this embedded server';
  }
  return undefined;
}

const NOT_WORD = /[^\p{Alphabetic}\p{N}]+/u;
const WHITESPACE = /\p{White_Space}+/u;
const HAS_LETTER = /\p{Alphabetic}/u;
const segmenter = new Intl.Segmenter(undefined, { granularity: 'word' });

/**
 * Words of the `multilingual` tokenizer. Qdrant segments with charabia (dictionaries for CJK and
 * Thai) and lowercases whatever the `lowercase` option says; ICU's word segmentation is the
 * nearest thing at hand. As there, words without a letter (numbers) are dropped.
 */
function multilingualWords(text: string): string[] {
  const out: string[] = [];
  for (const { segment, isWordLike } of segmenter.segment(text)) {
    if (!isWordLike) continue;
    // charabia also splits at apostrophes and dots inside a word: "it's" → "it", "s".
    for (const word of segment.split(NOT_WORD)) if (HAS_LETTER.test(word)) out.push(word.toLowerCase());
  }
  return out;
}

function words(text: string, tokenizer: Tokenizer): string[] {
  if (tokenizer === 'whitespace') return text.split(WHITESPACE);
  if (tokenizer === 'multilingual') return multilingualWords(text);
  return text.split(NOT_WORD);
}

const charCount = (token: string): number => [...token].length;

/** Qdrant's per-token processing: lowercase, drop stopwords, drop tokens of a length out of bounds. */
function processToken(token: string, options: TextOptions, checkMax: boolean): string | undefined {
  if (token === '') return undefined;
  const out = options.lowercase ? token.toLowerCase() : token;
  if (options.stopwords.has(out)) return undefined;
  const length = charCount(out);
  if (options.minTokenLen !== undefined && length < options.minTokenLen) return undefined;
  if (checkMax && options.maxTokenLen !== undefined && length > options.maxTokenLen) return undefined;
  return out;
}

/**
 * The tokens of a stored value. The prefix tokenizer indexes every prefix of each word, from
 * `min_token_len` (default 1) to `max_token_len` characters, and the whole word when shorter.
 */
export function documentTokens(text: string, options: TextOptions): string[] {
  const out: string[] = [];
  for (const word of words(text, options.tokenizer)) {
    const token = processToken(word, options, options.tokenizer !== 'prefix');
    if (token === undefined) continue;
    if (options.tokenizer !== 'prefix') {
      out.push(token);
      continue;
    }
    const chars = [...token];
    for (let n = options.minTokenLen ?? 1; n <= (options.maxTokenLen ?? chars.length); n++) {
      if (chars.length <= n) {
        out.push(token);
        break;
      }
      out.push(chars.slice(0, n).join(''));
    }
  }
  return out;
}

/**
 * The tokens of a query. With the prefix tokenizer each query word is one prefix to look up (cut
 * to `max_token_len`), and stopwords are kept: a partly typed word may look like one.
 */
export function queryTokens(text: string, options: TextOptions): string[] {
  if (options.tokenizer !== 'prefix') return documentTokens(text, options);
  const out: string[] = [];
  for (const word of text.split(NOT_WORD)) {
    if (word === '') continue;
    const chars = [...(options.lowercase ? word.toLowerCase() : word)];
    if (options.minTokenLen !== undefined && chars.length < options.minTokenLen) continue;
    out.push(chars.slice(0, options.maxTokenLen ?? chars.length).join(''));
  }
  return out;
}
