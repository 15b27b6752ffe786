import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DETECT_HEAD_BYTES, detectFormat } from '#shared/exports/detect.ts';
import { planChunks } from '#shared/exports/scanner.ts';
import {
  LEGACY_SAMPLE_RELATIVE,
  pieces,
  plan,
  LEGACY_SAMPLE as SAMPLE,
  scanAndParse,
  utf8,
} from './support.ts';

/** A legacy export as the PowerShell exporter writes it: 2-space indent, one number per line. */
function legacyDocument(metadataFirst: boolean): string {
  const task = (id: string, description: string, vector: number[]) =>
    [
      '    {',
      `      "TaskId": "${id}",`,
      `      "Description": ${JSON.stringify(description)},`,
      '      "Status": "Complete",',
      '      "ParentId": "",',
      '      "Vector": [',
      vector.map((x) => `        ${x}`).join(',\n'),
      '      ],',
      '      "Metadata": {',
      '        "VectorDimension": 3',
      '      }',
      '    }',
    ].join('\n');
  const metadata =
    '  "metadata": {\n    "taskCount": 2,\n    "source": "projet\\\\roadmaps\\\\active.md"\n  }';
  const tasks = `  "tasks": [\n${task('1.3.1', 'Système RAG', [0.25, -0.5, 1e-7])},\n${task('1.3.1.1', 'Tâche "]}"', [1, 2, 3])}\n  ]`;
  return `{\n${metadataFirst ? `${metadata},\n${tasks}` : `${tasks},\n${metadata}`}\n}\n`;
}

describe('planChunks, legacy export', () => {
  it.each([true, false])('finds every task and captures the metadata (metadata first: %s)', async (first) => {
    const bytes = utf8(legacyDocument(first));
    const { chunks, summary, records, rejects } = await scanAndParse(bytes, {
      format: 'legacy-tasks',
      targetChunkBytes: 1_000_000,
    });
    expect(rejects).toEqual([]);
    expect(chunks).toHaveLength(1);
    expect(summary).toEqual({
      format: 'legacy-tasks',
      bytes: bytes.length,
      records: 2,
      chunks: 1,
      oversized: { count: 0, samples: [] },
      metadata: { taskCount: 2, source: 'projet\\roadmaps\\active.md' },
    });
    expect(records.map((r) => [r.sourceId, r.vector, r.text])).toEqual([
      ['1.3.1', [0.25, -0.5, 1e-7], 'Système RAG'],
      ['1.3.1.1', [1, 2, 3], 'Tâche "]}"'],
    ]);
    expect(records[1]!.payload).toEqual({
      Description: 'Tâche "]}"',
      Status: 'Complete',
      ParentId: '',
      Metadata: { VectorDimension: 3 },
    });
    // Offsets point at each record's opening brace.
    for (const record of records) expect(bytes[record.offset]).toBe(0x7b);
  });

  it('cuts one chunk per record when the target is smaller than a record', async () => {
    const bytes = utf8(legacyDocument(true));
    const { chunks, records } = await scanAndParse(bytes, { format: 'legacy-tasks', targetChunkBytes: 10 });
    expect(chunks.map((c) => [c.index, c.records])).toEqual([
      [0, 1],
      [1, 1],
    ]);
    expect(chunks[0]!.end).toBeLessThan(chunks[1]!.start);
    expect(records.map((r) => r.offset)).toEqual(chunks.map((c) => c.start));
  });
});

