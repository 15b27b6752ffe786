import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/errors.ts';
import { uuidV5 } from '#shared/ids.ts';
import { chainPath, ROOT_PATH } from '#shared/plans/ids.ts';
import { normalizeForId } from '#shared/plans/inline.ts';
import { type PlanDocument, parsePlan } from '#shared/plans/parser.ts';
import { expectWellFormed, fixture, linesOf } from './support.ts';

/** [line, explicit id, text, status, parent index, depth] of every task, in order. */
function rows(doc: PlanDocument): unknown[][] {
  return doc.tasks.map((t) => [t.line, t.explicitId, t.text, t.status, t.parentIndex, t.depth]);
}

function parseFixture(name: Parameters<typeof fixture>[0]): PlanDocument {
  const text = fixture(name);
  const doc = parsePlan(text, { planId: `fixtures/${name}.md` });
  expectWellFormed(doc, linesOf(text));
  return doc;
}

describe('parsePlan: checkboxes, ids and nesting', () => {
  const doc = parseFixture('nested');

  it('finds every checkbox task with its explicit id, status, parent and depth (spaces and tabs)', () => {
    expect(rows(doc)).toEqual([
      [7, '1.1', 'Choose the storage format', 'done', null, 0],
      [8, '1.1.1', 'Compare JSON lines and CSV', 'done', 0, 1],
      [9, '1.1.2', 'Write the decision record P1 (2h) #docs', 'todo', 0, 1],
      [10, '1.2', 'Set up the build', 'todo', null, 0],
      [11, '1.2.1', 'Add the compiler', 'done', 3, 1],
      [12, '1.2.2', 'Add the linter', 'todo', 3, 1],
      [13, null, 'Configure the rule set', 'todo', 5, 2],
      [14, null, 'Tasks without an id are fine too', 'todo', null, 0],
      [15, null, 'Plus bullets count as well', 'done', null, 0],
      [19, null, 'Ordered items can carry a checkbox', 'done', null, 0],
      [20, '2.2', 'Publish the package (30 min) #release #npm', 'todo', null, 0],
      [21, null, 'Write the release notes', 'in_progress', null, 0],
      [22, null, 'Sign the binaries [P0]', 'blocked', null, 0],
    ]);
    // Tabs count to the next multiple of 4.
    expect(doc.tasks.map((t) => t.indent)).toEqual([0, 2, 2, 0, 4, 4, 8, 0, 0, 0, 0, 0, 0]);
    expect(doc.tasks.every((t) => t.marker === 'checkbox')).toBe(true);
  });

  it('reads priority, estimate and tags written inline', () => {
    const [, , decision, , , , , , , , publish, , sign] = doc.tasks;
    expect([decision!.priority, decision!.estimate, decision!.tags]).toEqual([
      'P1',
      { raw: '2h', minutes: 120 },
      ['docs'],
    ]);
    expect([publish!.priority, publish!.estimate, publish!.tags]).toEqual([
      null,
      { raw: '30 min', minutes: 30 },
      ['release', 'npm'],
    ]);
    expect(sign!.priority).toBe('P0');
    expect(doc.tasks[0]!.tags).toEqual([]);
  });

  it('builds the heading tree with numbers, paths and computed progress', () => {
    expect(
      doc.headings.map((h) => [
        h.level,
        h.title,
        h.number,
        h.line,
        h.parentIndex,
        h.progress.total,
        h.progress.done,
      ]),
    ).toEqual([
      [1, 'Release plan for the export tool', null, 1, null, 13, 5],
      [2, '1. Preparation', '1', 5, 0, 9, 4],
      [2, '2. Delivery', '2', 17, 0, 4, 1],
    ]);
    expect(doc.headings[2]!.progress).toEqual({
      total: 4,
      done: 1,
      inProgress: 1,
      blocked: 1,
      todo: 1,
      computed: 25,
      declared: null,
      drift: null,
    });
    expect(doc.tasks[6]!.headingPath).toEqual(['Release plan for the export tool', '1. Preparation']);
    expect(doc.title).toBe('Release plan for the export tool');
    expect(doc.frontMatter).toBeNull();
    expect(doc.progress.computed).toBe(38);
  });

  it('derives ids from the plan id and the explicit id, or the heading path and normalized text', () => {
    const path = ['Release plan for the export tool', '1. Preparation'];
    const normalizedPath = path.map(normalizeForId).reduce(chainPath, ROOT_PATH);
    expect(doc.tasks[1]!.id).toBe(uuidV5('["plan-task","fixtures/nested.md","explicit","1.1.1"]'));
    expect(doc.tasks[7]!.id).toBe(
      uuidV5(
        JSON.stringify([
          'plan-task',
          'fixtures/nested.md',
          'text',
          normalizedPath,
          'tasks without an id are fine too',
        ]),
      ),
    );
    expect(doc.headings[1]!.id).toBe(
      uuidV5(JSON.stringify(['plan-heading', 'fixtures/nested.md', normalizedPath])),
    );
    expect(doc.tasks[7]!.contentHash).toBe(
      createHash('sha256')
        .update(
          JSON.stringify([
            'Tasks without an id are fine too',
            'todo',
            null,
            path.reduce(chainPath, ROOT_PATH),
            null,
          ]),
        )
        .digest('hex'),
    );
  });

  it('parses the same plan identically from CRLF bytes with a UTF-8 BOM', () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(fixture('nested').replaceAll('\n', '\r\n')),
    ]);
    const crlf = parsePlan(bytes, { planId: 'fixtures/nested.md' });
    expect(crlf.lineEnding).toBe('crlf');
    expect(crlf.encoding).toBe('utf-8');
    expect({ ...crlf, lineEnding: 'lf' }).toEqual(doc);
  });

  it('decodes UTF-16 (by its BOM), a string with a BOM, and Windows-1252 bytes', () => {
    const text = fixture('nested');
    const le = parsePlan(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), {
      planId: 'fixtures/nested.md',
    });
    expect(le.encoding).toBe('utf-16le');
    expect(le.tasks).toEqual(doc.tasks);
    expect(parsePlan(`\uFEFF${text}`, { planId: 'fixtures/nested.md' })).toEqual(doc);

    const latin = parsePlan(Buffer.from('# Étape\n- [x] Définir le périmètre\n', 'latin1'), { planId: 'p' });
    expect(latin.encoding).toBe('windows-1252');
    expect(latin.tasks.map((t) => t.text)).toEqual(['Définir le périmètre']);
  });

  it('rejects a missing plan id, the only input it refuses', () => {
    expect(() => parsePlan('- [ ] x', { planId: ' ' })).toThrow(ValidationError);
  });
});

