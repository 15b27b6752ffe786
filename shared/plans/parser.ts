import { ValidationError } from '#shared/errors.ts';
import { parseFrontMatter } from './front-matter.ts';
import { chainPath, contentHash, Occurrences, PlanNames, ROOT_PATH, rawPathField } from './ids.ts';
import {
  collapseSpace,
  DOTTED_NUMBER,
  isThematicBreak,
  normalizeForId,
  readCheckbox,
  readDeclaredProgress,
  readEstimate,
  readExplicitId,
  readListMarker,
  readPriority,
  readStep,
  readSymbol,
  readTags,
  readTrailingSymbol,
  skipSpace,
} from './inline.ts';
import { nextDamage, repairMojibake } from './mojibake.ts';
import type {
  DeclaredProgress,
  FrontMatterMap,
  HeadingProgress,
  PlanDocument,
  PlanHeading,
  PlanTask,
  PlanTocEntry,
  TaskMarker,
  TaskStatus,
} from './types.ts';

export type * from './types.ts';

/**
 * Markdown development plan → plan document (see `types.ts`).
 *
 * One pass over the lines (plus one over the fence lines to pair them), each line looked at a
 * bounded number of times with anchored patterns: time is linear in the input. What is read:
 * - YAML front matter (`---` first line, a `key:` after it, closed by `---` or `...`);
 * - ATX headings (`#` to any depth: plans go past CommonMark's 6), with an optional checkbox or
 *   status symbol and a leading number (`1.2`, `Phase 3`); setext headings are not recognised;
 * - tasks: list items (`-`, `*`, `+`, `1.`, `1)`) with a checkbox, or with a status symbol instead,
 *   or naming an `Étape`/`Micro-étape` (with its status as a symbol at its start or end, else
 *   todo); and lines that start with a status symbol (`☐ Build…`);
 *   nested by the column of their marker (tabs to multiples of 4); blockquote markers are skipped;
 * - "Progression: N%" lines, attached to the current heading;
 * - bracketed numbered TOC lines (`- [2] Phase 2: …`) as navigation.
 * Nothing inside a fenced code block, an HTML comment block or a table row is a task. A fence
 * closes as CommonMark says; but when that leaves a fence open to the end of the plan, fences from
 * that one on close on any fence line of their kind, because some real plans close their blocks
 * with "```plaintext" and would otherwise lose every task after the first block. Indented code
 * blocks are not recognised (plans indent nested lists by four spaces and more).
 * Text damaged by a double encoding is repaired line by line first (`mojibake.ts`); ids and
 * content hashes are described in `ids.ts`; the document's fields in `types.ts`.
 * Only a missing plan id (or an input of another type) throws: any text or bytes parse.
 */

export interface ParseOptions {
  /** The plan's identity (e.g. its path in the repository): every id derives from it. */
  planId: string;
}

