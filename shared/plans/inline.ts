import type { TaskEstimate, TaskPriority, TaskStatus, TaskStep } from './types.ts';

/**
 * What a single line of a plan says inline: checkbox, status symbol, explicit id, step label,
 * priority, estimate, tags, declared progress. Every pattern here is anchored or bounded, so a
 * line costs time linear in its length whatever it holds.
 */

/**
 * Most parts of a dotted number (an explicit id, a step, heading or table-of-contents number).
 * Real roadmaps nest 17 deep (`2.1.2.4.1.2.3.2.2.5.3.2.2.5.2.1.1`); 64 leaves room and bounds an
 * id (at most 639 characters, as parts have 1 to 9 digits). A deeper number is no number: a task
 * keeps it in its text and is identified by its text, a step or heading has no number.
 */
export const MAX_NUMBER_PARTS = 64;

/** A dotted number's pattern; what follows it must be checked by the caller (`(?!\.?\d)` at least). */
export const DOTTED_NUMBER = String.raw`\d{1,9}(?:\.\d{1,9}){0,${MAX_NUMBER_PARTS - 1}}`;

/** Checkbox characters: GFM's space and x/X, plus the common extensions for the two other states. */
const CHECKBOX_STATUS: Readonly<Record<string, TaskStatus>> = {
  ' ': 'todo',
  x: 'done',
  X: 'done',
  '~': 'in_progress',
  '/': 'in_progress',
  '!': 'blocked',
};

/** Status symbols, by code point (a following U+FE0F variation selector is skipped). */
const SYMBOL_STATUS: ReadonlyMap<number, TaskStatus> = new Map<number, TaskStatus>([
  [0x2705, 'done'], // ✅
  [0x2611, 'done'], // ☑
  [0x2714, 'done'], // ✔
  [0x2713, 'done'], // ✓
  [0x2610, 'todo'], // ☐
  [0x2b1c, 'todo'], // ⬜
  [0x1f532, 'todo'], // 🔲
  [0x25fb, 'todo'], // ◻
  [0x1f504, 'in_progress'], // 🔄
  [0x23f3, 'in_progress'], // ⏳
  [0x1f6a7, 'in_progress'], // 🚧
  [0x274c, 'blocked'], // ❌
  [0x26d4, 'blocked'], // ⛔
  [0x1f6ab, 'blocked'], // 🚫
  [0x1f6d1, 'blocked'], // 🛑
]);

const VARIATION_SELECTOR = 0xfe0f;

/** A checkbox or status symbol found in a line. */
export interface StatusMark {
  status: TaskStatus;
  /** Offset of the text after the mark and its spacing (before them, for a trailing mark). */
  rest: number;
}

/** `[ ]`, `[x]`… at `from` in `s`, followed by whitespace or the end of the line. */
export function readCheckbox(s: string, from: number): StatusMark | null {
  if (s[from] !== '[' || s[from + 2] !== ']') return null;
  const status = CHECKBOX_STATUS[s[from + 1]!];
  if (status === undefined) return null;
  const after = from + 3;
  if (after < s.length && s[after] !== ' ' && s[after] !== '\t') return null;
  return { status, rest: skipSpace(s, after) };
}

/** Below the smallest status symbol (U+23F3): most characters, which need no lookup. */
const FIRST_SYMBOL = 0x23f3;

/** A status symbol at `from` in `s`, or null. */
export function readSymbol(s: string, from: number): StatusMark | null {
  if (!(s.charCodeAt(from) >= FIRST_SYMBOL)) return null;
  const cp = s.codePointAt(from)!;
  const status = SYMBOL_STATUS.get(cp);
  if (status === undefined) return null;
  let i = from + (cp > 0xffff ? 2 : 1);
  if (s.charCodeAt(i) === VARIATION_SELECTOR) i++;
  return { status, rest: skipSpace(s, i) };
}

/**
 * A status symbol ending `s` (trailing spaces aside), as steps carry theirs (`Micro-étape 1.2 : … ✅`):
 * its status and `rest`, the end of the text before it (its spacing excluded); or null.
 */
export function readTrailingSymbol(s: string): StatusMark | null {
  let end = s.length;
  while (end > 0 && (s[end - 1] === ' ' || s[end - 1] === '\t')) end--;
  if (s.charCodeAt(end - 1) === VARIATION_SELECTOR) end--;
  const last = s.charCodeAt(end - 1);
  const start = last >= 0xdc00 && last <= 0xdfff ? end - 2 : end - 1;
  if (start < 0 || !(s.charCodeAt(start) >= FIRST_SYMBOL)) return null;
  const cp = s.codePointAt(start)!;
  const status = SYMBOL_STATUS.get(cp);
  // The code point must span exactly to `end` (not a lone surrogate after a symbol).
  if (status === undefined || start + (cp > 0xffff ? 2 : 1) !== end) return null;
  let rest = start;
  while (rest > 0 && (s[rest - 1] === ' ' || s[rest - 1] === '\t')) rest--;
  return { status, rest };
}

