import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '../config.ts';
import type { Embedder } from './embedder.ts';
import { validateTexts } from './validate.ts';

/**
 * The offline default embedder (`local-hash-v1`): signed feature hashing, no weights, no network.
 *
 * What it measures is LEXICAL similarity: two texts score high when they share words, word pairs
 * or word fragments. It knows nothing of meaning: synonyms ("car"/"automobile") and translations
 * ("delete"/"supprimer") with no letters in common score near zero. It is the default so that the
 * whole platform runs offline; OpenAI (or any compatible endpoint) is the semantic path.
 *
 * Features, each hashed (FNV-1a then murmur3's finalizer, fixed seeds) to a bucket and a sign:
 * - words: Unicode NFKD, combining marks stripped, lowercased, split on anything that is not a
 *   letter or digit ("Définir" ≡ "definir"); a small EN/FR stopword list is dropped unless the
 *   text holds nothing else;
 * - word bigrams of consecutive kept words (order matters);
 * - character 3-grams of each kept word padded with boundary marks (morphology: "definir" and
 *   "definition" share five of them).
 * Repeated features count sublinearly (1 + ln tf). The vector is L2-normalized, so its dot
 * product with another is their cosine. Output is identical across processes and machines
 * (fixed hashes, fixed summation order; V8's Math.log is platform-independent); only a Node
 * whose Unicode tables are newer may classify characters assigned since differently.
 */

const WORD_WEIGHT = 1;
const BIGRAM_WEIGHT = 0.7;
const TRIGRAM_WEIGHT = 0.4;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
// Namespaces keep a word, a bigram and a trigram with equal content from sharing a hash.
const NS_WORD = 0x57;
const NS_TRIGRAM = 0x43;
const NS_BIGRAM = 0x9e3779b1;
/** Padding around a word for its trigrams; never part of a word (words hold letters and digits). */
const BOUNDARY = 0x01;

/** Texts embedded between two yields to the event loop, so a large batch does not stall a server. */
const SLICE = 1024;

/** murmur3's 32-bit finalizer: spreads FNV's weak low bits over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashUnits(units: Uint16Array, start: number, end: number): number {
  let h = Math.imul(FNV_OFFSET ^ NS_WORD, FNV_PRIME);
  for (let i = start; i < end; i++) h = Math.imul(h ^ units[i]!, FNV_PRIME);
  return fmix32(h);
}

// Character classes of UTF-16 code units, filled lazily outside ASCII (one regex test per unit ever seen).
const UNKNOWN = 0;
const WORD = 1;
const MARK = 2;
const SEPARATOR = 3;
const unitClass = new Uint8Array(0x10000);
for (let c = 0; c < 0x80; c++) {
  unitClass[c] =
    (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ? WORD : SEPARATOR;
}
const astralClass = new Map<number, number>();
/** Bounds the astral cache: hostile input cycling through every code point must not grow memory. */
const MAX_ASTRAL_CACHE = 4096;
const WORD_RE = /^[\p{L}\p{N}]$/u;
const MARK_RE = /^\p{M}$/u;

function classifyCodePoint(cp: number): number {
  const ch = String.fromCodePoint(cp);
  return WORD_RE.test(ch) ? WORD : MARK_RE.test(ch) ? MARK : SEPARATOR;
}

// Folded (accent-free, lowercase) forms: they are compared after the same normalization as the text.
const STOPWORDS = [
  // English
  'a an and are as at be been but by for from has have had he her his i if in into is it its me my of on or our' +
    ' she so than that the their them then there these they this those to us was we were which who whom will' +
    ' with you your',
  // French (elided forms l' d' j' qu'… split into their own one-letter words)
  'au aux c ce ces cet cette d dans de des du elle elles en est et etre eu il ils j je l la le les leur leurs' +
    ' lui m ma mais me mes moi mon n nos notre nous ou par pour qu que qui s sa se ses son sont sur t ta te tes' +
    ' toi ton tu un une vos votre vous y',
]
  .join(' ')
  .split(' ');

