import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DETECT_HEAD_BYTES, detectFormat } from '#shared/exports/detect.ts';
import { utf8 } from './support.ts';

/** Bytes that make the detector walk: mostly JSON punctuation, starting like an object or array. */
const jsonishBytes = fc
  .tuple(
    fc.constantFrom('{', '[', ' {'),
    fc.array(fc.constantFrom(...'{}[]",:  \n\\a1-tn', '\u00e9'), { maxLength: 120 }),
  )
  .map(([first, rest]) => utf8(first + rest.join('')));

const legacyRecord = '{\n      "TaskId": "1.1",\n      "Vector": [\n        0.5\n      ]\n    }';

describe('detectFormat recognizes each format', () => {
  it('a legacy export, with its metadata before or after the tasks', () => {
    expect(
      detectFormat(utf8(`{\n  "metadata": {"taskCount": 1},\n  "tasks": [\n    ${legacyRecord}`)),
    ).toEqual({
      format: 'legacy-tasks',
    });
    expect(detectFormat(utf8(`{\n  "tasks": [\n    ${legacyRecord}\n  ],\n  "metadata": {}\n}\n`))).toEqual({
      format: 'legacy-tasks',
    });
  });

  it('the tasks key behind a metadata object of tens of kilobytes that holds brackets and quotes', () => {
    const metadata = JSON.stringify({ notes: Array.from({ length: 2000 }, (_, i) => `"]}[{ ${i} \\`) });
    const head = utf8(`\uFEFF  {"metadata": ${metadata}, "tasks": [${legacyRecord}`).subarray(
      0,
      DETECT_HEAD_BYTES,
    );
    expect(head.length).toBeGreaterThan(30_000);
    expect(detectFormat(head)).toEqual({ format: 'legacy-tasks' });
  });

  it('Qdrant points, and a JSON array of records (empty too)', () => {
    expect(detectFormat(utf8('{"points": [{"id": 1, "vector": [1], "payload": {}}]}'))).toEqual({
      format: 'qdrant-points',
    });
    expect(detectFormat(utf8('\r\n [\n  {"id": "a", "embedding": [1]}'))).toEqual({ format: 'json-array' });
    expect(detectFormat(utf8('[ ]'))).toEqual({ format: 'json-array' });
  });

  it('JSONL: one-line records, even when the first one has a "points" array', () => {
    expect(detectFormat(utf8('{"id": 1, "vector": [1]}\r\n\r\n{"id": 2, "vector": [2]}\n'))).toEqual({
      format: 'jsonl',
    });
    expect(detectFormat(utf8('{"id": 1, "text": "x", "points": [1, 2]}\n{"id": 2, "text": "y"}'))).toEqual({
      format: 'jsonl',
    });
  });

  it('JSONL: a file of one record, and a first record longer than the head', () => {
    expect(detectFormat(utf8('{"id": "only", "text": "one record"}'))).toEqual({ format: 'jsonl' });
    const long = utf8(`{"id": 1, "vector": [${'0.123456, '.repeat(10_000)}`).subarray(0, DETECT_HEAD_BYTES);
    expect(detectFormat(long)).toEqual({ format: 'jsonl' });
  });

  it('a minified legacy export on a single line', () => {
    expect(detectFormat(utf8('{"metadata":{},"tasks":[{"TaskId":"1","Vector":[1]}]}'))).toEqual({
      format: 'legacy-tasks',
    });
  });
});

describe('detectFormat refuses, saying what it saw', () => {
  it.each([
    ['empty', '', /empty/],
    ['whitespace', ' \n\t ', /only whitespace/],
    ['CSV', 'TaskId,Description\n1.1,x', /byte 0 is 'T', expected '\{' or '\['.*TaskId,Description/],
    ['an array of numbers', '[0.1, 0.2]', /first element \(byte 1\) is a number, not a record object/],
    ['an array of arrays', '[[1]]', /is an array, not a record object/],
    [
      'an object without records',
      '{"version": 2, "items": [1]}',
      /keys \["version", "items"\].*neither "tasks" nor "points"/,
    ],
    ['tasks as an object', '{"tasks": {"a": 1}}', /"tasks" holds an object, not an array of records/],
    [
      'a pretty-printed record',
      '{\n  "id": 1,\n  "vector": [1]\n}\n',
      /a record spread over several lines is not JSONL/,
    ],
    ['a malformed object', '{"a" 1}', /byte 5 is '1' where ':' was expected/],
  ])('%s', (_name, text, message) => {
    const result = detectFormat(utf8(text));
    expect(result).toMatchObject({ error: expect.stringMatching(message) });
  });

  it('UTF-16 (what Windows PowerShell 5 writes by default), gzip and zip', () => {
    expect(detectFormat(Uint8Array.of(0xff, 0xfe, 0x7b, 0x00))).toEqual({
      error: expect.stringMatching(/UTF-16/),
    });
    expect(detectFormat(Uint8Array.of(0x1f, 0x8b, 8, 0))).toEqual({ error: expect.stringMatching(/gzip/) });
    expect(detectFormat(Uint8Array.of(0x50, 0x4b, 3, 4))).toEqual({
      error: expect.stringMatching(/zip archive/),
    });
  });

  it('says when the head ended before the records key showed', () => {
    const metadata = JSON.stringify({ blob: 'x'.repeat(DETECT_HEAD_BYTES) });
    const head = utf8(`{"metadata": ${metadata}, "tasks": []}`).subarray(0, DETECT_HEAD_BYTES);
    expect(detectFormat(head)).toEqual({
      error: expect.stringMatching(
        /first 65536 bytes end inside a top-level object with keys \["metadata"\] so far/,
      ),
      needsMoreBytes: true,
    });
    expect(detectFormat(utf8('[  '))).toMatchObject({ needsMoreBytes: true });
  });

  it('never throws on arbitrary bytes, and always answers a format or a message', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), jsonishBytes), (bytes) => {
        const result = detectFormat(bytes);
        expect('format' in result ? result.format : result.error).toEqual(expect.any(String));
      }),
      { numRuns: 300 },
    );
  });
});