const EMPTY_PATH: readonly string[] = Object.freeze([]);
/** Every heading's progress until `document` computes it: never seen outside the parser. */
const PENDING_PROGRESS: HeadingProgress = Object.freeze(progressOf(zeroCounts(), null));
/** Shared by the (many) tasks without tags, to spare an allocation each. */
const NO_TAGS: readonly string[] = Object.freeze([]);
const FENCE = /^[ \t]*(`{3,}|~{3,})(.*)$/s;
const TOC = new RegExp(String.raw`^\[(${DOTTED_NUMBER})\][ \t]+(.*)$`, 's');
const HEADING_NUMBER = new RegExp(
  String.raw`^(?:(?:phase|section|partie|part|step|[ée]tape)[ \t]+)?(${DOTTED_NUMBER})\.?(?=$|[\s:)\-–—])`,
  'iu',
);
const YAML_KEY_LINE = /^(?:#|[A-Za-z_"'][\w "'-]*:(?:[ \t]|$))/;

export function parsePlan(input: Uint8Array | string, options: ParseOptions): PlanDocument {
  const planId = options?.planId;
  if (typeof planId !== 'string' || planId.trim() === '') {
    throw ValidationError.field('planId', 'must be a non-empty string');
  }
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw ValidationError.field('input', 'must be a string or a Uint8Array');
  }
  const { text, encoding } = decode(input);
  const { lines, lineEnding } = splitLines(text);
  return new PlanParser(planId, lines).parse(encoding, lineEnding);
}

function decode(input: Uint8Array | string): Pick<PlanDocument, 'encoding'> & { text: string } {
  if (typeof input === 'string') {
    return { text: input.charCodeAt(0) === 0xfeff ? input.slice(1) : input, encoding: 'utf-8' };
  }
  if (input[0] === 0xff && input[1] === 0xfe) {
    return { text: new TextDecoder('utf-16le').decode(input), encoding: 'utf-16le' };
  }
  if (input[0] === 0xfe && input[1] === 0xff) {
    return { text: new TextDecoder('utf-16be').decode(input), encoding: 'utf-16be' };
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(input), encoding: 'utf-8' };
  } catch {
    // Not valid UTF-8: a few bad bytes in UTF-8 text, or a file in the Windows code page.
    const lossy = new TextDecoder('utf-8').decode(input);
    let bad = 0;
    let good = 0;
    for (let i = 0; i < lossy.length; i++) {
      const c = lossy.charCodeAt(i);
      if (c === 0xfffd) bad++;
      else if (c >= 0x80) good++;
    }
    if (good > bad) return { text: lossy, encoding: 'utf-8' };
    return { text: new TextDecoder('windows-1252').decode(input), encoding: 'windows-1252' };
  }
}

/**
 * The lines of a text as offsets: a plan of 10 MB has some 200,000 lines, and holding each as a
 * string for the whole parse makes every young-generation GC copy them all. A line is sliced when
 * it is looked at, and then dies young unless a task keeps part of it.
 */
class Lines {
  readonly text: string;
  readonly count: number;
  readonly starts: Int32Array;
  readonly ends: Int32Array;

  constructor(text: string, starts: Int32Array, ends: Int32Array, count: number) {
    this.text = text;
    this.starts = starts;
    this.ends = ends;
    this.count = count;
  }

  at(i: number): string {
    return this.text.slice(this.starts[i], this.ends[i]);
  }

  /** Code of the first character of line `i`, or -1 for an empty line. */
  firstCode(i: number): number {
    return this.starts[i]! < this.ends[i]! ? this.text.charCodeAt(this.starts[i]!) : -1;
  }

  /** First character of line `i` after its spaces and tabs ('' for a blank line). */
  firstChar(i: number): string {
    const end = this.ends[i]!;
    let p = this.starts[i]!;
    while (p < end && (this.text[p] === ' ' || this.text[p] === '\t')) p++;
    return p < end ? this.text[p]! : '';
  }
}

function splitLines(text: string): { lines: Lines; lineEnding: PlanDocument['lineEnding'] } {
  let crlf = 0;
  let cr = 0;
  for (let i = text.indexOf('\r'); i >= 0; i = text.indexOf('\r', i + 1)) {
    if (text.charCodeAt(i + 1) === 10) crlf++;
    else cr++;
  }
  let newlines = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) newlines++;
  const lf = newlines - crlf;
  const starts = new Int32Array(newlines + cr + 1);
  const ends = new Int32Array(newlines + cr + 1);
  let n = 0;
  let start = 0;
  if (crlf + cr === 0) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
      starts[n] = start;
      ends[n++] = i;
      start = i + 1;
    }
  } else {
    // Lone CRs (old Mac endings, or stray ones) end lines too.
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      starts[n] = start;
      ends[n++] = i;
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
  }
  if (start < text.length) {
    starts[n] = start;
    ends[n++] = text.length;
  }
  const kinds = (lf > 0 ? 1 : 0) + (crlf > 0 ? 1 : 0) + (cr > 0 ? 1 : 0);
  const lineEnding = kinds > 1 ? 'mixed' : crlf > 0 ? 'crlf' : lf > 0 ? 'lf' : cr > 0 ? 'cr' : 'none';
  return { lines: new Lines(text, starts, ends, n), lineEnding };
}

interface FenceLine {
  line: number;
  char: string;
  length: number;
  hasInfo: boolean;
}

/** Marks every line that is a fence or inside one (see `parsePlan` on lenient closing). */
function markCode(lines: Lines, from: number): Uint8Array {
  const code = new Uint8Array(lines.count);
  const fences: FenceLine[] = [];
  for (let i = from; i < lines.count; i++) {
    const first = lines.firstChar(i);
    if (first !== '`' && first !== '~') continue;
    const m = FENCE.exec(lines.at(i));
    if (m === null) continue;
    const info = m[2]!.trim();
    // A backtick "fence" whose info string holds a backtick is inline code (CommonMark).
    if (m[1]![0] === '`' && info.includes('`')) continue;
    fences.push({ line: i, char: m[1]![0]!, length: m[1]!.length, hasInfo: info !== '' });
  }
  const pair = (first: number, lenient: boolean): number => {
    let open: FenceLine | null = null;
    let openAt = -1;
    for (let k = first; k < fences.length; k++) {
      const f = fences[k]!;
      if (open === null) {
        open = f;
        openAt = k;
      } else if (f.char === open.char && f.length >= open.length && (lenient || !f.hasInfo)) {
        code.fill(1, open.line, f.line + 1);
        open = null;
      }
    }
    return open === null ? -1 : openAt;
  };
  const unclosed = pair(0, false);
  if (unclosed >= 0) {
    const stillUnclosed = pair(unclosed, true);
    if (stillUnclosed >= 0) code.fill(1, fences[stillUnclosed]!.line);
  }
  return code;
}