/** Reusable scratch space: one text at a time, no allocation per word or per n-gram. */
class Featurizer {
  readonly dimensions: number;
  private readonly acc: Float32Array;
  private units: Uint16Array = new Uint16Array(256);
  private wordStart: Int32Array = new Int32Array(64);
  private wordEnd: Int32Array = new Int32Array(64);
  private wordHash: Uint32Array = new Uint32Array(64);
  private wordStop: Uint8Array = new Uint8Array(64);
  private feats: Uint32Array = new Uint32Array(512);
  private wordCount = 0;
  private unitCount = 0;
  private featCount = 0;
  private readonly stopHashes: Set<number>;

  constructor(dimensions: number) {
    this.dimensions = dimensions;
    this.acc = new Float32Array(dimensions);
    this.stopHashes = new Set();
    for (const w of STOPWORDS) {
      this.reset(w.length);
      this.scan(w);
      this.stopHashes.add(this.wordHash[0]!);
    }
  }

  embed(text: string): number[] {
    this.acc.fill(0);
    const normalized = text.normalize('NFKD').toLowerCase();
    this.reset(normalized.length);
    this.scan(normalized);
    if (this.wordCount === 0) {
      // Nothing alphanumeric ("!!!", emoji): the non-space characters themselves form one word.
      const raw = text.replace(/\s+/g, '');
      this.reset(raw.length);
      for (let i = 0; i < raw.length; i++) this.units[i] = raw.charCodeAt(i);
      this.unitCount = raw.length;
      this.pushWord(0, raw.length);
    }
    this.addFeatures();
    return this.normalizedRow(text);
  }

  private reset(length: number): void {
    if (this.units.length < length) this.units = new Uint16Array(length * 2);
    this.wordCount = 0;
    this.unitCount = 0;
  }

