import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DETECT_HEAD_BYTES, detectFormat } from '#shared/exports/detect.ts';
import { EXPORT_FORMATS, type ExportFormat, RECORDS_KEY } from '#shared/exports/formats.ts';
import { ID_FIELDS, parseChunk, TEXT_FIELDS, VECTOR_FIELDS } from '#shared/exports/records.ts';
import type { ChunkPlan } from '#shared/exports/scanner.ts';
import { ORIGINAL_ID_KEY } from '#shared/ids.ts';
import { encoder, parseChunks, plan } from './support.ts';

/**
 * Property tests: arbitrary records, serialized in every format with arbitrary pretty-printing and
 * streamed in arbitrary pieces (1 byte included), must come back exactly from scan + parse; and no
 * corruption of a document may make the scanner or the parser throw or hang.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Shape = 'legacy' | 'payload' | 'metadata' | 'siblings';

/** One character at a time, biased towards the bytes a scanner could trip on. */
const trickyChar = fc.oneof(
  fc.constantFrom(']', '}', '[', '{', '"', '\\', ',', ':', '\n', '\r', '\t', 'é', '€', '𝄞', '\u2028', ' '),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const trickyString = (minLength = 0) => fc.string({ unit: trickyChar, minLength, maxLength: 10 });

const RESERVED = new Set<string>([
  ...ID_FIELDS,
  ...VECTOR_FIELDS,
  ...TEXT_FIELDS,
  'payload',
  'metadata',
  '__proto__',
  ORIGINAL_ID_KEY,
]);
const fieldName = trickyString(1).filter((key) => !RESERVED.has(key));
const jsonValue = fc.jsonValue({ maxDepth: 2, stringUnit: trickyChar }) as fc.Arbitrary<Json>;

interface Canon {
  id: string | number;
  vector?: number[];
  text?: string;
  extra: Record<string, Json>;
  shape: Shape;
  idKey: 'id' | '_id';
  vectorKey: 'vector' | 'embedding';
  /** Orders the record's keys: exporters do not guarantee an order. */
  order: number[];
}

const canon: fc.Arbitrary<Canon> = fc
  .record({
    id: fc.oneof(
      fc.maxSafeNat(),
      trickyString(1).filter((s) => s.trim() !== ''),
    ),
    vector: fc.option(
      fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 6 }),
      {
        nil: undefined,
      },
    ),
    text: fc.option(
      trickyString(1).filter((s) => s.trim() !== ''),
      { nil: undefined },
    ),
    extra: fc.dictionary(fieldName, jsonValue, { maxKeys: 3 }),
    shape: fc.constantFrom<Shape>('legacy', 'payload', 'metadata', 'siblings'),
    idKey: fc.constantFrom<'id' | '_id'>('id', '_id'),
    vectorKey: fc.constantFrom<'vector' | 'embedding'>('vector', 'embedding'),
    order: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
  })
  .filter((c) => c.vector !== undefined || c.text !== undefined)
  // What a JSON round trip gives back (-0 becomes 0): the records as the export holds them.
  .map((c) => JSON.parse(JSON.stringify(c)) as Canon);

/** The record as an exporter writes it, in the shape the format calls for. */
function source(c: Canon, format: ExportFormat): Record<string, Json> {
  const shape: Shape =
    format === 'legacy-tasks' ? 'legacy' : format === 'qdrant-points' ? 'payload' : c.shape;
  const fields: Array<[string, Json]> = [];
  const inner: Record<string, Json> = { ...(c.text === undefined ? {} : { text: c.text }), ...c.extra };
  if (shape === 'legacy') {
    fields.push(['TaskId', c.id]);
    if (c.text !== undefined) fields.push(['Description', c.text]);
    if (c.vector) fields.push(['Vector', c.vector]);
    fields.push(...Object.entries(c.extra));
  } else {
    fields.push([c.idKey, c.id]);
    if (c.vector) fields.push([c.vectorKey, c.vector]);
    if (shape === 'siblings') fields.push(...Object.entries(inner));
    else fields.push([shape, inner]);
  }
  const ordered = fields.map((field, i) => ({ field, rank: c.order[i % c.order.length]! * 16 + i }));
  ordered.sort((a, b) => a.rank - b.rank);
  return Object.fromEntries(ordered.map(({ field }) => field));
}

/** What parsing must give back for that record (its offset aside). */
function expected(c: Canon, format: ExportFormat) {
  const legacy = format === 'legacy-tasks' || (format !== 'qdrant-points' && c.shape === 'legacy');
  const textField = legacy ? 'Description' : 'text';
  return {
    sourceId: c.id,
    ...(c.vector ? { vector: c.vector } : {}),
    ...(c.text === undefined ? {} : { text: c.text }),
    payload: { ...(c.text === undefined ? {} : { [textField]: c.text }), ...c.extra },
  };
}

