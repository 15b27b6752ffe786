import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AwsChunkedDecoder,
  ChunkedBodyError,
  evaluateConditions,
  parseCompleteMultipartUpload,
  parseDeleteObjects,
  parseRange,
  runningChecksum,
  S3Error,
  xmlEscape,
} from '#local/s3/protocol.ts';

/** Properties of the local S3's parsers of untrusted request input. */

describe('Range header', () => {
  const size = fc.integer({ min: 0, max: 10_000 });

  it('serves exactly bytes a..b (clamped), a.. and the last n bytes', () => {
    fc.assert(
      fc.property(size, fc.nat(20_000), fc.nat(20_000), (n, x, y) => {
        const [a, b] = x <= y ? [x, y] : [y, x];
        const closed = parseRange(`bytes=${a}-${b}`, n);
        const open = parseRange(`bytes=${a}-`, n);
        if (a >= n) {
          expect(closed).toEqual({ kind: 'unsatisfiable' });
          expect(open).toEqual({ kind: 'unsatisfiable' });
        } else {
          expect(closed).toEqual({ kind: 'range', start: a, end: Math.min(b, n - 1) });
          expect(open).toEqual({ kind: 'range', start: a, end: n - 1 });
        }
        const suffix = parseRange(`bytes=-${x}`, n);
        if (x === 0 || n === 0) expect(suffix).toEqual({ kind: 'unsatisfiable' });
        else expect(suffix).toEqual({ kind: 'range', start: Math.max(0, n - x), end: n - 1 });
      }),
    );
  });

  it('ignores what is not one valid range, and never throws on anything', () => {
    for (const h of ['bytes=5-2', 'bytes=0-1,4-5', 'items=0-1', 'bytes=', 'bytes=-', 'bytes=a-b', ''])
      expect(parseRange(h, 100), h).toEqual({ kind: 'all' });
    fc.assert(
      fc.property(fc.string(), size, (h, n) => {
        const r = parseRange(h, n);
        if (r.kind === 'range') {
          expect(r.start).toBeGreaterThanOrEqual(0);
          expect(r.end).toBeGreaterThanOrEqual(r.start);
          expect(r.end).toBeLessThan(n);
        }
      }),
    );
  });
});

/** Encodes `data` as aws-chunked with frames cut at `cuts`, as SigV4 streaming does. */
function encodeChunked(
  data: Uint8Array,
  cuts: number[],
  opts: { signed: boolean; trailers: Array<[string, string]>; closingLine: boolean },
): Buffer {
  const bounds = [...new Set([0, ...cuts.map((c) => c % (data.length + 1)), data.length])].sort(
    (a, b) => a - b,
  );
  const sig = opts.signed ? `;chunk-signature=${'ab'.repeat(32)}` : '';
  const parts: Buffer[] = [];
  for (let i = 1; i < bounds.length; i++) {
    const frame = data.subarray(bounds[i - 1], bounds[i]);
    if (frame.length === 0) continue;
    parts.push(
      Buffer.from(`${frame.length.toString(16)}${sig}\r\n`),
      Buffer.from(frame),
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`0${sig}\r\n`));
  for (const [name, value] of opts.trailers) parts.push(Buffer.from(`${name}:${value}\r\n`));
  if (opts.closingLine) parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/** Feeds `body` to a decoder in pieces cut at `splits`. */
function decode(body: Buffer, splits: number[]): { data: Buffer; decoder: AwsChunkedDecoder } {
  const decoder = new AwsChunkedDecoder();
  const out: Buffer[] = [];
  const bounds = [...new Set([0, ...splits.map((s) => s % (body.length + 1)), body.length])].sort(
    (a, b) => a - b,
  );
  for (let i = 1; i < bounds.length; i++)
    decoder.write(body.subarray(bounds[i - 1], bounds[i]), (d) => out.push(Buffer.from(d)));
  decoder.end();
  return { data: Buffer.concat(out), decoder };
}

describe('aws-chunked decoder', () => {
  const trailerName = fc.stringMatching(/^x-amz-[a-z0-9-]{1,12}$/);
  const trailerValue = fc.stringMatching(/^[A-Za-z0-9+/=]{0,20}$/);

  it('decodes any framing of any bytes, delivered in any pieces, back to the bytes and trailers', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        fc.uniqueArray(fc.tuple(trailerName, trailerValue), { maxLength: 3, selector: ([n]) => n }),
        fc.boolean(),
        (data, cuts, splits, signed, trailers, closingLine) => {
          const body = encodeChunked(data, cuts, { signed, trailers, closingLine });
          const { data: decoded, decoder } = decode(body, splits);
          expect(decoded.equals(Buffer.from(data))).toBe(true);
          expect(Object.fromEntries(decoder.trailers)).toEqual(Object.fromEntries(trailers));
        },
      ),
    );
  });

  it('rejects garbage and truncation with ChunkedBodyError only, never anything else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (bytes, splits) => {
          try {
            decode(Buffer.from(bytes), splits);
          } catch (err) {
            expect(err).toBeInstanceOf(ChunkedBodyError);
          }
        },
      ),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 500 }), fc.nat(), (data, cut) => {
        const body = encodeChunked(data, [], { signed: false, trailers: [], closingLine: true });
        // Any cut that loses a data byte or the final frame leaves the body incomplete.
        const truncated = body.subarray(0, cut % (body.length - 3));
        expect(() => decode(truncated, [])).toThrow(ChunkedBodyError);
      }),
    );
    for (const bad of [
      'zz\r\nab\r\n0\r\n\r\n',
      '2\r\nabc\r\n0\r\n\r\n',
      '2\nab\r\n0\r\n\r\n',
      '0\r\n\r\nextra',
    ])
      expect(() => decode(Buffer.from(bad), []), JSON.stringify(bad)).toThrow(ChunkedBodyError);
    expect(() => decode(Buffer.from(`${'1'.repeat(5000)}\r\n`), [])).toThrow(ChunkedBodyError);
  });
});