/** What every task under one heading shares, computed once per heading. */
interface HeadingScope {
  path: readonly string[];
  /** Digest of the normalized titles (ids) and of the titles as written (content hashes). */
  normalizedPath: string;
  rawPath: string;
  /** `rawPath` as it enters content hashes. */
  rawPathField: Uint8Array | null;
  /** Start of the id name of its tasks without an explicit id. */
  idPrefix: Uint8Array | null;
  /** Occurrences of normalized texts under this heading path (shared by headings with equal paths). */
  seen: PathOccurrences;
}

interface PathOccurrences {
  headings: number;
  /** Created with the first task without an explicit id: most headings have none, or none such. */
  texts: Map<string, number> | null;
}

interface Counts {
  total: number;
  done: number;
  inProgress: number;
  blocked: number;
  todo: number;
}

class PlanParser {
  private readonly planId: string;
  private readonly names: PlanNames;
  private readonly lines: Lines;
  private readonly headings: PlanHeading[] = [];
  private readonly scopes: HeadingScope[] = [];
  private readonly rootScope: HeadingScope;
  private readonly tasks: PlanTask[] = [];
  private readonly declared: DeclaredProgress[] = [];
  private readonly toc: PlanTocEntry[] = [];
  private readonly repaired: number[] = [];
  private readonly ambiguous: number[] = [];
  /** Occurrences so far of each explicit id. */
  private readonly explicitIds: Occurrences;
  /** Occurrences so far of each heading path (by its normalized digest), with the texts counted under it. */
  private readonly headingPaths = new Map<string, PathOccurrences>();
  private readonly headingStack: number[] = [];
  /** Open list items, innermost last: the column of each one's marker… */
  private readonly itemIndents: number[] = [];
  /** …and the index of the nearest task at or above it, or -1. */
  private readonly itemTasks: number[] = [];
  private heading: number | null = null;

  constructor(planId: string, lines: Lines) {
    this.planId = planId;
    this.names = new PlanNames(planId);
    this.lines = lines;
    // A plan has at most a task a line, and most plans' tasks have explicit ids.
    this.explicitIds = new Occurrences(lines.count / 2);
    this.rootScope = this.scope(EMPTY_PATH, ROOT_PATH, ROOT_PATH).scope;
  }

  /**
   * The scope of a heading path, and how many headings had that path so far (this one included).
   * Headings with equal paths share their text counts, so their tasks cannot share an id.
   */
  private scope(
    path: readonly string[],
    normalizedPath: string,
    rawPath: string,
  ): { scope: HeadingScope; occurrence: number } {
    let seen = this.headingPaths.get(normalizedPath);
    if (seen === undefined) {
      seen = { headings: 0, texts: null };
      this.headingPaths.set(normalizedPath, seen);
    }
    seen.headings++;
    return {
      scope: {
        path,
        normalizedPath,
        rawPath,
        // Both made when a task first needs them: many headings have no task of their own.
        rawPathField: null,
        idPrefix: null,
        seen,
      },
      occurrence: seen.headings,
    };
  }