describe('planChunks, other formats', () => {
  it('a JSON array of records in every shape', async () => {
    const doc = [
      { id: 1, vector: [1, 0], payload: { title: 'payload' } },
      { id: 'b', embedding: [0, 1], metadata: { title: 'metadata' } },
      { _id: 3, vector: [1, 1], title: 'siblings', tags: ['x'] },
      { id: 4, description: 'text only' },
    ];
    const bytes = utf8(JSON.stringify(doc, null, '\t'));
    const { summary, records, rejects } = await scanAndParse(bytes, {
      format: 'json-array',
      targetChunkBytes: 60,
    });
    expect(rejects).toEqual([]);
    expect(summary.records).toBe(4);
    expect(summary.chunks).toBeGreaterThan(1);
    expect(records.map(({ offset: _, ...r }) => r)).toEqual([
      { sourceId: 1, vector: [1, 0], payload: { title: 'payload' } },
      { sourceId: 'b', vector: [0, 1], payload: { title: 'metadata' } },
      { sourceId: 3, vector: [1, 1], payload: { title: 'siblings', tags: ['x'] } },
      { sourceId: 4, text: 'text only', payload: { description: 'text only' } },
    ]);
  });

  it('Qdrant points, with other top-level keys around the points', async () => {
    const bytes = utf8(
      JSON.stringify({
        version: [1, { x: ']' }],
        points: [{ id: 7, vector: [0.5], payload: { a: 1 } }],
        next: null,
      }),
    );
    const { summary, records } = await scanAndParse(bytes, {
      format: 'qdrant-points',
      targetChunkBytes: 100,
    });
    expect(summary.error).toBeUndefined();
    expect(summary.metadata).toBeUndefined();
    expect(records).toEqual([
      {
        sourceId: 7,
        vector: [0.5],
        payload: { a: 1 },
        offset: bytes.indexOf(0x7b, 1 + bytes.indexOf(0x5b, 30)),
      },
    ]);
  });

  it('JSONL with a byte order mark, blank lines, whitespace lines, CRLF and no final newline', async () => {
    const lines = ['{"id":1,"vector":[1]}', '{"id":2,"text":"deux"}', '{"id":3,"vector":[3]}'];
    const text = `\uFEFF\r\n${lines[0]}\r\n\r\n   \t\r\n  ${lines[1]}  \n\n${lines[2]}`;
    const bytes = utf8(text);
    const { chunks, summary, records, rejects } = await scanAndParse(bytes, {
      format: 'jsonl',
      targetChunkBytes: 30,
    });
    expect(rejects).toEqual([]);
    expect(summary).toMatchObject({ records: 3, bytes: bytes.length });
    expect(summary.error).toBeUndefined();
    expect(records.map((r) => r.sourceId)).toEqual([1, 2, 3]);
    // Ranges are trimmed: they start on '{' and end after '}'.
    for (const chunk of chunks) {
      expect(bytes[chunk.start]).toBe(0x7b);
      expect(bytes[chunk.end - 1]).toBe(0x7d);
    }
  });

  it('an empty records array is a clean export of no records', async () => {
    for (const [format, doc] of [
      ['json-array', ' [ ] '],
      ['legacy-tasks', '{"metadata": {"taskCount": 0}, "tasks": []}'],
    ] as const) {
      const { chunks, summary } = await plan(utf8(doc), { format, targetChunkBytes: 10 });
      expect(chunks).toEqual([]);
      expect(summary).toMatchObject({ records: 0, chunks: 0 });
      expect(summary.error).toBeUndefined();
    }
  });
});

describe('planChunks, strings and stream pieces', () => {
  // Every byte that could mislead a naive scanner sits inside strings: brackets, quotes, escaped
  // quotes, a string ending in a backslash, multi-byte UTF-8 (2, 3 and 4 bytes).
  const tricky = [
    { id: 'a]}', vector: [1], payload: { s: '}]\\"', t: '\\', u: 'é€𝄞', v: '[{"' } },
    { id: '"quoted"', vector: [2], payload: { k: 'x\\\\"],' } },
    { id: 'é', text: '𝄞 clef ]', payload: { '}"': '{[' } },
  ];

  it.each(['json-array', 'jsonl'] as const)(
    '%s: the same chunks whatever the split, 1-byte pieces included',
    async (format) => {
      const text =
        format === 'jsonl'
          ? tricky.map((r) => JSON.stringify(r)).join('\n')
          : JSON.stringify(tricky, null, 1);
      const bytes = utf8(text);
      const whole = await plan(bytes, { format, targetChunkBytes: 50 });
      expect(whole.summary.error).toBeUndefined();
      expect(whole.summary.records).toBe(3);
      expect((await plan(bytes, { format, targetChunkBytes: 50 }, [1])).chunks).toEqual(whole.chunks);
      for (let cut = 1; cut < bytes.length; cut++) {
        const split = await plan(bytes, { format, targetChunkBytes: 50 }, [cut, bytes.length]);
        expect(split.chunks).toEqual(whole.chunks);
        expect(split.summary).toEqual(whole.summary);
      }
      const { records, rejects } = await scanAndParse(bytes, { format, targetChunkBytes: 50 }, [1]);
      expect(rejects).toEqual([]);
      expect(records.map((r) => r.sourceId)).toEqual(['a]}', '"quoted"', 'é']);
      expect(records[0]!.payload).toEqual(tricky[0]!.payload);
    },
  );

  it('captures metadata split into 1-byte pieces, multi-byte characters included', async () => {
    const bytes = utf8('{"metadata": {"model": "é€𝄞 \\" ]}"}, "tasks": [{"TaskId": 1, "Vector": [1]}]}');
    const { summary } = await plan(bytes, { format: 'legacy-tasks', targetChunkBytes: 100 }, [1]);
    expect(summary.metadata).toEqual({ model: 'é€𝄞 " ]}' });
  });
});

