import {
  BACKSLASH,
  COLON,
  COMMA,
  describeByte,
  LBRACE,
  LBRACKET,
  LF,
  QUOTE,
  RBRACE,
  RBRACKET,
  SCALAR,
  UTF8_BOM,
  WHITESPACE,
} from './formats.ts';

/**
 * Record boundaries, found byte by byte in bytes pushed piece by piece (a stream, or one chunk).
 *
 * JSON: the top level (the records array, and the object around it) is checked exactly; inside a
 * record only strings, escapes and nesting depth are tracked, enough to find where it ends. Whether
 * a record is valid JSON is for `JSON.parse` to say, record by record, so a damaged record is
 * rejected on its own instead of failing the scan. Every byte that decides anything is ASCII and
 * UTF-8 never uses ASCII bytes inside a multi-byte character, so characters split across pieces
 * cannot mislead the scan. JSONL: a record is a line, trimmed, blank lines skipped.
 *
 * No per-byte allocation and no decoding: the only copied bytes are the captured property value.
 */

export interface StructuralError {
  /** Absolute byte offset where the structure broke (the end of the input when truncated). */
  offset: number;
  message: string;
}

/** Receives each record's absolute byte range, end exclusive. */
export type RecordSink = (start: number, end: number) => void;

export type CaptureResult = { value: unknown } | { error: string };

export type JsonLayout =
  /** A whole document whose top level is the array of records. */
  | { kind: 'array' }
  /** A whole document whose top-level object holds the records array under `recordsKey`. */
  | { kind: 'object'; recordsKey: string; capture?: { key: string; maxBytes: number } }
  /** A byte range of records separated by commas (a chunk cut from one of the above). */
  | { kind: 'elements' };

export interface Splitter {
  /** Feeds the next piece; after a structural error, further pieces are counted and ignored. */
  write(piece: Uint8Array): void;
  /** Declares the end of the input: reports a truncated structure, flushes the last record. */
  finish(): void;
  readonly error: StructuralError | undefined;
  /** Absolute offset just past the last byte written. */
  readonly position: number;
}

/** Nesting deeper than this inside a record is refused (JSON.parse would be at risk too). */
export const MAX_NESTING = 1024;

const S_BOM = 0;
const S_START = 1;
const S_KEY_FIRST = 2;
const S_KEY_NEXT = 3;
const S_KEY = 4;
const S_COLON = 5;
const S_PROPERTY = 6;
const S_PROPERTY_AFTER = 7;
const S_RECORD_FIRST = 8;
const S_RECORD_NEXT = 9;
const S_RECORD_AFTER = 10;
const S_DONE = 11;
const S_CONTAINER = 12;
const S_STRING = 13;
const S_SCALAR = 14;
const S_FAILED = 15;

/** Bytes that matter inside a container outside strings: quotes and brackets. */
const STRUCTURAL = new Uint8Array(256);
for (const byte of [QUOTE, LBRACE, RBRACE, LBRACKET, RBRACKET]) STRUCTURAL[byte] = 1;

/** A top-level key is compared only when it is at most this long. */
const KEY_BYTES = 32;

const encoder = new TextEncoder();

export class JsonSplitter implements Splitter {
  error: StructuralError | undefined;
  position: number;
  /** The captured property value, once its end was seen. */
  captured: CaptureResult | undefined;

  readonly #layout: JsonLayout;
  readonly #onRecord: RecordSink;
  readonly #recordsKey: Uint8Array | undefined;
  readonly #captureKey: Uint8Array | undefined;
  #state: number;
  #depth = 0;
  #escaped = false;
  /** Whether the current string sits inside a container (else it is the whole value). */
  #stringInContainer = false;
  /** Whether the value being scanned is a record (else a property of the top-level object). */
  #valueIsRecord = false;
  #valueStart = 0;
  #arrayStart = 0;
  #recordsSeen = false;
  readonly #key = new Uint8Array(KEY_BYTES);
  #keyLength = 0;
  #keyStart = 0;
  #capturing = false;
  #captureFrom = 0;
  #captureParts: Uint8Array[] = [];
  #captureSize = 0;
  #captureOverflow = false;

  constructor(layout: JsonLayout, onRecord: RecordSink, startOffset = 0) {
    this.#layout = layout;
    this.#onRecord = onRecord;
    this.position = startOffset;
    this.#state = layout.kind === 'elements' ? S_RECORD_FIRST : S_BOM;
    if (layout.kind === 'object') {
      this.#recordsKey = encoder.encode(layout.recordsKey);
      if (layout.capture) this.#captureKey = encoder.encode(layout.capture.key);
    }
  }