  parse(encoding: PlanDocument['encoding'], lineEnding: PlanDocument['lineEnding']): PlanDocument {
    const { frontMatter, bodyStart } = this.frontMatter();
    const code = markCode(this.lines, bodyStart);
    let inComment = false;
    let damage = -1;
    for (let i = bodyStart; i < this.lines.count; i++) {
      if (code[i] === 1) {
        // An unindented fence ends the list it follows; what is inside is never looked at.
        if (i === 0 || code[i - 1] === 0) {
          const first = this.lines.firstCode(i);
          if (first === 0x60 || first === 0x7e) this.closeLists();
        }
        continue;
      }
      const raw = this.lines.at(i);
      if (inComment) {
        if (raw.includes('-->')) inComment = false;
        continue;
      }
      const p = skipSpace(raw, 0);
      if (p === raw.length) continue;
      if (raw.startsWith('<!--', p)) {
        inComment = !raw.includes('-->', p + 4);
        continue;
      }
      // Lines are looked at for damage only where one scan of the whole text found a sign of it.
      if (damage < this.lines.starts[i]!) damage = nextDamage(this.lines.text, this.lines.starts[i]!);
      const repair = damage < this.lines.ends[i]! ? repairMojibake(raw) : null;
      if (repair !== null) (repair.outcome === 'repaired' ? this.repaired : this.ambiguous).push(i + 1);
      this.line(repair?.text ?? raw, i + 1);
    }
    return this.document(frontMatter, encoding, lineEnding);
  }

  private frontMatter(): { frontMatter: FrontMatterMap | null; bodyStart: number } {
    const none = { frontMatter: null, bodyStart: 0 };
    const { lines } = this;
    if (lines.count < 2 || lines.at(0).trimEnd() !== '---' || !YAML_KEY_LINE.test(lines.at(1))) return none;
    for (let j = 1; j < lines.count; j++) {
      const t = lines.at(j).trimEnd();
      if (t === '---' || t === '...') {
        const yaml = Array.from({ length: j - 1 }, (_, k) => lines.at(k + 1));
        return { frontMatter: parseFrontMatter(yaml) ?? {}, bodyStart: j + 1 };
      }
    }
    return none;
  }

  /** One line outside code and comments, already repaired; `n` is its 1-based number. */
  private line(raw: string, n: number): void {
    let s = raw;
    let p = skipSpace(s, 0);
    const quoted = s[p] === '>';
    if (quoted) {
      // Blockquote markers are skipped; indentation then counts from inside the quote.
      while (s[p] === '>') p = skipSpace(s, p + 1);
      // The space after the last `>` belongs to the marker (CommonMark).
      const after = s.lastIndexOf('>', p) + 1;
      s = s.slice(s[after] === ' ' ? after + 1 : after);
      p = skipSpace(s, 0);
    }
    if (p === s.length) return;
    const col = column(s, p);
    if (!quoted && col <= 3 && s[p] === '#' && this.tryHeading(s, p, n)) return;
    const c = s[p];
    if (isThematicBreak(s, p)) {
      this.closeLists();
      return;
    }
    if (c === '|') {
      this.closeListsFrom(col);
      return;
    }
    const itemStart = readListMarker(s, p);
    if (itemStart >= 0) {
      this.listItem(s, itemStart, col, n);
      return;
    }
    this.closeListsFrom(col);
    const symbol = readSymbol(s, p);
    if (symbol !== null) {
      const task = this.addTask(n, col, symbol.status, 'symbol', s.slice(symbol.rest), this.itemTask());
      this.itemIndents.push(col);
      this.itemTasks.push(task);
      return;
    }
    this.progress(s.slice(p), n);
  }

  /** Pops the list items that a line at column `col` closes. */
  private closeListsFrom(col: number): void {
    const { itemIndents, itemTasks } = this;
    while (itemIndents.length > 0 && itemIndents[itemIndents.length - 1]! >= col) {
      itemIndents.pop();
      itemTasks.pop();
    }
  }

  private closeLists(): void {
    this.itemIndents.length = 0;
    this.itemTasks.length = 0;
  }

  /** The task that a new item would belong to: the innermost open item's, or -1. */
  private itemTask(): number {
    const { itemTasks } = this;
    return itemTasks.length === 0 ? -1 : itemTasks[itemTasks.length - 1]!;
  }

