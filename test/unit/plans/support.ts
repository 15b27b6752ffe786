import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { PlanDocument } from '#shared/plans/parser.ts';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export const FIXTURE_NAMES = [
  'nested',
  'symbols',
  'steps',
  'progress',
  'structure',
  'fences',
  'repeats',
] as const;

/** One of the plans authored for these tests, as LF text. */
export function fixture(name: (typeof FIXTURE_NAMES)[number]): string {
  return readFileSync(`${FIXTURES}${name}.md`, 'utf8');
}

/** The decoded lines of a plan, numbered from 1 like task lines. */
export function linesOf(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * Structural invariants every document must satisfy, whatever the input: lines in range and not
 * blank (when the decoded `lines` are given), parents before children with consistent depth, heading links in range, unique ids,
 * counts that add up, and plain JSON data.
 */
export function expectWellFormed(doc: PlanDocument, lines?: readonly string[]): void {
  if (lines !== undefined) expect(doc.lineCount).toBe(lines.length);
  const ids = new Set<string>();
  for (const [i, task] of doc.tasks.entries()) {
    expect(task.index).toBe(i);
    expect(task.line).toBeGreaterThanOrEqual(1);
    expect(task.line).toBeLessThanOrEqual(doc.lineCount);
    if (lines !== undefined) expect(lines[task.line - 1]!.trim()).not.toBe('');
    if (task.parentIndex === null) {
      expect(task.depth).toBe(0);
      expect(task.parentId).toBeNull();
    } else {
      const parent = doc.tasks[task.parentIndex]!;
      expect(task.parentIndex).toBeLessThan(i);
      expect(task.parentId).toBe(parent.id);
      expect(task.depth).toBe(parent.depth + 1);
      expect(parent.line).toBeLessThan(task.line);
    }
    if (task.headingIndex !== null) {
      expect(task.headingIndex).toBeLessThan(doc.headings.length);
      expect(task.headingPath).toEqual(doc.headings[task.headingIndex]!.path);
    } else {
      expect(task.headingPath).toEqual([]);
    }
    expect(task.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(task.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(ids.has(task.id)).toBe(false);
    ids.add(task.id);
  }
  for (const [i, heading] of doc.headings.entries()) {
    expect(heading.index).toBe(i);
    expect(heading.line).toBeGreaterThanOrEqual(1);
    expect(heading.line).toBeLessThanOrEqual(doc.lineCount);
    if (heading.parentIndex !== null) expect(heading.parentIndex).toBeLessThan(i);
    const p = heading.progress;
    expect(p.done + p.todo + p.inProgress + p.blocked).toBe(p.total);
  }
  const p = doc.progress;
  expect(p.total).toBe(doc.tasks.length);
  expect(p.done + p.todo + p.inProgress + p.blocked).toBe(p.total);
  for (const d of doc.declaredProgress) {
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.line).toBeLessThanOrEqual(doc.lineCount);
  }
  expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
}