  write(piece: Uint8Array): void {
    const base = this.position;
    const n = piece.length;
    this.position += n;
    if (this.#state === S_FAILED) return;
    let i = 0;
    if (this.#capturing) this.#captureFrom = 0;
    while (i < n) {
      switch (this.#state) {
        case S_CONTAINER: {
          // The hot loop: most bytes of an export are numbers inside records.
          let depth = this.#depth;
          let byte = 0;
          for (; i < n; i++) {
            byte = piece[i]!;
            if (STRUCTURAL[byte] === 0) continue;
            if (byte === QUOTE) break;
            if (byte === LBRACE || byte === LBRACKET) {
              if (++depth > MAX_NESTING) {
                this.#fail(base + i, `nesting deeper than ${MAX_NESTING} levels`);
                return;
              }
            } else if (--depth === 0) break;
          }
          this.#depth = depth;
          if (i === n) break;
          i++;
          if (byte === QUOTE) {
            this.#state = S_STRING;
            this.#stringInContainer = true;
          } else this.#endValue(piece, base, i);
          break;
        }
        case S_STRING: {
          if (this.#escaped) {
            this.#escaped = false;
            i++;
            break;
          }
          let byte = 0;
          for (; i < n; i++) {
            byte = piece[i]!;
            if (byte === QUOTE || byte === BACKSLASH) break;
          }
          if (i === n) break;
          i++;
          if (byte === BACKSLASH) this.#escaped = true;
          else if (this.#stringInContainer) this.#state = S_CONTAINER;
          else this.#endValue(piece, base, i);
          break;
        }
        case S_SCALAR: {
          while (i < n && SCALAR[piece[i]!] === 1) i++;
          // The delimiter is not consumed: the next state reads it.
          if (i < n) this.#endValue(piece, base, i);
          break;
        }
        case S_KEY: {
          // Keys compare as raw bytes: an escaped spelling of "tasks" is not recognized.
          if (this.#escaped) {
            this.#escaped = false;
            this.#keyByte(piece[i]!);
            i++;
            break;
          }
          let byte = 0;
          for (; i < n; i++) {
            byte = piece[i]!;
            if (byte === QUOTE || byte === BACKSLASH) break;
            this.#keyByte(byte);
          }
          if (i === n) break;
          i++;
          if (byte === BACKSLASH) {
            this.#escaped = true;
            this.#keyByte(byte);
          } else this.#state = S_COLON;
          break;
        }
        case S_BOM: {
          // Only reached at the very start of a document.
          const at = base + i;
          if (piece[i] === UTF8_BOM[at]) {
            i++;
            if (at === 2) this.#state = S_START;
          } else if (at === 0) this.#state = S_START;
          else {
            this.#fail(at, 'incomplete UTF-8 byte order mark');
            return;
          }
          break;
        }
        default: {
          // Token states: skip whitespace, then act on one byte.
          while (i < n && WHITESPACE[piece[i]!] === 1) i++;
          if (i === n) break;
          if (!this.#token(piece, base, i)) return;
          // A value's first byte is consumed by #startValue; every other token is one byte too.
          i++;
        }
      }
    }
    if (this.#capturing) this.#capture(piece.subarray(this.#captureFrom));
  }

  finish(): void {
    if (this.#state === S_FAILED) return;
    const end = this.position;
    if (this.#state === S_SCALAR) this.#endValue(undefined, end, 0);
    switch (this.#state) {
      case S_DONE:
        return;
      case S_BOM:
      case S_START:
        this.#fail(end, 'empty document: no JSON value');
        return;
      case S_RECORD_FIRST:
      case S_RECORD_AFTER:
        if (this.#layout.kind === 'elements') return;
        break;
      case S_RECORD_NEXT:
        if (this.#layout.kind === 'elements') {
          this.#fail(end, 'ends with a "," and no record after it');
          return;
        }
        break;
    }
    this.#fail(end, `truncated: the input ends inside ${this.#where()}`);
  }

  /** Acts on a non-whitespace byte in a token state; false when the structure broke. */
  #token(piece: Uint8Array, base: number, i: number): boolean {
    const byte = piece[i]!;
    const at = base + i;
    switch (this.#state) {
      case S_START:
        if (this.#layout.kind === 'array' && byte === LBRACKET) {
          this.#arrayStart = at;
          this.#state = S_RECORD_FIRST;
          return true;
        }
        if (this.#layout.kind === 'object' && byte === LBRACE) {
          this.#state = S_KEY_FIRST;
          return true;
        }
        return this.#fail(
          at,
          `expected ${this.#layout.kind === 'array' ? "'['" : "'{'"} to open the document, found ${describeByte(byte)}`,
        );
      case S_KEY_FIRST:
      case S_KEY_NEXT:
        if (byte === QUOTE) {
          this.#keyLength = 0;
          this.#keyStart = at;
          this.#state = S_KEY;
          return true;
        }
        if (byte === RBRACE && this.#state === S_KEY_FIRST) return this.#endObject(at);
        return this.#fail(
          at,
          `expected a property name in the top-level object, found ${describeByte(byte)}`,
        );
      case S_COLON:
        if (byte === COLON) {
          this.#state = S_PROPERTY;
          return true;
        }
        return this.#fail(at, `expected ':' after the property name, found ${describeByte(byte)}`);
      case S_PROPERTY:
        if (this.#keyIs(this.#recordsKey)) {
          if (this.#recordsSeen)
            return this.#fail(this.#keyStart, `a second "${this.#recordsKeyName()}" key`);
          if (byte !== LBRACKET) {
            return this.#fail(
              at,
              `"${this.#recordsKeyName()}" must be an array of records, found ${describeByte(byte)}`,
            );
          }
          this.#recordsSeen = true;
          this.#arrayStart = at;
          this.#state = S_RECORD_FIRST;
          return true;
        }
        if (this.#keyIs(this.#captureKey)) {
          this.#capturing = true;
          this.#captureFrom = i;
          this.#captureParts = [];
          this.#captureSize = 0;
          this.#captureOverflow = false;
        }
        return this.#startValue(byte, at, false);
      case S_PROPERTY_AFTER:
        if (byte === COMMA) {
          this.#state = S_KEY_NEXT;
          return true;
        }
        if (byte === RBRACE) return this.#endObject(at);
        return this.#fail(at, `expected ',' or '}' in the top-level object, found ${describeByte(byte)}`);
      case S_RECORD_FIRST:
        if (byte === RBRACKET && this.#layout.kind !== 'elements') return this.#endArray();
        return this.#startValue(byte, at, true);
      case S_RECORD_NEXT:
        if (byte === RBRACKET) return this.#fail(at, "a ',' before ']': a record is missing");
        return this.#startValue(byte, at, true);
      case S_RECORD_AFTER:
        if (byte === COMMA) {
          this.#state = S_RECORD_NEXT;
          return true;
        }
        if (byte === RBRACKET && this.#layout.kind !== 'elements') return this.#endArray();
        return this.#fail(
          at,
          `expected ${this.#layout.kind === 'elements' ? "','" : "',' or ']'"} after the record that starts at ${this.#valueStart}, found ${describeByte(byte)}`,
        );
      default:
        return this.#fail(at, `unexpected ${describeByte(byte)} after the end of the document`);
    }
  }

  #startValue(byte: number, at: number, isRecord: boolean): boolean {
    this.#valueIsRecord = isRecord;
    this.#valueStart = at;
    if (byte === LBRACE || byte === LBRACKET) {
      this.#depth = 1;
      this.#state = S_CONTAINER;
    } else if (byte === QUOTE) {
      this.#stringInContainer = false;
      this.#state = S_STRING;
    } else if (SCALAR[byte] === 1) this.#state = S_SCALAR;
    else return this.#fail(at, `expected ${isRecord ? 'a record' : 'a value'}, found ${describeByte(byte)}`);
    return true;
  }

  /** The value that started at `#valueStart` ends before `piece[i]` (absolute `base + i`). */
  #endValue(piece: Uint8Array | undefined, base: number, i: number): void {
    if (this.#valueIsRecord) {
      this.#state = S_RECORD_AFTER;
      this.#onRecord(this.#valueStart, base + i);
      return;
    }
    this.#state = S_PROPERTY_AFTER;
    if (this.#capturing) {
      if (piece) this.#capture(piece.subarray(this.#captureFrom, i));
      this.#capturing = false;
      this.captured = this.#decodeCapture();
    }
  }

  #endArray(): boolean {
    this.#state = this.#layout.kind === 'object' ? S_PROPERTY_AFTER : S_DONE;
    return true;
  }

  #endObject(at: number): boolean {
    if (!this.#recordsSeen) {
      return this.#fail(at, `the top-level object has no "${this.#recordsKeyName()}" array of records`);
    }
    this.#state = S_DONE;
    return true;
  }

  #keyByte(byte: number): void {
    if (this.#keyLength < KEY_BYTES) this.#key[this.#keyLength] = byte;
    this.#keyLength++;
  }

  #keyIs(expected: Uint8Array | undefined): boolean {
    if (!expected || expected.length !== this.#keyLength) return false;
    for (let k = 0; k < expected.length; k++) if (this.#key[k] !== expected[k]) return false;
    return true;
  }

  #recordsKeyName(): string {
    return this.#layout.kind === 'object' ? this.#layout.recordsKey : '';
  }

  #capture(part: Uint8Array): void {
    if (this.#captureOverflow || part.length === 0) return;
    const max = this.#layout.kind === 'object' ? (this.#layout.capture?.maxBytes ?? 0) : 0;
    if (this.#captureSize + part.length > max) {
      this.#captureOverflow = true;
      this.#captureParts = [];
      return;
    }
    // A copy: the stream may reuse its buffers.
    this.#captureParts.push(new Uint8Array(part));
    this.#captureSize += part.length;
  }

  #decodeCapture(): CaptureResult {
    const layout = this.#layout;
    const key = layout.kind === 'object' ? layout.capture?.key : undefined;
    if (this.#captureOverflow) {
      const max = layout.kind === 'object' ? layout.capture?.maxBytes : 0;
      return { error: `"${key}" is larger than ${max} bytes: not captured` };
    }
    const bytes = Buffer.concat(this.#captureParts);
    this.#captureParts = [];
    try {
      return { value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) };
    } catch (err) {
      return { error: `"${key}" is not valid JSON (${(err as Error).message})` };
    }
  }

  #where(): string {
    const arrayName =
      this.#layout.kind === 'object'
        ? `the "${this.#layout.recordsKey}" array that starts at ${this.#arrayStart}`
        : `the top-level array that starts at ${this.#arrayStart}`;
    switch (this.#state) {
      case S_CONTAINER:
      case S_STRING:
      case S_SCALAR:
        return this.#valueIsRecord
          ? `the record that starts at ${this.#valueStart}`
          : `the top-level property value that starts at ${this.#valueStart}`;
      case S_RECORD_FIRST:
      case S_RECORD_NEXT:
      case S_RECORD_AFTER:
        return arrayName;
      default:
        return 'the top-level object';
    }
  }

  #fail(offset: number, message: string): false {
    this.error = { offset, message };
    this.#state = S_FAILED;
    this.#capturing = false;
    this.#captureParts = [];
    return false;
  }
}