describe('parsePlan: status symbols and steps', () => {
  const doc = parseFixture('symbols');

  it('reads a status from a symbol, with or without a variation selector, on bullets and bare lines', () => {
    expect(doc.tasks.map((t) => [t.line, t.marker, t.status, t.text])).toEqual([
      [5, 'symbol', 'done', 'Book the meeting room'],
      [6, 'symbol', 'done', 'Send the agenda'],
      [7, 'symbol', 'done', 'Collect the questions'],
      [8, 'symbol', 'todo', 'Print the handouts'],
      [9, 'symbol', 'todo', 'Order the coffee'],
      [10, 'symbol', 'todo', 'Test the projector'],
      [11, 'symbol', 'in_progress', 'Draft the minutes'],
      [12, 'symbol', 'in_progress', 'Wait for the budget approval'],
      [13, 'symbol', 'in_progress', 'Rework the slides'],
      [14, 'symbol', 'blocked', 'Invite the vendor'],
      [15, 'symbol', 'blocked', 'Record the session'],
      [19, 'checkbox', 'todo', 'Build the importer'],
      [20, 'checkbox', 'done', 'Étape 1 : Read the input file'],
      [21, 'checkbox', 'done', 'Micro-étape 1.1 : Detect the encoding'],
      [22, 'checkbox', 'todo', 'Micro-étape 1.2 : Split the lines'],
      [23, 'step', 'todo', 'Étape 2 : Validate each record'],
      [24, 'checkbox', 'in_progress', 'Étape 3 : Report the errors'],
      [27, 'symbol', 'todo', 'Build: `make` passes'],
      [28, 'symbol', 'done', 'Tests: all green'],
    ]);
  });

  it('nests steps and micro-steps and labels them, without taking step numbers for ids', () => {
    expect(doc.tasks.slice(11, 17).map((t) => [t.parentIndex, t.depth, t.step, t.explicitId])).toEqual([
      [null, 0, null, null],
      [11, 1, { kind: 'step', number: '1' }, null],
      [12, 2, { kind: 'micro-step', number: '1.1' }, null],
      [12, 2, { kind: 'micro-step', number: '1.2' }, null],
      [11, 1, { kind: 'step', number: '2' }, null],
      [11, 1, { kind: 'step', number: '3' }, null],
    ]);
    // A bare symbol line at column 0 ends the list above it.
    expect(doc.tasks[17]!.parentIndex).toBeNull();
  });

  it('reads a checkbox or a symbol on a heading as the heading status', () => {
    expect(doc.headings.map((h) => [h.title, h.number, h.status])).toEqual([
      ['Symbol plan', null, null],
      ['1. Kick-off', '1', 'done'],
      ['2. Steps', '2', 'in_progress'],
    ]);
    expect(doc.headings[1]!.progress).toMatchObject({
      total: 11,
      done: 3,
      inProgress: 3,
      blocked: 2,
      todo: 3,
    });
  });
});

