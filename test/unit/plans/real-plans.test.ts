import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type PlanDocument, parsePlan } from '#shared/plans/parser.ts';
import { expectWellFormed, linesOf } from './support.ts';

/**
 * The real development plans of the legacy project, read in place (never copied). Task counts
 * were checked independently of the parser: checkbox list items counted with grep
 * (`^\s*([-*+]|\d+[.)]) \[[ xX]\]`, no plan has one inside a code block), plus lines starting
 * with a status symbol (`- ✅ …` in v42, `☐ …` in v68).
 */
const DIR = new URL('../../../../shared/fixtures/email-sender-1/', import.meta.url);
const PLANS = new URL('plans/', DIR);
const LEGACY = new URL('legacy-python-parse.plan-dev-v12.section1.json', DIR);
const present = existsSync(PLANS);

const EXPECTED_TASKS: Record<string, number> = {
  'plan-dev-v12-architecture-cognitive.md': 173,
  'plan-dev-v37-error-resolution-pipeline.md': 495,
  'plan-dev-v42-error-manager.md': 309,
  'plan-dev-v68-immutables-manager.md': 197,
};

interface LegacyTask {
  task_id: string;
  description: string;
  status: string;
  parent_id: string;
  section: string;
  file_path: string;
}

const LEGACY_STATUS: Record<string, string> = {
  completed: 'done',
  pending: 'todo',
  in_progress: 'in_progress',
};

/**
 * A task line's status read by patterns independent of the parser: its checkbox, else the status
 * symbol it starts or ends with (the only symbols these plans use), else todo (a bare step).
 */
function lineStatus(line: string): string {
  const box = /^\s*(?:[-*+]|\d+[.)]) \[([ xX])\]/.exec(line);
  if (box) return box[1] === ' ' ? 'todo' : 'done';
  const symbol = /^\s*(?:[-*+] )?([✅☐])|([✅☐])\uFE0F?\s*$/u.exec(line);
  return (symbol?.[1] ?? symbol?.[2]) === '✅' ? 'done' : 'todo';
}

function parseReal(name: string): { doc: PlanDocument; bytes: Buffer } {
  const bytes = readFileSync(new URL(name, PLANS));
  return { doc: parsePlan(bytes, { planId: `projet/roadmaps/plans/consolidated/${name}` }), bytes };
}

describe.skipIf(!present)('real plans (skipped: ../shared/fixtures/email-sender-1 is not present)', () => {
  const names = present ? readdirSync(PLANS).filter((n) => n.endsWith('.md')) : [];

  it('are the plans whose counts were checked', () => {
    expect(names.sort()).toEqual(Object.keys(EXPECTED_TASKS).sort());
  });

  it.each(names)('%s: parses without throwing into the expected number of tasks', (name) => {
    const { doc, bytes } = parseReal(name);
    console.info(`${name}: ${doc.tasks.length} tasks, ${doc.headings.length} headings, ${doc.lineEnding}`);
    expect(doc.tasks).toHaveLength(EXPECTED_TASKS[name]!);
    const lines = linesOf(bytes.toString('utf8'));
    expectWellFormed(doc, lines);
    // Every task line holds a checkbox or starts with a status symbol.
    for (const task of doc.tasks) expect(lines[task.line - 1]).toMatch(/\[[ xX]\]|^\s*(?:[-*+] )?[✅☐]/u);
    // So progress counts what the lines say.
    expect(doc.tasks.map((t) => t.status)).toEqual(doc.tasks.map((t) => lineStatus(lines[t.line - 1]!)));
    // Some real plans repeat nothing, so every id is unique and every occurrence is the first.
    expect(new Set(doc.tasks.map((t) => t.id)).size).toBe(doc.tasks.length);
  });

  it('finds the tasks after code blocks closed with an info string (CRLF plan)', () => {
    const name = 'plan-dev-v37-error-resolution-pipeline.md';
    const { doc, bytes } = parseReal(name);
    const lines = linesOf(bytes.toString('utf8'));
    const lastFence = lines.findLastIndex((l) => l.startsWith('```')) + 1;
    expect(doc.lineEnding).toBe('mixed');
    expect(doc.tasks.filter((t) => t.line > lastFence).length).toBeGreaterThan(0);
    // Same plan with LF endings only: same document but for the line ending.
    const lf = parsePlan(bytes.toString('utf8').replaceAll('\r\n', '\n'), { planId: doc.planId });
    expect({ ...lf, lineEnding: doc.lineEnding }).toEqual(doc);
  });

  it('reads the front matter of the plan that has one', () => {
    const { doc } = parseReal('plan-dev-v68-immutables-manager.md');
    expect(doc.frontMatter).not.toBeNull();
    expect(doc.title).toBe(doc.frontMatter!.title);
    expect(Object.values(doc.frontMatter!).some(Array.isArray)).toBe(true);
    expect(doc.headings[0]!.line).toBeGreaterThan(Object.keys(doc.frontMatter!).length);
  });

  it('reports declared progress next to computed progress', () => {
    for (const name of names) {
      const { doc } = parseReal(name);
      for (const h of doc.headings) {
        if (h.progress.declared !== null && h.progress.computed !== null) {
          expect(h.progress.drift).toBe(h.progress.computed - h.progress.declared);
        }
      }
    }
    const v37 = parseReal('plan-dev-v37-error-resolution-pipeline.md').doc;
    expect(v37.progress.declared).not.toBeNull();
    expect(v37.headings.filter((h) => h.progress.declared !== null).length).toBeGreaterThan(20);
  });

  describe.skipIf(!existsSync(LEGACY))(
    'legacy parser output (skipped: legacy section file not present)',
    () => {
      const legacy: LegacyTask[] = existsSync(LEGACY) ? JSON.parse(readFileSync(LEGACY, 'utf8')) : [];

      it('finds every legacy task with the same explicit id, status, text, section and parent', () => {
        expect(legacy.length).toBeGreaterThan(0);
        const { doc } = parseReal(legacy[0]!.file_path);
        const byExplicitId = new Map(doc.tasks.map((t) => [t.explicitId, t]));
        for (const record of legacy) {
          const task = byExplicitId.get(record.task_id);
          expect(task, record.task_id).toBeDefined();
          expect(task!.status).toBe(LEGACY_STATUS[record.status]);
          expect(task!.text).toBe(record.description.replace(/\s+/g, ' ').trim());
          expect(task!.headingPath.at(-1)).toBe(record.section);
          // The legacy parent is the id prefix: the parent task's id, or the section number at the top.
          const parent = task!.parentIndex === null ? null : doc.tasks[task!.parentIndex]!;
          const heading = doc.headings[task!.headingIndex!]!;
          expect(parent?.explicitId ?? heading.number).toBe(record.parent_id);
        }
      });

      it('finds no task in that section that the legacy parser missed', () => {
        const { doc } = parseReal(legacy[0]!.file_path);
        const section = doc.tasks.filter((t) => t.headingPath.at(-1) === legacy[0]!.section);
        expect(section.map((t) => t.explicitId)).toEqual(legacy.map((r) => r.task_id));
      });
    },
  );
});