/**
 * JSON Lines: each non-blank line is a record, its range trimmed of surrounding whitespace. Lines
 * are the only structure, so there is no structural error: a damaged line is a rejected record.
 */
export class LineSplitter implements Splitter {
  readonly error: StructuralError | undefined = undefined;
  position: number;

  readonly #onRecord: RecordSink;
  /** Absolute offset of the current line's first non-whitespace byte, -1 while there is none. */
  #lineStart = -1;
  /** Absolute offset just past the current line's last non-whitespace byte. */
  #lineEnd = -1;
  /** Byte order mark bytes matched so far; -1 once past the place where one may be. */
  #bom: number;

  /** `document`: the input starts at the beginning of the file, where a byte order mark may be. */
  constructor(onRecord: RecordSink, startOffset = 0, document = true) {
    this.#onRecord = onRecord;
    this.position = startOffset;
    this.#bom = document ? 0 : -1;
  }

  write(piece: Uint8Array): void {
    const base = this.position;
    const n = piece.length;
    this.position += n;
    let i = 0;
    if (this.#bom >= 0) {
      while (i < n && this.#bom < 3 && piece[i] === UTF8_BOM[this.#bom]) {
        i++;
        this.#bom++;
      }
      if (this.#bom === 3) this.#bom = -1;
      else if (i < n) {
        // A partial mark is not whitespace: it stays in the first record, which then fails to decode.
        if (this.#bom > 0) {
          this.#lineStart = base + i - this.#bom;
          this.#lineEnd = base + i;
        }
        this.#bom = -1;
      }
    }
    while (i < n) {
      const newline = piece.indexOf(LF, i);
      const end = newline === -1 ? n : newline;
      if (this.#lineStart < 0) {
        let j = i;
        while (j < end && WHITESPACE[piece[j]!] === 1) j++;
        if (j < end) this.#lineStart = base + j;
      }
      if (this.#lineStart >= 0) {
        let k = end;
        while (k > i && WHITESPACE[piece[k - 1]!] === 1) k--;
        if (k > i) this.#lineEnd = base + k;
      }
      if (newline === -1) break;
      this.#endLine();
      i = newline + 1;
    }
  }

  finish(): void {
    this.#endLine();
  }

  #endLine(): void {
    if (this.#lineStart < 0) return;
    const start = this.#lineStart;
    this.#lineStart = -1;
    this.#onRecord(start, this.#lineEnd);
  }
}