describe('parsePlan: status markers of steps', () => {
  const doc = parseFixture('steps');

  it('reads the status of a step from the symbol it starts or ends with, and drops the symbol', () => {
    expect(doc.tasks.map((t) => [t.line, t.marker, t.status, t.text, t.depth])).toEqual([
      [7, 'checkbox', 'done', 'Install the logger', 0],
      [8, 'step', 'done', 'Micro-étape 1.1.1 : Run `go get go.uber.org/zap`', 1],
      [9, 'step', 'done', 'Micro-étape 1.1.2 : Check the version', 1],
      [10, 'step', 'done', '**Micro-étape 1.1.3** : Pin it in go.mod', 1],
      [14, 'step', 'in_progress', 'Étape 2.1 : Design the schema', 0],
      [15, 'step', 'blocked', 'Étape 2.2 : Write the migration', 0],
      [16, 'step', 'todo', 'Étape 2.3 : Review it', 0],
      [17, 'symbol', 'done', 'Micro-étape 2.3.1 : First reviewer', 1],
      // Only at its end: a symbol inside the text is text.
      [18, 'step', 'todo', 'Micro-étape 2.3.2 : Second reviewer 🔄 then ✅ later', 1],
    ]);
    expect(doc.tasks[3]!.step).toEqual({ kind: 'micro-step', number: '1.1.3' });
  });

  it('counts them in computed progress: a phase whose every step is marked done is at 100 %', () => {
    expect(doc.headings[1]!.progress).toMatchObject({
      total: 4,
      done: 4,
      computed: 100,
      declared: 100,
      drift: 0,
    });
    expect(doc.headings[2]!.progress).toMatchObject({
      total: 5,
      done: 1,
      inProgress: 1,
      blocked: 1,
      todo: 2,
    });
  });

  it('keeps a step id when its marker changes, and changes its content hash', () => {
    const planId = 'fixtures/steps.md';
    const ticked = parsePlan('## A\n- Micro-étape 1.1 : Ship it ✅\n', { planId }).tasks[0]!;
    const waiting = parsePlan('## A\n- Micro-étape 1.1 : Ship it ⏳\n', { planId }).tasks[0]!;
    const bare = parsePlan('## A\n- Micro-étape 1.1 : Ship it\n', { planId }).tasks[0]!;
    expect([ticked.status, waiting.status, bare.status]).toEqual(['done', 'in_progress', 'todo']);
    expect(ticked.id).toBe(bare.id);
    expect(waiting.id).toBe(bare.id);
    expect(new Set([ticked.contentHash, waiting.contentHash, bare.contentHash]).size).toBe(3);
  });
});

describe('parsePlan: deep numbers', () => {
  it('reads 17-deep explicit ids, heading numbers and table-of-contents numbers', () => {
    const deepest = '2.1.2.4.1.2.3.2.2.5.3.2.2.5.2.1.1';
    const doc = parsePlan(
      `## ${deepest} Deep section\n- [ ] **${deepest}** Deep task\n- [${deepest}] Entry\n`,
      {
        planId: 'deep.md',
      },
    );
    expect(doc.headings[0]!.number).toBe(deepest);
    expect(doc.tasks.map((t) => [t.explicitId, t.text])).toEqual([[deepest, 'Deep task']]);
    expect(doc.toc).toEqual([{ number: deepest, text: 'Entry', line: 3 }]);
  });
});