  private listItem(s: string, start: number, col: number, n: number): void {
    this.closeListsFrom(col);
    const parent = this.itemTask();
    let task = -1;
    const checkbox = readCheckbox(s, start);
    if (checkbox !== null) {
      // A symbol after a checkbox refines an unticked box (`[ ] 🚧 …`) and is dropped from the text.
      const symbol = readSymbol(s, checkbox.rest);
      const refines = symbol !== null && checkbox.status === 'todo' && symbol.status !== 'done';
      const status = refines ? symbol.status : checkbox.status;
      task = this.addTask(n, col, status, 'checkbox', s.slice((symbol ?? checkbox).rest), parent);
    } else {
      const symbol = readSymbol(s, start);
      const rest = s.slice(start);
      const toc = symbol === null ? TOC.exec(rest) : null;
      if (symbol !== null) {
        task = this.addTask(n, col, symbol.status, 'symbol', s.slice(symbol.rest), parent);
      } else if (toc !== null) {
        this.toc.push({ number: toc[1]!, text: collapseSpace(toc[2]!), line: n });
      } else if (readStep(rest) !== null) {
        // A step's status is the symbol it ends with, if any; it is dropped from the text, so that
        // marking a step done keeps its id.
        const mark = readTrailingSymbol(rest);
        const text = mark === null ? rest : rest.slice(0, mark.rest);
        task = this.addTask(n, col, mark?.status ?? 'todo', 'step', text, parent);
      } else {
        this.progress(rest, n);
      }
    }
    this.itemIndents.push(col);
    this.itemTasks.push(task >= 0 ? task : parent);
  }

  /** An ATX heading at `p`, if the line is one. */
  private tryHeading(s: string, p: number, n: number): boolean {
    let h = p;
    while (s[h] === '#') h++;
    if (h < s.length && s[h] !== ' ' && s[h] !== '\t') return false;
    const level = h - p;
    let title = s.slice(h).trim();
    // Closing sequence: `## Title ##`.
    let e = title.length;
    while (e > 0 && title[e - 1] === '#') e--;
    if (e === 0) title = '';
    else if (e < title.length && (title[e - 1] === ' ' || title[e - 1] === '\t')) title = title.slice(0, e);
    let status: TaskStatus | null = null;
    const mark = readCheckbox(title, 0) ?? readSymbol(title, 0);
    if (mark !== null) {
      status = mark.status;
      title = title.slice(mark.rest);
    }
    title = collapseSpace(title);

    while (this.headingStack.length > 0 && this.headings[this.headingStack.at(-1)!]!.level >= level) {
      this.headingStack.pop();
    }
    const parentIndex = this.headingStack.at(-1) ?? null;
    const parent = parentIndex === null ? this.rootScope : this.scopes[parentIndex]!;
    const { scope, occurrence } = this.scope(
      [...parent.path, title],
      chainPath(parent.normalizedPath, normalizeForId(title)),
      chainPath(parent.rawPath, title),
    );
    const index = this.headings.length;
    this.headings.push({
      id: this.names.headingId(scope.normalizedPath, occurrence),
      index,
      level,
      title,
      number: HEADING_NUMBER.exec(title)?.[1] ?? null,
      status,
      line: n,
      parentIndex,
      path: scope.path,
      // Replaced once every task is known.
      progress: PENDING_PROGRESS,
    });
    this.scopes.push(scope);
    this.headingStack.push(index);
    this.heading = index;
    this.closeLists();
    this.progress(title, n);
    return true;
  }

  private progress(text: string, n: number): void {
    const value = readDeclaredProgress(text);
    if (value !== null) this.declared.push({ value, line: n, headingIndex: this.heading });
  }