describe('XML request bodies', () => {
  it('DeleteObjects gives back any escaped keys, and quiet', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        (keys, quiet) => {
          const xml = `<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${keys
            .map((k) => `<Object><Key>${xmlEscape(k)}</Key></Object>`)
            .join('')}<Quiet>${quiet}</Quiet></Delete>`;
          expect(parseDeleteObjects(xml)).toEqual({ keys, quiet });
        },
      ),
    );
  });

  it('CompleteMultipartUpload gives back part numbers and unquoted ETags in the order sent', () => {
    const part = fc.record({
      partNumber: fc.integer({ min: 1, max: 10_000 }),
      etag: fc.stringMatching(/^[0-9a-f]{32}$/),
    });
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 30 }), (parts) => {
        const xml = `<CompleteMultipartUpload>${parts
          .map(
            (p) => `<Part><ETag>&quot;${p.etag}&quot;</ETag><PartNumber>${p.partNumber}</PartNumber></Part>`,
          )
          .join('')}</CompleteMultipartUpload>`;
        expect(parseCompleteMultipartUpload(xml)).toEqual(parts);
      }),
    );
  });

  it('answers MalformedXML (an S3Error) for anything else, never another error', () => {
    for (const bad of [
      '',
      '<Delete></Delete>',
      '<Delete><Object><Key>a&bogus;</Key></Object></Delete>',
      '<Nope/>',
    ])
      expect(() => parseDeleteObjects(bad)).toThrow(S3Error);
    expect(() =>
      parseCompleteMultipartUpload(
        '<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>',
      ),
    ).toThrow(/PartNumber/);
    fc.assert(
      fc.property(fc.string(), (xml) => {
        for (const parse of [parseDeleteObjects, parseCompleteMultipartUpload]) {
          try {
            parse(`<Delete><CompleteMultipartUpload>${xml}`);
          } catch (err) {
            expect(err).toBeInstanceOf(S3Error);
            expect((err as S3Error).code).toBe('MalformedXML');
          }
        }
      }),
    );
  });
});

describe('conditional headers', () => {
  const etag = 'abc';
  const modified = Date.UTC(2026, 0, 10, 12, 0, 0, 500);
  const before = new Date(modified - 60_000).toUTCString();
  const after = new Date(modified + 60_000).toUTCString();
  const same = new Date(modified).toUTCString();

  it('follow S3: If-Match over If-Unmodified-Since, If-None-Match over If-Modified-Since', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'proceed'],
      [{ 'if-match': '"abc"' }, 'proceed'],
      [{ 'if-match': '"x", "abc"' }, 'proceed'],
      [{ 'if-match': '*' }, 'proceed'],
      [{ 'if-match': '"x"' }, 'precondition-failed'],
      [{ 'if-unmodified-since': before }, 'precondition-failed'],
      [{ 'if-unmodified-since': same }, 'proceed'],
      [{ 'if-match': '"abc"', 'if-unmodified-since': before }, 'proceed'],
      [{ 'if-none-match': '"abc"' }, 'not-modified'],
      [{ 'if-none-match': '"x"' }, 'proceed'],
      [{ 'if-modified-since': same }, 'not-modified'],
      [{ 'if-modified-since': after }, 'not-modified'],
      [{ 'if-modified-since': before }, 'proceed'],
      [{ 'if-none-match': '"x"', 'if-modified-since': after }, 'proceed'],
      [{ 'if-modified-since': 'not a date' }, 'proceed'],
      [{ 'if-match': '"x"', 'if-none-match': '"abc"' }, 'precondition-failed'],
    ];
    for (const [headers, outcome] of cases)
      expect(evaluateConditions(headers, etag, modified), JSON.stringify(headers)).toBe(outcome);
  });
});

describe('checksums', () => {
  it('computes crc32 incrementally as the whole, and leaves crc32c to be accepted unverified', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.nat(), (data, cut) => {
        const whole = runningChecksum('crc32')!;
        whole.update(Buffer.from(data));
        const split = runningChecksum('crc32')!;
        const at = cut % (data.length + 1);
        split.update(Buffer.from(data.subarray(0, at)));
        split.update(Buffer.from(data.subarray(at)));
        expect(split.digest()).toBe(whole.digest());
      }),
    );
    const known = runningChecksum('crc32')!;
    known.update(Buffer.from('hello'));
    expect(known.digest()).toBe('NhCmhg==');
    expect(runningChecksum('crc32c')).toBeUndefined();
  });
});
