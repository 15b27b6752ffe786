import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * The parts of the S3 REST protocol the local S3 reads from untrusted requests: byte ranges,
 * `aws-chunked` bodies, conditional headers, checksums and the two XML documents clients send
 * (CompleteMultipartUpload, DeleteObjects). Pure functions, no I/O, so they are property-tested.
 */

/** An error answered as S3 does: its HTTP status and S3 error code (the wire contract of S3 clients). */
export class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'S3Error';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export type RangeRequest =
  | { kind: 'all' }
  | { kind: 'range'; start: number; end: number }
  | { kind: 'unsatisfiable' };

/**
 * `Range: bytes=a-b | a- | -n` against an object of `size` bytes (end inclusive, clamped to the
 * object). A header that is not one such range (syntax error, several ranges, a > b) is ignored,
 * as HTTP says and S3 does: the whole object is served.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'all' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return { kind: 'all' };
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return { kind: 'all' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Number.POSITIVE_INFINITY : Number(last);
  if (end < start) return { kind: 'all' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}

export class ChunkedBodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChunkedBodyError';
  }
}

const MAX_LINE = 4096;
const MAX_TRAILERS = 16;

/**
 * Incremental decoder of `Content-Encoding: aws-chunked` bodies (SigV4 streaming, signed or not):
 * `hex-size[;chunk-signature=…]\r\n<data>\r\n` frames, a `0` frame, then trailer lines
 * (`x-amz-checksum-crc32:…`) and an empty line. Data is handed on as views of the input: only a
 * frame header or trailer line (bounded by MAX_LINE) is ever held.
 */
export class AwsChunkedDecoder {
  #state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  #line = '';
  #remaining = 0;
  #crlf = 0;
  readonly trailers = new Map<string, string>();

  /** Feeds raw body bytes; `emit` receives the decoded data. Throws ChunkedBodyError on bad framing. */
  write(chunk: Buffer, emit: (data: Buffer) => void): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.#state) {
        case 'size':
        case 'trailer': {
          const nl = chunk.indexOf(0x0a, i);
          const stop = nl === -1 ? chunk.length : nl + 1;
          this.#line += chunk.toString('latin1', i, stop);
          if (this.#line.length > MAX_LINE) throw new ChunkedBodyError('aws-chunked header line too long');
          i = stop;
          if (nl === -1) break;
          const line = this.#line;
          this.#line = '';
          if (!line.endsWith('\r\n')) throw new ChunkedBodyError('aws-chunked line not ended by CRLF');
          if (this.#state === 'size') this.#sizeLine(line.slice(0, -2));
          else this.#trailerLine(line.slice(0, -2));
          break;
        }
        case 'data': {
          const n = Math.min(this.#remaining, chunk.length - i);
          emit(chunk.subarray(i, i + n));
          i += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = 'data-end';
          break;
        }
        case 'data-end': {
          if (chunk[i] !== (this.#crlf === 0 ? 0x0d : 0x0a))
            throw new ChunkedBodyError('aws-chunked frame not followed by CRLF');
          i++;
          if (++this.#crlf === 2) {
            this.#crlf = 0;
            this.#state = 'size';
          }
          break;
        }
        case 'done':
          throw new ChunkedBodyError('data after the end of the aws-chunked body');
      }
    }
  }

  /** The body ended: throws unless it ended after the final frame (trailers' closing line optional). */
  end(): void {
    const complete = this.#state === 'done' || (this.#state === 'trailer' && this.#line === '');
    if (!complete) throw new ChunkedBodyError('aws-chunked body ended inside a frame');
    this.#state = 'done';
  }

  #sizeLine(text: string): void {
    const semi = text.indexOf(';');
    const hex = semi === -1 ? text : text.slice(0, semi);
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new ChunkedBodyError('aws-chunked frame size is not hex');
    const size = Number.parseInt(hex, 16);
    if (size === 0) this.#state = 'trailer';
    else {
      this.#remaining = size;
      this.#state = 'data';
    }
  }

  #trailerLine(text: string): void {
    if (text === '') {
      this.#state = 'done';
      return;
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw new ChunkedBodyError('malformed aws-chunked trailer');
    if (this.trailers.size >= MAX_TRAILERS) throw new ChunkedBodyError('too many aws-chunked trailers');
    this.trailers.set(text.slice(0, colon).trim().toLowerCase(), text.slice(colon + 1).trim());
  }
}

/** Flexible-checksum algorithms S3 knows, by their header suffix. */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export interface RunningChecksum {
  update(data: Buffer): void;
  /** The base64 digest, as in `x-amz-checksum-<algorithm>`. */
  digest(): string;
}

/**
 * A running checksum for the algorithms Node computes natively (crc32 through zlib, sha1,
 * sha256); undefined for crc32c and crc64nvme, which are accepted without verification.
 */
export function runningChecksum(algorithm: ChecksumAlgorithm): RunningChecksum | undefined {
  if (algorithm === 'crc32') {
    let value = 0;
    return {
      update: (data) => {
        value = crc32(data, value);
      },
      digest: () => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(value >>> 0);
        return out.toString('base64');
      },
    };
  }
  if (algorithm === 'sha1' || algorithm === 'sha256') {
    const hash: Hash = createHash(algorithm);
    return { update: (data) => hash.update(data), digest: () => hash.digest('base64') };
  }
  return undefined;
}