interface Style {
  indent: undefined | 1 | 2 | '\t';
  crlf: boolean;
  bom: boolean;
  separator: string;
  lineBreak: string;
  lead: string;
  trail: string;
  metadata: Record<string, Json> | undefined;
  metadataFirst: boolean;
  otherKey: boolean;
}

const whitespace = fc.constantFrom('', ' ', '\n', '\r\n', '\t \n  ', '\n\n');
const style: fc.Arbitrary<Style> = fc.record({
  indent: fc.constantFrom<Style['indent']>(undefined, 1, 2, '\t'),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  separator: fc.constantFrom(',', ', ', ',\n', '\n,\n', ' ,\r\n  '),
  lineBreak: fc.constantFrom('\n', '\r\n', '\n\n', '\n \t\n', '\r\n\r\n'),
  lead: whitespace,
  trail: whitespace,
  // As a JSON round trip gives it back (-0 becomes 0).
  metadata: fc.option(
    fc
      .dictionary(fieldName, jsonValue, { maxKeys: 3 })
      .map((m) => JSON.parse(JSON.stringify(m)) as Record<string, Json>),
    { nil: undefined },
  ),
  metadataFirst: fc.boolean(),
  otherKey: fc.boolean(),
});

/** The document's bytes and each record's offset in them. */
function serialize(format: ExportFormat, records: Array<Record<string, Json>>, s: Style) {
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let length = 0;
  const push = (text: string) => {
    const bytes = encoder.encode(text);
    parts.push(bytes);
    length += bytes.length;
  };
  // JSON.stringify escapes every line break inside strings, so this touches layout only.
  const pretty = (value: unknown) => {
    const text = JSON.stringify(value, null, s.indent);
    return s.crlf ? text.replaceAll('\n', '\r\n') : text;
  };
  const pushRecords = (oneLine: boolean, separator: string) => {
    records.forEach((record, i) => {
      if (i > 0) push(separator);
      offsets.push(length);
      push(oneLine ? JSON.stringify(record) : pretty(record));
    });
  };
  if (s.bom) push('\uFEFF');
  push(s.lead);
  if (format === 'jsonl') {
    pushRecords(true, s.lineBreak);
  } else if (format === 'json-array') {
    push('[');
    push(s.lead);
    pushRecords(false, s.separator);
    push(s.trail);
    push(']');
  } else {
    const members: string[] = [];
    if (s.otherKey) members.push(`"version": ${pretty({ v: ['}', 2] })}`);
    if (s.metadata && s.metadataFirst) members.push(`"metadata": ${pretty(s.metadata)}`);
    push(`{${s.lead}${members.map((m) => `${m},${s.lead}`).join('')}"${RECORDS_KEY[format]}": [${s.lead}`);
    pushRecords(false, s.separator);
    push(`${s.trail}]`);
    if (s.metadata && !s.metadataFirst) push(`,${s.lead}"metadata": ${pretty(s.metadata)}`);
    push(`${s.trail}}`);
  }
  push(s.trail);
  return { bytes: Buffer.concat(parts), offsets };
}

const format = fc.constantFrom(...EXPORT_FORMATS);
const pieceSizes = fc.oneof(
  fc.constant([1]),
  fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 4 }),
);
const document = fc.record({
  format,
  records: fc.array(canon, { maxLength: 8 }),
  style,
  sizes: pieceSizes,
  target: fc.integer({ min: 1, max: 1500 }),
});

function checkChunks(chunks: ChunkPlan[], length: number, target: number): void {
  let previousEnd = 0;
  chunks.forEach((chunk, index) => {
    expect(chunk.index).toBe(index);
    expect(chunk.records).toBeGreaterThan(0);
    expect(chunk.start).toBeGreaterThanOrEqual(previousEnd);
    expect(chunk.end).toBeGreaterThan(chunk.start);
    expect(chunk.end).toBeLessThanOrEqual(length);
    expect(chunk.end - chunk.start <= target || chunk.records === 1).toBe(true);
    previousEnd = chunk.end;
  });
}

