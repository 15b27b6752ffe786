import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePlan } from '#shared/plans/parser.ts';
import { expectWellFormed, FIXTURE_NAMES, fixture, linesOf } from './support.ts';

/** Line fragments that exercise every branch of the parser, mixed with arbitrary text. */
const FRAGMENTS = [
  '- [ ] plain task',
  '- [x] **1.2** bold id',
  '  - [X] 1.2.1. trailing dot',
  '\t- [ ] tab nested',
  '\t\t* [~] doing P1 (2h) #tag',
  '1. [!] blocked',
  '+ [x] plus',
  '- ✅ symbol done',
  '- ☑️ symbol with selector',
  '☐ bare symbol',
  '- Étape 2 : step',
  '    - [ ] Micro-étape 2.1 : micro',
  '  - Micro-étape 2.2 : micro done ✅️',
  '# Title',
  '## 1.2 Section',
  '## [x] 3. Checked heading',
  '####### Deep',
  '```',
  '```plaintext',
  '~~~',
  '    ```go',
  '---',
  '...',
  'title: x',
  '| a | ✅ |',
  '> - [ ] quoted',
  '>>> ',
  '<!--',
  '-->',
  '*Progression : 40%*',
  '**Progression**: 100% ✅',
  '- [1] Phase 1: toc',
  '- [x] DÃ©finir',
  'â€ ',
  '- [ ] **1.2 bold run',
  '#',
  '- [ ]',
  '- [x] same text',
  '',
  '   ',
];

const line = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FRAGMENTS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);
const eol = fc.constantFrom('\n', '\r\n', '\r');
const markdown = fc
  .array(fc.tuple(line, eol), { maxLength: 60 })
  .map((lines) => lines.map(([text, end]) => text + end).join(''));

type Mutation = (lines: string[], n: number, extra: string) => void;
const MUTATIONS: Mutation[] = [
  (lines, n) => lines.splice(n % (lines.length + 1), 1),
  (lines, n, extra) => lines.splice(n % (lines.length + 1), 0, extra),
  (lines, n) => {
    const i = n % Math.max(lines.length, 1);
    if (lines[i] !== undefined) lines.splice(i, 0, lines[i]!);
  },
  (lines, n) => {
    const i = n % Math.max(lines.length, 1);
    if (lines[i] !== undefined) lines[i] = (n % 2 === 0 ? '\t' : '   ') + lines[i];
  },
  (lines, n, extra) => {
    const i = n % Math.max(lines.length, 1);
    const l = lines[i];
    if (l !== undefined) lines[i] = l.slice(0, n % (l.length + 1)) + extra + l.slice(n % (l.length + 1));
  },
  (lines, n) => lines.splice(n % (lines.length + 1)),
];

const mutated = fc
  .tuple(
    fc.constantFrom(...FIXTURE_NAMES),
    fc.array(
      fc.tuple(fc.nat(MUTATIONS.length - 1), fc.nat(), fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string())),
      {
        maxLength: 8,
      },
    ),
  )
  .map(([name, steps]) => {
    const lines = fixture(name).split('\n');
    for (const [m, n, extra] of steps) MUTATIONS[m]!(lines, n, extra);
    return lines.join('\n');
  });

/** Parses `text`, checks the invariants, and checks that a second parse gives the same document. */
function parseChecked(text: string, planId = 'prop/plan.md') {
  const doc = parsePlan(text, { planId });
  expectWellFormed(doc, linesOf(text));
  expect(parsePlan(text, { planId })).toEqual(doc);
  return doc;
}

describe('parsePlan properties', () => {
  it('never throws on arbitrary strings, and what it returns is well formed', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => void parseChecked(text)));
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const doc = parsePlan(bytes, { planId: 'prop/bytes.md' });
        expectWellFormed(doc);
        expect(parsePlan(bytes, { planId: 'prop/bytes.md' })).toEqual(doc);
      }),
    );
  });

  it('never throws on markdown made of plan fragments with any line endings', () => {
    fc.assert(fc.property(markdown, (text) => void parseChecked(text)));
  });

  it('never throws on mutations of the fixture plans', () => {
    fc.assert(fc.property(mutated, (text) => void parseChecked(text)));
  });

  it('gives the same tasks whatever the line endings', () => {
    fc.assert(
      fc.property(markdown, (text) => {
        const lf = parsePlan(text.replace(/\r\n?/g, '\n'), { planId: 'p' });
        const crlf = parsePlan(text.replace(/\r\n?/g, '\n').replaceAll('\n', '\r\n'), { planId: 'p' });
        expect(crlf.tasks).toEqual(lf.tasks);
        expect(crlf.headings).toEqual(lf.headings);
      }),
    );
  });

  it('derives ids from the plan id: deterministic for one, disjoint between two', () => {
    fc.assert(
      fc.property(markdown, fc.string({ minLength: 1 }), (text, planId) => {
        fc.pre(planId.trim() !== '' && planId !== 'other');
        const a = parsePlan(text, { planId });
        const b = parsePlan(text, { planId: 'other' });
        expect(parsePlan(text, { planId }).tasks.map((t) => t.id)).toEqual(a.tasks.map((t) => t.id));
        const ids = new Set(a.tasks.map((t) => t.id));
        expect(b.tasks.some((t) => ids.has(t.id))).toBe(false);
        // The content hash depends on the content only, not on which plan holds it (parent ids aside).
        const roots = (d: typeof a) => d.tasks.filter((t) => t.parentId === null).map((t) => t.contentHash);
        expect(roots(b)).toEqual(roots(a));
      }),
    );
  });
});