  private addTask(
    line: number,
    indent: number,
    status: TaskStatus,
    marker: TaskMarker,
    rawText: string,
    parentIndex: number,
  ): number {
    const explicit = readExplicitId(rawText);
    const text = collapseSpace(explicit === null ? rawText : explicit.text);
    const explicitId = explicit?.id ?? null;
    const headingIndex = this.heading;
    const scope = headingIndex === null ? this.rootScope : this.scopes[headingIndex]!;
    let id: string;
    let occurrence: number;
    if (explicitId !== null) {
      occurrence = this.explicitIds.add(explicitId);
      id = this.names.explicitTaskId(explicitId, occurrence);
    } else {
      const normalized = normalizeForId(text);
      scope.seen.texts ??= new Map();
      occurrence = (scope.seen.texts.get(normalized) ?? 0) + 1;
      scope.seen.texts.set(normalized, occurrence);
      scope.idPrefix ??= this.names.implicitPrefix(scope.normalizedPath);
      id = this.names.implicitTaskId(scope.idPrefix, normalized, occurrence);
    }
    const parent = parentIndex >= 0 ? this.tasks[parentIndex]! : null;
    const parentId = parent?.id ?? null;
    const index = this.tasks.length;
    scope.rawPathField ??= rawPathField(scope.rawPath);
    this.tasks.push({
      id,
      contentHash: contentHash(text, status, explicitId, scope.rawPathField, parentId),
      index,
      line,
      explicitId,
      occurrence,
      text,
      status,
      marker,
      parentId,
      parentIndex: parent?.index ?? null,
      headingIndex,
      headingPath: scope.path,
      depth: parent === null ? 0 : parent.depth + 1,
      indent,
      step: readStep(text),
      priority: readPriority(text),
      estimate: readEstimate(text),
      tags: readTags(text) ?? NO_TAGS,
    });
    return index;
  }

  private document(
    frontMatter: FrontMatterMap | null,
    encoding: PlanDocument['encoding'],
    lineEnding: PlanDocument['lineEnding'],
  ): PlanDocument {
    const { headings, tasks, declared } = this;
    const counts = headings.map(zeroCounts);
    const all = zeroCounts();
    for (const task of tasks) {
      count(all, task.status);
      if (task.headingIndex !== null) count(counts[task.headingIndex]!, task.status);
    }
    // Parents come before their children: a reverse sweep adds each subtree into its parent.
    for (let h = headings.length - 1; h >= 0; h--) {
      const parent = headings[h]!.parentIndex;
      if (parent !== null) addCounts(counts[parent]!, counts[h]!);
    }
    const firstDeclared = new Map<number | null, number>();
    for (const d of declared)
      if (!firstDeclared.has(d.headingIndex)) firstDeclared.set(d.headingIndex, d.value);
    for (const heading of headings) {
      heading.progress = progressOf(counts[heading.index]!, firstDeclared.get(heading.index) ?? null);
    }
    // The plan's own claim: before any heading, or under a leading level-1 title.
    const titleHeading = headings[0]?.level === 1 ? 0 : null;
    const planDeclared =
      firstDeclared.get(null) ?? (titleHeading === null ? null : (firstDeclared.get(titleHeading) ?? null));
    const fmTitle = frontMatter?.title;
    const title =
      (typeof fmTitle === 'string' && fmTitle.trim() !== '' ? fmTitle.trim() : null) ??
      headings.find((h) => h.level === 1 && h.title !== '')?.title ??
      headings.find((h) => h.title !== '')?.title ??
      null;
    return {
      planId: this.planId,
      title,
      frontMatter,
      encoding,
      lineEnding,
      lineCount: this.lines.count,
      declaredProgress: declared,
      progress: progressOf(all, planDeclared),
      headings,
      tasks,
      toc: this.toc,
      mojibake: { repairedLines: this.repaired, ambiguousLines: this.ambiguous },
    };
  }
}

/** Column of offset `p` in `s`, tabs advancing to the next multiple of 4. */
function column(s: string, p: number): number {
  let col = 0;
  for (let i = 0; i < p; i++) col = s[i] === '\t' ? col + 4 - (col % 4) : col + 1;
  return col;
}

function zeroCounts(): Counts {
  return { total: 0, done: 0, inProgress: 0, blocked: 0, todo: 0 };
}

function count(c: Counts, status: TaskStatus): void {
  c.total++;
  if (status === 'done') c.done++;
  else if (status === 'in_progress') c.inProgress++;
  else if (status === 'blocked') c.blocked++;
  else c.todo++;
}

function addCounts(into: Counts, from: Counts): void {
  into.total += from.total;
  into.done += from.done;
  into.inProgress += from.inProgress;
  into.blocked += from.blocked;
  into.todo += from.todo;
}

function progressOf(c: Counts, declared: number | null): HeadingProgress {
  const computed = c.total === 0 ? null : Math.round((100 * c.done) / c.total);
  const drift = computed === null || declared === null ? null : Math.round((computed - declared) * 100) / 100;
  return { ...c, computed, declared, drift };
}