describe('export scanning properties', () => {
  it('any valid document split at the found boundaries re-parses to exactly the original records', async () => {
    await fc.assert(
      fc.asyncProperty(document, async ({ format, records, style, sizes, target }) => {
        const { bytes, offsets } = serialize(
          format,
          records.map((c) => source(c, format)),
          style,
        );
        const { chunks, summary } = await plan(bytes, { format, targetChunkBytes: target }, sizes);

        expect(summary.error).toBeUndefined();
        expect(summary).toMatchObject({
          format,
          bytes: bytes.length,
          records: records.length,
          chunks: chunks.length,
        });
        expect(summary.oversized.count).toBe(0);
        checkChunks(chunks, bytes.length, target);
        expect(chunks.reduce((sum, chunk) => sum + chunk.records, 0)).toBe(records.length);
        if (format === 'legacy-tasks' || format === 'qdrant-points')
          expect(summary.metadata).toEqual(style.metadata);

        const parsed = parseChunks(bytes, chunks, format);
        expect(parsed.rejects).toEqual([]);
        expect(parsed.records).toEqual(
          records.map((c, i) => ({ ...expected(c, format), offset: offsets[i] })),
        );

        // The detector agrees, except on a JSONL file of at most one line: empty, or one record
        // that may itself hold a "tasks" array.
        if (format !== 'jsonl' || records.length > 1) {
          expect(detectFormat(bytes.subarray(0, DETECT_HEAD_BYTES))).toEqual({ format });
        }
      }),
      { numRuns: 250 },
    );
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
    fc.record({
      kind: fc.constantFrom('replace' as const, 'insert' as const, 'delete' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      byte: fc.oneof(
        fc.constantFrom(...encoder.encode('"\\{}[],: \n0a')),
        fc.constantFrom(0x00, 0xc3, 0xe2, 0xff),
      ),
    }),
  );

  function mutate(
    bytes: Uint8Array,
    mutations: Array<{ kind: string; at: number; byte?: number }>,
  ): Uint8Array {
    let out = bytes;
    for (const { kind, at, byte } of mutations) {
      const i = Math.min(out.length, Math.floor(at * out.length));
      if (kind === 'truncate') out = out.subarray(0, i);
      else if (kind === 'insert')
        out = Buffer.concat([out.subarray(0, i), Uint8Array.of(byte!), out.subarray(i)]);
      else if (i < out.length && kind === 'delete')
        out = Buffer.concat([out.subarray(0, i), out.subarray(i + 1)]);
      else if (i < out.length) out = Uint8Array.from(out, (b, k) => (k === i ? byte! : b));
    }
    return out;
  }

  it('corrupted documents never crash the scanner or the parser: a clean result or a reported error', async () => {
    await fc.assert(
      fc.asyncProperty(
        document,
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        format,
        async ({ format: written, records, style, sizes, target }, mutations, scannedAs) => {
          const original = serialize(
            written,
            records.map((c) => source(c, written)),
            style,
          ).bytes;
          const bytes = mutate(original, mutations);
          const detected = detectFormat(bytes.subarray(0, DETECT_HEAD_BYTES));
          expect('format' in detected || typeof detected.error === 'string').toBe(true);

          // Scanned both as written and as whatever the caller forced.
          for (const as of [written, scannedAs]) {
            const { chunks, summary } = await plan(bytes, { format: as, targetChunkBytes: target }, sizes);
            if (summary.error) {
              // Reading stops at the error.
              expect(summary.bytes).toBeLessThanOrEqual(bytes.length);
              expect(summary.error.offset).toBeGreaterThanOrEqual(0);
              expect(summary.error.offset).toBeLessThanOrEqual(summary.bytes);
              expect(summary.error.message).not.toBe('');
            } else expect(summary.bytes).toBe(bytes.length);
            checkChunks(chunks, bytes.length, target);
            // A worker finds exactly the records the planner counted, each accepted or rejected.
            for (const chunk of chunks) {
              const parsed = parseChunk(bytes.slice(chunk.start, chunk.end), {
                format: as,
                startOffset: chunk.start,
              });
              expect(parsed.records.length + parsed.rejects.length).toBe(chunk.records);
              for (const item of [...parsed.records, ...parsed.rejects]) {
                expect(item.offset).toBeGreaterThanOrEqual(chunk.start);
                expect(item.offset).toBeLessThan(chunk.end);
              }
            }
          }
        },
      ),
      { numRuns: 250 },
    );
  });

  it('a JSON document cut anywhere before its last byte ends with an error at the cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        document.filter((d) => d.format !== 'jsonl'),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        async ({ format, records, style, sizes, target }, at) => {
          const bytes = serialize(
            format,
            records.map((c) => source(c, format)),
            style,
          ).bytes;
          let last = bytes.length;
          while (last > 0 && ' \t\r\n'.includes(String.fromCharCode(bytes[last - 1]!))) last--;
          const cut = Math.floor(at * last);
          const { summary } = await plan(bytes.subarray(0, cut), { format, targetChunkBytes: target }, sizes);
          expect(summary.error?.offset).toBe(cut);
        },
      ),
      { numRuns: 200 },
    );
  });
});