  /** Splits into words of letters and digits, copying their code units minus combining marks. */
  private scan(s: string): void {
    let start = -1;
    const len = s.length;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      let cls = unitClass[c]!;
      let width = 1;
      if (cls === UNKNOWN) {
        if (c < 0xd800 || c > 0xdfff) {
          cls = classifyCodePoint(c);
          unitClass[c] = cls;
        } else {
          // Surrogates are never cached per unit: a pair is one code point, a lone one a separator.
          cls = SEPARATOR;
          const low = i + 1 < len ? s.charCodeAt(i + 1) : 0;
          if (c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
            const cp = ((c - 0xd800) << 10) + (low - 0xdc00) + 0x10000;
            let known = astralClass.get(cp);
            if (known === undefined) {
              known = classifyCodePoint(cp);
              if (astralClass.size < MAX_ASTRAL_CACHE) astralClass.set(cp, known);
            }
            cls = known;
            width = 2;
          }
        }
      }
      if (cls === WORD) {
        if (start < 0) start = this.unitCount;
        this.units[this.unitCount++] = c;
        if (width === 2) this.units[this.unitCount++] = s.charCodeAt(i + 1);
      } else if (cls === SEPARATOR && start >= 0) {
        this.pushWord(start, this.unitCount);
        start = -1;
      }
      i += width - 1;
    }
    if (start >= 0) this.pushWord(start, this.unitCount);
  }

  private pushWord(start: number, end: number): void {
    const n = this.wordCount;
    if (n === this.wordStart.length) {
      this.wordStart = grow32(this.wordStart);
      this.wordEnd = grow32(this.wordEnd);
      this.wordHash = growU32(this.wordHash);
      const stop = new Uint8Array(n * 2);
      stop.set(this.wordStop);
      this.wordStop = stop;
    }
    const h = hashUnits(this.units, start, end);
    this.wordStart[n] = start;
    this.wordEnd[n] = end;
    this.wordHash[n] = h;
    this.wordStop[n] = this.stopHashes.has(h) ? 1 : 0;
    this.wordCount = n + 1;
  }

  private addFeatures(): void {
    let kept = 0;
    for (let w = 0; w < this.wordCount; w++) kept += 1 - this.wordStop[w]!;
    const keepStop = kept === 0; // a text of stopwords only ("to be or not to be") keeps them

    // Words.
    this.featCount = 0;
    for (let w = 0; w < this.wordCount; w++)
      if (keepStop || !this.wordStop[w]) this.pushFeat(this.wordHash[w]!);
    this.flush(WORD_WEIGHT);

    // Bigrams of consecutive kept words.
    this.featCount = 0;
    let prev = -1;
    for (let w = 0; w < this.wordCount; w++) {
      if (!keepStop && this.wordStop[w]) continue;
      const h = this.wordHash[w]!;
      if (prev >= 0) this.pushFeat(fmix32((Math.imul(prev ^ NS_BIGRAM, 0x9e3779b1) ^ h) >>> 0));
      prev = h;
    }
    this.flush(BIGRAM_WEIGHT);

    // Character trigrams of "<word>", boundaries included.
    this.featCount = 0;
    const units = this.units;
    for (let w = 0; w < this.wordCount; w++) {
      if (!keepStop && this.wordStop[w]) continue;
      const start = this.wordStart[w]!;
      const end = this.wordEnd[w]!;
      let a = BOUNDARY;
      let b = units[start]!;
      for (let i = start + 1; i <= end; i++) {
        const c = i < end ? units[i]! : BOUNDARY;
        let h = Math.imul(FNV_OFFSET ^ NS_TRIGRAM, FNV_PRIME);
        h = Math.imul(h ^ a, FNV_PRIME);
        h = Math.imul(h ^ b, FNV_PRIME);
        h = Math.imul(h ^ c, FNV_PRIME);
        this.pushFeat(fmix32(h));
        a = b;
        b = c;
      }
    }
    this.flush(TRIGRAM_WEIGHT);
  }

  private pushFeat(h: number): void {
    if (this.featCount === this.feats.length) this.feats = growU32(this.feats);
    this.feats[this.featCount++] = h;
  }

  /** Adds the pending features to the accumulator, equal hashes counted once with weight × (1 + ln tf). */
  private flush(weight: number): void {
    const n = this.featCount;
    if (n === 0) return;
    const feats = this.feats.subarray(0, n).sort();
    const acc = this.acc;
    const dims = this.dimensions;
    let i = 0;
    while (i < n) {
      const h = feats[i]!;
      let j = i + 1;
      while (j < n && feats[j] === h) j++;
      const w = j - i === 1 ? weight : weight * (1 + Math.log(j - i));
      const bucket = (h >>> 1) % dims;
      acc[bucket] = acc[bucket]! + (h & 1 ? w : -w);
      i = j;
    }
  }

  private normalizedRow(text: string): number[] {
    const acc = this.acc;
    const dims = this.dimensions;
    let sum = 0;
    for (let i = 0; i < dims; i++) sum += acc[i]! * acc[i]!;
    if (!(sum > 0)) {
      // Every feature cancelled out (opposite signs in shared buckets): improbable but possible.
      // One deterministic bucket keeps the output a unit vector, never NaN.
      acc[hashString(text) % dims] = 1;
      sum = 1;
    }
    const inv = 1 / Math.sqrt(sum);
    const row: number[] = [];
    for (let i = 0; i < dims; i++) row.push(acc[i]! * inv);
    return row;
  }
}

function hashString(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return fmix32(h);
}

function grow32(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

function growU32(a: Uint32Array): Uint32Array {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

export interface LocalEmbedderOptions {
  /** Vector size; any positive integer. Default 384. */
  dimensions?: number;
}

export class LocalEmbedder implements Embedder {
  readonly model = LOCAL_EMBEDDING_MODEL;
  readonly dimensions: number;
  private readonly featurizer: Featurizer;

  constructor(options: LocalEmbedderOptions = {}) {
    const dimensions = options.dimensions ?? LOCAL_EMBEDDING_DIMENSIONS;
    if (!Number.isSafeInteger(dimensions) || dimensions <= 0) {
      throw new RangeError(
        `Invalid configuration: embedding dimensions must be a positive integer, got ${dimensions}`,
      );
    }
    this.dimensions = dimensions;
    this.featurizer = new Featurizer(dimensions);
  }

  /** Synchronous core of `embed`, for callers that batch their own work (benchmarks, plan indexing). */
  embedSync(texts: string[]): number[][] {
    validateTexts(texts);
    return texts.map((t) => this.featurizer.embed(t));
  }

  async embed(texts: string[]): Promise<number[][]> {
    validateTexts(texts);
    const rows: number[][] = [];
    for (let i = 0; i < texts.length; i++) {
      if (i > 0 && i % SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      rows.push(this.featurizer.embed(texts[i]!));
    }
    return rows;
  }
}