/** The checksum algorithm a request announces (header, trailer or SDK hint), if any. */
export function requestedChecksum(headers: Record<string, string | string[] | undefined>) {
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const value = headers[`x-amz-checksum-${algorithm}`];
    if (typeof value === 'string') return { algorithm, value };
  }
  const trailer = String(headers['x-amz-trailer'] ?? '').toLowerCase();
  const fromTrailer = CHECKSUM_ALGORITHMS.find((a) => trailer === `x-amz-checksum-${a}`);
  if (fromTrailer) return { algorithm: fromTrailer, value: undefined };
  return undefined;
}

export type ConditionOutcome = 'proceed' | 'not-modified' | 'precondition-failed';

function etagMatches(list: string, etag: string): boolean {
  return list
    .split(',')
    .map((t) => t.trim().replace(/^W\//, '').replaceAll('"', ''))
    .some((t) => t === '*' || t === etag);
}

/** Seconds since the epoch of an HTTP date, undefined when unparsable (such a header is ignored). */
function httpSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/**
 * GET/HEAD preconditions in S3's order: If-Match (else If-Unmodified-Since) can fail with 412,
 * then If-None-Match (else If-Modified-Since) can answer 304. `etag` is unquoted.
 */
export function evaluateConditions(
  headers: {
    'if-match'?: string | undefined;
    'if-none-match'?: string | undefined;
    'if-modified-since'?: string | undefined;
    'if-unmodified-since'?: string | undefined;
  },
  etag: string,
  lastModifiedMs: number,
): ConditionOutcome {
  const modified = Math.floor(lastModifiedMs / 1000);
  if (headers['if-match'] !== undefined) {
    if (!etagMatches(headers['if-match'], etag)) return 'precondition-failed';
  } else {
    const since = httpSeconds(headers['if-unmodified-since']);
    if (since !== undefined && modified > since) return 'precondition-failed';
  }
  if (headers['if-none-match'] !== undefined) {
    if (etagMatches(headers['if-none-match'], etag)) return 'not-modified';
  } else {
    const since = httpSeconds(headers['if-modified-since']);
    if (since !== undefined && modified <= since) return 'not-modified';
  }
  return 'proceed';
}

export function xmlEscape(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: XML cannot carry these characters literally
  return value.replace(/[&<>"'\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      case "'":
        return '&apos;';
      default:
        return `&#${c.charCodeAt(0)};`;
    }
  });
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function malformed(message: string): S3Error {
  return new S3Error(400, 'MalformedXML', message);
}

export function xmlUnescape(value: string): string {
  return value.replace(/&([^;&]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw malformed('The XML you provided has an unterminated entity');
    const named = NAMED_ENTITIES[name];
    if (named !== undefined) return named;
    const code = /^#x[0-9a-fA-F]{1,6}$/.test(name)
      ? Number.parseInt(name.slice(2), 16)
      : /^#\d{1,7}$/.test(name)
        ? Number(name.slice(1))
        : undefined;
    if (code === undefined || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      throw malformed(`The XML you provided has an unknown entity &${name};`);
    return String.fromCodePoint(code);
  });
}

/** The text of every `<tag>…</tag>` element directly in `xml` (no nesting of the same tag). */
function elements(xml: string, tag: string): string[] {
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}\\s*>`, 'g');
  return [...xml.matchAll(re)].map((m) => m[1] ?? '');
}

function requireRoot(xml: string, root: string): void {
  if (!new RegExp(`<${root}[\\s>]`).test(xml))
    throw malformed(`The XML you provided was not well-formed: expected <${root}>`);
}

export interface CompletedPart {
  partNumber: number;
  /** Unquoted. */
  etag: string;
}

/** The parts list of a CompleteMultipartUpload body, in the order the client gave. */
export function parseCompleteMultipartUpload(xml: string): CompletedPart[] {
  requireRoot(xml, 'CompleteMultipartUpload');
  const parts = elements(xml, 'Part').map((part) => {
    const number = elements(part, 'PartNumber')[0]?.trim();
    const etag = elements(part, 'ETag')[0];
    if (number === undefined || !/^\d{1,5}$/.test(number) || etag === undefined)
      throw malformed('Each <Part> needs a <PartNumber> and an <ETag>');
    return { partNumber: Number(number), etag: xmlUnescape(etag).trim().replaceAll('"', '') };
  });
  if (parts.length === 0) throw malformed('The XML you provided lists no parts');
  return parts;
}

/** The keys of a DeleteObjects body (at most 1000, as S3) and whether the answer is quiet. */
export function parseDeleteObjects(xml: string): { keys: string[]; quiet: boolean } {
  requireRoot(xml, 'Delete');
  const keys = elements(xml, 'Object').map((object) => {
    const key = elements(object, 'Key')[0];
    if (key === undefined) throw malformed('Each <Object> needs a <Key>');
    return xmlUnescape(key);
  });
  if (keys.length === 0 || keys.length > 1000) throw malformed('DeleteObjects takes 1 to 1000 keys');
  return { keys, quiet: elements(xml, 'Quiet')[0]?.trim().toLowerCase() === 'true' };
}