describe('parsePlan: declared progress', () => {
  const doc = parseFixture('progress');

  it('reads every spelling of "Progression: N%" and attaches it to its heading', () => {
    expect(doc.declaredProgress).toEqual([
      { value: 50, line: 3, headingIndex: 0 },
      { value: 100, line: 7, headingIndex: 1 },
      { value: 50, line: 14, headingIndex: 2 },
      { value: 45, line: 21, headingIndex: 3 },
      { value: 20, line: 27, headingIndex: 4 },
      { value: 100, line: 36, headingIndex: 5 },
      { value: 100, line: 42, headingIndex: 6 },
      { value: 0, line: 46, headingIndex: 7 },
      { value: 30, line: 52, headingIndex: 8 },
      { value: 10, line: 54, headingIndex: 9 },
    ]);
  });

  it('reports computed progress next to the declared one, so that drift shows', () => {
    expect(
      doc.headings.map((h) => [h.number, h.progress.computed, h.progress.declared, h.progress.drift]),
    ).toEqual([
      [null, 62, 50, 12],
      ['1', 100, 100, 0],
      ['2', 50, 50, 0],
      ['3', 0, 45, -45],
      ['4', 75, 20, 55],
      ['5', 100, 100, 0],
      // A heading counts the tasks of its whole subtree.
      ['6', 100, 100, 0],
      ['6.1', 100, 0, 100],
      ['7', null, 30, null],
      ['8', 0, 10, -10],
      ['9', 0, null, null],
    ]);
    expect(doc.progress).toMatchObject({ total: 13, done: 8, computed: 62, declared: 50, drift: 12 });
  });

  it('never takes a task, or prose without a colon, for a claim', () => {
    expect(doc.headings[10]!.progress.declared).toBeNull();
    expect(doc.tasks.at(-1)!.text).toBe('Mettre à jour la progression globale à 60%');
  });
});

describe('parsePlan: front matter, code, tables, navigation', () => {
  const doc = parseFixture('structure');

  it('parses YAML front matter and takes the title from it', () => {
    expect(doc.frontMatter).toEqual({
      title: 'Structured plan',
      version: '1.0',
      owner: 'team-a',
      priority: 2,
      draft: false,
      labels: ['plans', 'parsing, fast'],
      reviewers: ['alice', 'bob'],
      meta: { created: '2025-01-02', nested: { deep: 'yes' } },
    });
    expect(doc.title).toBe('Structured plan');
    expect(doc.headings[0]!.line).toBe(16);
  });

  it('keeps fences, tables, comments and TOC lines out of the tasks', () => {
    expect(rows(doc)).toEqual([
      [43, null, 'Quoted task', 'done', null, 0],
      [45, null, 'Real task after the blocks', 'todo', null, 0],
      [49, null, 'Child after the indented fence', 'todo', 1, 1],
      [55, null, 'Deep task', 'todo', null, 0],
    ]);
    expect(doc.toc).toEqual([
      { number: '1', text: 'Phase 1: Setup', line: 20 },
      { number: '2', text: 'Phase 2: Build', line: 21 },
      { number: '2.1', text: 'Phase 2.1: Details', line: 22 },
    ]);
  });

  it('keeps headings deeper than level 6 in the tree', () => {
    expect(doc.headings.map((h) => [h.level, h.title, h.parentIndex])).toEqual([
      [1, 'Visible heading', null],
      [2, 'Table of contents', 0],
      [2, 'Phase 1: Setup', 0],
      [7, 'Deep heading at level 7', 2],
    ]);
  });

  it('closes fences on info-string closers when strict closing would swallow the rest of the plan', () => {
    const fences = parseFixture('fences');
    expect(rows(fences)).toEqual([
      [19, null, 'Found although every block was closed with an info string', 'done', null, 0],
      [20, null, 'Also found', 'todo', null, 0],
    ]);
    expect(fences.headings.map((h) => h.line)).toEqual([1, 3, 11, 17]);
  });

  it('follows CommonMark when a plan closes its fences properly: an info string does not close', () => {
    const doc = parsePlan('```md\n```js\n- [ ] inside\n```\n- [ ] outside\n', { planId: 'p' });
    expect(doc.tasks.map((t) => t.text)).toEqual(['outside']);
  });

  it('ignores a leading "---" that does not open YAML', () => {
    const doc = parsePlan('---\n- [ ] a task\n---\n', { planId: 'p' });
    expect(doc.frontMatter).toBeNull();
    expect(doc.tasks.map((t) => t.line)).toEqual([2]);
  });
});