describe('planChunks, record sizes', () => {
  it('keeps every chunk within the target unless a record alone exceeds it', async () => {
    const doc = Array.from({ length: 40 }, (_, i) => ({
      id: i,
      vector: Array.from({ length: i % 7 }, () => i),
    }));
    const bytes = utf8(JSON.stringify(doc));
    const { chunks, summary } = await plan(bytes, { format: 'json-array', targetChunkBytes: 100 }, [13]);
    expect(summary.records).toBe(40);
    for (const chunk of chunks) expect(chunk.end - chunk.start <= 100 || chunk.records === 1).toBe(true);
    expect(chunks.reduce((sum, c) => sum + c.records, 0)).toBe(40);
  });

  it('puts records over maxRecordBytes in no chunk and reports them', async () => {
    const big = { id: 2, vector: Array.from({ length: 100 }, () => 1) };
    const bytes = utf8(JSON.stringify([{ id: 1, vector: [1] }, big, { id: 3, vector: [3] }]));
    const { chunks, summary, records } = await scanAndParse(bytes, {
      format: 'json-array',
      targetChunkBytes: 1000,
      maxRecordBytes: 100,
    });
    expect(records.map((r) => r.sourceId)).toEqual([1, 3]);
    expect(chunks).toHaveLength(2);
    expect(summary.records).toBe(2);
    expect(summary.oversized).toEqual({
      count: 1,
      samples: [{ offset: bytes.indexOf(0x7b, 2), bytes: JSON.stringify(big).length }],
    });
  });

  it('refuses options that are not positive integers', async () => {
    for (const targetChunkBytes of [0, -1, 1.5, Number.NaN]) {
      await expect(
        planChunks(pieces(utf8('[]')), { format: 'json-array', targetChunkBytes }).next(),
      ).rejects.toThrow(/targetChunkBytes must be a positive integer/);
    }
  });
});