export function skipSpace(s: string, from: number): number {
  let i = from;
  while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  return i;
}

/** `- `, `* `, `+ `, `1. `, `1) ` at `from`: the offset of the item's content, or -1. */
export function readListMarker(s: string, from: number): number {
  const c = s[from];
  let i = from;
  if (c === '-' || c === '*' || c === '+') {
    i++;
  } else {
    while (i < s.length && i - from < 9 && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
    if (i === from || (s[i] !== '.' && s[i] !== ')')) return -1;
    i++;
  }
  if (i === s.length) return i;
  if (s[i] !== ' ' && s[i] !== '\t') return -1;
  return skipSpace(s, i);
}

/**
 * `---`, `***`, `___` (spaces allowed between) from `from` to the end of `s`: a thematic break,
 * which ends any list. Asked of every bullet item, so a scan that stops at its second character.
 */
export function isThematicBreak(s: string, from: number): boolean {
  const c = s.charCodeAt(from);
  if (c !== 0x2d && c !== 0x2a && c !== 0x5f) return false;
  let marks = 0;
  for (let i = from; i < s.length; i++) {
    const d = s.charCodeAt(i);
    if (d === c) marks++;
    else if (d !== 0x20 && d !== 0x09) return false;
  }
  return marks >= 3;
}

/**
 * An explicit numeric id at the start of a task's text: `**1.2.3**`, `**1.2.3.**`, `1.2.3`,
 * `1.2.3.`, `1.2.3:`, or `**1.2 Bold text**` (the bold then stays on the text). A lone number
 * counts only when bold or followed by a dot (`3 fichiers` is text, not task 3). The id is one to
 * MAX_NUMBER_PARTS dot-separated numbers of one to nine digits; after it (and its dot and closing bold)
 * comes the end, whitespace, `:` or `)`. Most tasks start with one, so this is a scan rather than
 * a pattern whose match would be allocated for every task.
 */
export interface ExplicitId {
  id: string;
  /** The text after the id and its separator. */
  text: string;
}

export function readExplicitId(text: string): ExplicitId | null {
  let i = 0;
  const first = text.charCodeAt(0);
  // `**` or `__` opening a bold run.
  const bold = (first === 0x2a || first === 0x5f) && text.charCodeAt(1) === first;
  if (bold) i = 2;
  const idStart = i;
  let parts = 0;
  for (;;) {
    const digits = i;
    while (isDigit(text.charCodeAt(i))) i++;
    if (i === digits || i - digits > 9) return null;
    parts++;
    if (text.charCodeAt(i) !== 0x2e || !isDigit(text.charCodeAt(i + 1))) break;
    if (parts === MAX_NUMBER_PARTS) return null;
    i++;
  }
  const idEnd = i;
  const dot = text.charCodeAt(i) === 0x2e;
  if (dot) i++;
  const c = text.charCodeAt(i);
  const closed = (c === 0x2a || c === 0x5f) && text.charCodeAt(i + 1) === c;
  if (closed) {
    if (!bold || c !== first) return null;
    i += 2;
  }
  if (i < text.length) {
    const next = text.charCodeAt(i);
    if (next !== 0x3a && next !== 0x29 && !isSpace(next)) return null;
  }
  if (!bold && !dot && parts === 1) return null;
  // Then spacing and an optional separator: `1.2 : text`, `1.2 - text`.
  i = skipSpace(text, i);
  const sep = text.charCodeAt(i);
  if (sep === 0x3a || sep === 0x2d || sep === 0x2013 || sep === 0x2014) i = skipSpace(text, i + 1);
  // `**1.2 Bold text**`: the id opened a bold run that goes on over the text.
  const rest = text.slice(i);
  return { id: text.slice(idStart, idEnd), text: bold && !closed ? text.slice(0, 2) + rest : rest };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** What `\s` matches. */
function isSpace(c: number): boolean {
  if (c > 0x20 && c < 0xa0) return false;
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** Whether `text` may start with a step label (`É`, `é`, `E`, `e`, `M`, `m` after optional bold): most texts cannot. */
function mayBeStep(text: string): boolean {
  const first = text.charCodeAt(0);
  const c = (first === 0x2a || first === 0x5f) && text.charCodeAt(1) === first ? text.charCodeAt(2) : first;
  return c === 0x65 || c === 0x45 || c === 0xe9 || c === 0xc9 || c === 0x6d || c === 0x4d;
}

/** A number too long or too deep is not cut to fit: the step then has no number. */
const STEP = new RegExp(
  String.raw`^(?:\*\*|__)?(micro[-\s]?)?[ée]tape(?:[ \t]+(${DOTTED_NUMBER})(?!\.?\d))?(?=$|[^\p{L}])`,
  'iu',
);

/** `Étape 1.2 : …` / `Micro-étape 1.2.3 : …` at the start of a task's text. */
export function readStep(text: string): TaskStep | null {
  if (!mayBeStep(text)) return null;
  const m = STEP.exec(text);
  if (m === null) return null;
  return { kind: m[1] === undefined ? 'step' : 'micro-step', number: m[2] ?? null };
}

/** `P0`–`P3` as a word of its own (`P1`, `[P1]`, `(P1)`, `**P1**`), not inside `HTTP2`. */
const PRIORITY = /(?<![^\s([{*_])P[0-3](?![^\s)\]},.;:*_!])/;

export function readPriority(text: string): TaskPriority | null {
  if (!text.includes('P')) return null;
  const m = PRIORITY.exec(text);
  return m === null ? null : (m[0] as TaskPriority);
}

const ESTIMATE =
  /\((?:~|≈)?[ \t]?(\d{1,6}(?:[.,]\d{1,3})?)[ \t]?(min|mn|minutes?|h|hrs?|heures?|hours?|j|jours?|d|days?|sem|semaines?|w|weeks?)\)/i;

const MINUTES_PER_UNIT: ReadonlyArray<[RegExp, number]> = [
  [/^(?:min|mn|minutes?)$/i, 1],
  [/^(?:h|hrs?|heures?|hours?)$/i, 60],
  [/^(?:j|jours?|d|days?)$/i, 8 * 60],
  [/^(?:sem|semaines?|w|weeks?)$/i, 5 * 8 * 60],
];

export function readEstimate(text: string): TaskEstimate | null {
  if (!text.includes('(')) return null;
  const m = ESTIMATE.exec(text);
  if (m === null) return null;
  const amount = Number(m[1]!.replace(',', '.'));
  const perUnit = MINUTES_PER_UNIT.find(([re]) => re.test(m[2]!))![1];
  return { raw: m[0].slice(1, -1), minutes: Math.round(amount * perUnit) };
}

const CODE_SPAN = /`[^`]*`/g;
const TAG = /(?:^|\s)#(\p{L}[\p{L}\p{N}_\-/]*)/gu;

/** The `#tags` of a text, or null when it has none. */
export function readTags(text: string): string[] | null {
  if (!text.includes('#')) return null;
  const tags: string[] = [];
  // Code spans hide their `#`s; most texts have none, and are not copied.
  const plain = text.includes('`') ? text.replace(CODE_SPAN, ' ') : text;
  for (const m of plain.matchAll(TAG)) {
    if (!tags.includes(m[1]!)) tags.push(m[1]!);
  }
  return tags.length > 0 ? tags : null;
}

/**
 * "Progression: N%" in its spellings: bold or italic markers around the word or the value,
 * `Progression globale : 72%`, `Progress: 45 %`… The colon is required: "mettre à jour la
 * progression à 60%" is a task's text, not a claim.
 */
const PROGRESS =
  /progress(?:ion)?(?:[ \t]+[\p{L}'’]{1,30}){0,3}[ \t]*(?:[*_]{1,3}[ \t]*)?:[ \t]*(?:[*_]{1,3}[ \t]*)?(\d{1,3}(?:[.,]\d{1,2})?)[ \t]*%/iu;

export function readDeclaredProgress(line: string): number | null {
  if (!/progress/i.test(line)) return null;
  const m = PROGRESS.exec(line);
  return m === null ? null : Number(m[1]!.replace(',', '.'));
}

/** Whitespace runs collapsed to one space, ends trimmed. */
export function collapseSpace(text: string): string {
  // Most texts hold single inner spaces only: skip the rewrite (and its garbage) for them.
  const clean =
    text.charCodeAt(0) !== 0x20 &&
    text.charCodeAt(text.length - 1) !== 0x20 &&
    !text.includes('  ') &&
    !OTHER_SPACE.test(text);
  return clean ? text : text.replace(/\s+/g, ' ').trim();
}

/** Whitespace other than U+0020. */
const OTHER_SPACE = /[^\S ]/;
const NON_ASCII = /[^\p{ASCII}]/u;
const EMPHASIS = /[*_`~]/;

/** Text as it enters an id: NFKC, lower case, emphasis and code markers dropped, spaces collapsed. */
export function normalizeForId(text: string): string {
  let t = NON_ASCII.test(text) ? text.normalize('NFKC') : text;
  t = t.toLowerCase();
  if (EMPHASIS.test(t)) t = t.replace(/[*_`~]+/g, '');
  return collapseSpace(t);
}