describe('parsePlan: stable ids', () => {
  const doc = parseFixture('repeats');

  it('disambiguates repeated explicit ids and repeated texts by occurrence, deterministically', () => {
    expect(doc.tasks.map((t) => [t.explicitId, t.occurrence])).toEqual([
      ['1.1', 1],
      ['1.1', 2],
      [null, 1],
      [null, 2],
      ['1.1', 3],
      // Same text under another heading: another path, so a first occurrence.
      [null, 1],
    ]);
    expect(doc.tasks[1]!.id).toBe(uuidV5('["plan-task","fixtures/repeats.md","explicit","1.1",2]'));
    expect(new Set(doc.tasks.map((t) => t.id)).size).toBe(6);
    expect(parsePlan(fixture('repeats'), { planId: 'fixtures/repeats.md' })).toEqual(doc);
  });

  it('keeps an id across a status or text change, and changes the content hash', () => {
    const before = parsePlan('# P\n- [ ] **1.2** Write the code\n- [ ] Review it\n', { planId: 'p' });
    const after = parsePlan('# P\n- [x] **1.2** Write the code and the tests\n- [x] Review it\n', {
      planId: 'p',
    });
    expect(after.tasks.map((t) => t.id)).toEqual(before.tasks.map((t) => t.id));
    expect(after.tasks[0]!.contentHash).not.toBe(before.tasks[0]!.contentHash);
    expect(after.tasks[1]!.contentHash).not.toBe(before.tasks[1]!.contentHash);
  });

  it('keeps an implicit id across emphasis and case changes, and moves it with the heading path', () => {
    const base = parsePlan('# P\n## A\n- [ ] Review the code\n', { planId: 'p' });
    const restyled = parsePlan('# P\n## A\n- [ ] Review  the **Code**\n', { planId: 'p' });
    const moved = parsePlan('# P\n## B\n- [ ] Review the code\n', { planId: 'p' });
    expect(restyled.tasks[0]!.id).toBe(base.tasks[0]!.id);
    expect(moved.tasks[0]!.id).not.toBe(base.tasks[0]!.id);
    expect(moved.tasks[0]!.contentHash).not.toBe(base.tasks[0]!.contentHash);
  });

  it('gives every id of another plan another value', () => {
    const other = parsePlan(fixture('repeats'), { planId: 'fixtures/other.md' });
    const ids = new Set(doc.tasks.map((t) => t.id));
    expect(other.tasks.some((t) => ids.has(t.id))).toBe(false);
  });
});

describe('parsePlan: text damaged by a double encoding', () => {
  /** What the damage does: UTF-8 bytes read back as Windows-1252. */
  const damage = (s: string): string => new TextDecoder('windows-1252').decode(Buffer.from(s, 'utf8'));

  it('repairs tasks and headings when the repair is unambiguous, and says which lines', () => {
    const text = `# ${damage('Phase 1 : Définir')}\n- [x] ${damage('Créer le modèle « à jour » – fin')}\n- [ ] Intact déjà\n`;
    const doc = parsePlan(text, { planId: 'p' });
    expect(doc.headings[0]!.title).toBe('Phase 1 : Définir');
    expect(doc.tasks.map((t) => t.text)).toEqual(['Créer le modèle « à jour » – fin', 'Intact déjà']);
    expect(doc.mojibake).toEqual({ repairedLines: [1, 2], ambiguousLines: [] });
  });

  it('keeps a line as is when part of it only half looks damaged', () => {
    const line = `${damage('Définir')} puis â€ seul`;
    const doc = parsePlan(`- [ ] ${line}\n`, { planId: 'p' });
    expect(doc.tasks[0]!.text).toBe(line);
    expect(doc.mojibake).toEqual({ repairedLines: [], ambiguousLines: [1] });
  });

  it('repairs the symbols of symbol tasks too', () => {
    const doc = parsePlan(`- ${damage('✅ Livré')}\n`, { planId: 'p' });
    expect(doc.tasks.map((t) => [t.status, t.marker, t.text])).toEqual([['done', 'symbol', 'Livré']]);
  });
});