describe('planChunks, broken documents end with an error at its offset', () => {
  it.each([
    [
      'truncated inside a record',
      'json-array',
      '[{"id": 1, "vector": [1]}, {"id": 2, "vec',
      'truncated: the input ends inside the record that starts at 27',
    ],
    [
      'truncated inside a string',
      'json-array',
      '[{"id": "ab\\',
      'truncated: the input ends inside the record that starts at 1',
    ],
    [
      'truncated after a record',
      'legacy-tasks',
      '{"tasks": [{"TaskId": 1, "Vector": [1]}',
      'truncated: the input ends inside the "tasks" array that starts at 10',
    ],
    [
      'truncated in the metadata',
      'legacy-tasks',
      '{"metadata": {"a": ',
      'truncated: the input ends inside the top-level property value that starts at 13',
    ],
    [
      'truncated before the closing brace',
      'qdrant-points',
      '{"points": []',
      'truncated: the input ends inside the top-level object',
    ],
    [
      'a missing comma',
      'json-array',
      '[{"id": 1} {"id": 2}]',
      "expected ',' or ']' after the record that starts at 1, found '{'",
    ],
    ['a trailing comma', 'json-array', '[{"id": 1},\n]', "a ',' before ']': a record is missing"],
    [
      'data after the document',
      'json-array',
      '[{"id": 1}] [{"id": 2}]',
      "unexpected '[' after the end of the document",
    ],
    [
      'an object where an array is expected',
      'json-array',
      '{"points": []}',
      "expected '[' to open the document, found '{'",
    ],
    [
      'no records key',
      'legacy-tasks',
      '{"metadata": {}, "points": []}',
      'the top-level object has no "tasks" array of records',
    ],
    [
      'records key not an array',
      'qdrant-points',
      '{"points": {"id": 1}}',
      '"points" must be an array of records, found \'{\'',
    ],
    ['a second records key', 'legacy-tasks', '{"tasks": [], "tasks": []}', 'a second "tasks" key'],
    [
      'a bad property name',
      'legacy-tasks',
      '{tasks: []}',
      "expected a property name in the top-level object, found 't'",
    ],
    ['a missing colon', 'legacy-tasks', '{"tasks" []}', "expected ':' after the property name, found '['"],
    ['a broken byte order mark', 'json-array', '\u00ef\u00bb[]', 'incomplete UTF-8 byte order mark'],
    ['an empty file', 'legacy-tasks', '  \n', 'empty document: no JSON value'],
  ] as const)('%s', async (_name, format, text, message) => {
    // A byte order mark is built from its bytes: the string above spells it in Latin-1.
    const bytes = text.startsWith('\u00ef') ? Uint8Array.of(0xef, 0xbb, 0x5b, 0x5d) : utf8(text);
    const { summary } = await plan(bytes, { format, targetChunkBytes: 1000 }, [3]);
    expect(summary.error?.message).toBe(message);
    expect(summary.error!.offset).toBeGreaterThanOrEqual(0);
    expect(summary.error!.offset).toBeLessThanOrEqual(bytes.length);
    if (message.startsWith('truncated')) expect(summary.error!.offset).toBe(bytes.length);
  });

  it('gives the exact offset of the byte that broke the structure', async () => {
    const text = '[{"id": 1}, {"id": 2}; {"id": 3}]';
    const { chunks, summary } = await plan(utf8(text), { format: 'json-array', targetChunkBytes: 1000 });
    expect(summary.error).toEqual({
      offset: text.indexOf(';'),
      message: expect.stringContaining("found ';'"),
    });
    // The records before the break are planned; the planner decides what to do with them.
    expect(chunks).toEqual([{ index: 0, start: 1, end: 21, records: 2 }]);
  });

  it('refuses nesting deeper than it tracks', async () => {
    const text = `[${'['.repeat(2000)}`;
    const { summary } = await plan(utf8(text), { format: 'json-array', targetChunkBytes: 1000 });
    expect(summary.error).toEqual({ offset: 1025, message: 'nesting deeper than 1024 levels' });
  });

  it('stops reading the stream at the first structural error', async () => {
    let served = 0;
    let closed = false;
    async function* source() {
      try {
        yield utf8('[{"id": 1} x');
        for (;;) {
          served++;
          yield utf8(', {"id": 2}');
        }
      } finally {
        closed = true;
      }
    }
    const generator = planChunks(source(), { format: 'json-array', targetChunkBytes: 1000 });
    let step = await generator.next();
    while (!step.done) step = await generator.next();
    expect(step.value.error?.offset).toBe(11);
    expect(served).toBe(0);
    expect(closed).toBe(true);
  });

  it('reports metadata that is too large, or not an object, and still plans the records', async () => {
    const large = utf8(
      `{"metadata": {"blob": "${'x'.repeat(200)}"}, "tasks": [{"TaskId": 1, "Vector": [1]}]}`,
    );
    const { summary } = await plan(
      large,
      { format: 'legacy-tasks', targetChunkBytes: 100, maxMetadataBytes: 100 },
      [7],
    );
    expect(summary).toMatchObject({
      records: 1,
      metadataError: '"metadata" is larger than 100 bytes: not captured',
    });
    expect(summary.metadata).toBeUndefined();
    const scalar = utf8('{"metadata": 12, "tasks": []}');
    expect(
      (await plan(scalar, { format: 'legacy-tasks', targetChunkBytes: 100 }, [1])).summary.metadataError,
    ).toBe('"metadata" is not an object');
  });
});

describe.skipIf(!existsSync(SAMPLE))(
  `the reconstructed legacy sample (skipped without ${LEGACY_SAMPLE_RELATIVE})`,
  () => {
    it('is detected, scanned and parsed: 3 tasks, 1536-d vectors, metadata captured', async () => {
      const bytes = new Uint8Array(readFileSync(SAMPLE));
      expect(detectFormat(bytes.subarray(0, DETECT_HEAD_BYTES))).toEqual({ format: 'legacy-tasks' });
      const { chunks, summary, records, rejects } = await scanAndParse(
        bytes,
        { format: 'legacy-tasks', targetChunkBytes: 40_000 },
        [4096],
      );
      expect(summary.error).toBeUndefined();
      expect(summary).toMatchObject({ bytes: bytes.length, records: 3, chunks: chunks.length });
      expect(summary.metadata).toMatchObject({ taskCount: 3, vectorDimension: 1536 });
      expect(rejects).toEqual([]);
      expect(records.map((r) => r.sourceId)).toEqual(['1.3.1', '1.3.1.1', '1.3.1.1.1']);
      for (const record of records) {
        expect(record.vector).toHaveLength(1536);
        expect(record.text).toEqual(expect.any(String));
        expect(record.payload).toMatchObject({ Metadata: { VectorDimension: 1536 } });
        expect(record.payload).not.toHaveProperty('Vector');
        expect(record.payload).not.toHaveProperty('TaskId');
      }
    });
  },
);
