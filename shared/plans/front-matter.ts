import type { FrontMatterMap, FrontMatterValue } from './types.ts';

/**
 * A small YAML subset, enough for plan front matter (no YAML library is a dependency here):
 * block mappings and sequences nested by indentation, `- key: value` items, flow sequences of
 * scalars (`[a, "b"]`), `|` and `>` block scalars, quoted and plain scalars (booleans, null,
 * numbers; dates and versions stay strings), `#` comments. Anything else is kept as its raw text
 * or skipped; nothing throws. Nesting deeper than MAX_DEPTH is kept as raw text, so hostile input
 * cannot exhaust the stack.
 */

const MAX_DEPTH = 16;
const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

interface Line {
  indent: number;
  /** The line without its indentation. */
  content: string;
}

function toLines(raw: readonly string[]): Line[] {
  const lines: Line[] = [];
  for (const text of raw) {
    let indent = 0;
    while (indent < text.length && (text[indent] === ' ' || text[indent] === '\t')) indent++;
    const content = text.slice(indent).trimEnd();
    // Blank and comment-only lines carry nothing (block scalars lose their blank lines: acceptable here).
    if (content === '' || content.startsWith('#')) continue;
    lines.push({ indent, content });
  }
  return lines;
}

/** Parses the lines between the `---` delimiters; null when they hold no mapping. */
export function parseFrontMatter(raw: readonly string[]): FrontMatterMap | null {
  const lines = toLines(raw);
  if (lines.length === 0) return null;
  const value = parseBlock(lines, 0, lines.length, 0);
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
}

/** Position of the `:` ending a mapping key in `content`, or -1 when the line is not `key: …`. */
function keyEnd(content: string): number {
  const quote = content[0];
  let from = 0;
  if (quote === '"' || quote === "'") {
    const close = content.indexOf(quote, 1);
    if (close < 0) return -1;
    from = close + 1;
  }
  for (let i = content.indexOf(':', from); i >= 0; i = content.indexOf(':', i + 1)) {
    const next = content[i + 1];
    if (next === undefined || next === ' ' || next === '\t') return i;
  }
  return -1;
}

function unquoteKey(key: string): string {
  const q = key[0];
  if ((q === '"' || q === "'") && key.length >= 2 && key.endsWith(q)) return key.slice(1, -1);
  return key;
}

/** End (exclusive) of the lines more indented than `indent` starting at `from`. */
function childEnd(lines: readonly Line[], from: number, end: number, indent: number): number {
  let i = from;
  while (i < end && lines[i]!.indent > indent) i++;
  return i;
}

function rawText(lines: readonly Line[], start: number, end: number): string {
  return lines
    .slice(start, end)
    .map((l) => l.content)
    .join('\n');
}

function parseBlock(lines: readonly Line[], start: number, end: number, depth: number): FrontMatterValue {
  if (start >= end) return null;
  if (depth > MAX_DEPTH) return rawText(lines, start, end);
  const first = lines[start]!;
  return isSequenceItem(first.content)
    ? parseSequence(lines, start, end, first.indent, depth)
    : parseMapping(lines, start, end, first.indent, depth);
}

function isSequenceItem(content: string): boolean {
  return content === '-' || content.startsWith('- ') || content.startsWith('-\t');
}

function parseMapping(
  lines: readonly Line[],
  start: number,
  end: number,
  indent: number,
  depth: number,
): FrontMatterMap {
  const map: FrontMatterMap = {};
  let i = start;
  while (i < end) {
    const line = lines[i]!;
    i++;
    const colon = line.indent === indent ? keyEnd(line.content) : -1;
    if (colon < 0) {
      // Not a key at this level: skip it and whatever hangs under it.
      i = childEnd(lines, i, end, Math.min(line.indent, indent));
      continue;
    }
    const key = unquoteKey(line.content.slice(0, colon).trim());
    const rest = line.content.slice(colon + 1).trim();
    // A sequence may sit at the key's own indentation (`key:\n- a\n- b`).
    let stop = childEnd(lines, i, end, indent);
    if (rest === '' && stop === i) {
      while (stop < end && lines[stop]!.indent === indent && isSequenceItem(lines[stop]!.content)) {
        stop = childEnd(lines, stop + 1, end, indent);
      }
    }
    let value: FrontMatterValue;
    if (rest === '') value = parseBlock(lines, i, stop, depth + 1);
    else if (/^[|>][-+]?$/.test(rest)) value = blockScalar(lines, i, stop, rest[0] === '|');
    else value = scalar(rest);
    i = stop;
    // `__proto__` would set the object's prototype instead of a key.
    if (key !== '' && key !== '__proto__') map[key] = value;
  }
  return map;
}

function parseSequence(
  lines: readonly Line[],
  start: number,
  end: number,
  indent: number,
  depth: number,
): FrontMatterValue[] {
  const items: FrontMatterValue[] = [];
  let i = start;
  while (i < end) {
    const line = lines[i]!;
    i++;
    const stop = childEnd(lines, i, end, indent);
    if (line.indent !== indent || !isSequenceItem(line.content)) {
      i = stop;
      continue;
    }
    const item = line.content.slice(1).trim();
    if (item === '') {
      items.push(parseBlock(lines, i, stop, depth + 1));
    } else if (keyEnd(item) >= 0 && !item.startsWith('[') && !item.startsWith('{')) {
      // `- key: value` opens a mapping whose other keys are indented under the item's text.
      const itemIndent = indent + (line.content.length - line.content.slice(1).trimStart().length);
      const nested: Line[] = [{ indent: itemIndent, content: item }, ...lines.slice(i, stop)];
      items.push(parseBlock(nested, 0, nested.length, depth + 1));
    } else {
      items.push(scalar(item));
    }
    i = stop;
  }
  return items;
}

function blockScalar(lines: readonly Line[], start: number, end: number, literal: boolean): string {
  const parts = lines.slice(start, end).map((l) => l.content);
  return parts.join(literal ? '\n' : ' ');
}

function scalar(text: string): FrontMatterValue {
  const first = text[0];
  if (first === '"' || first === "'") {
    const quoted = quotedScalar(text);
    if (quoted !== null) return quoted;
  }
  if (first === '[') {
    const items = flowSequence(text);
    if (items !== null) return items;
  }
  const comment = text.search(/[ \t]#/);
  const plain = (comment >= 0 ? text.slice(0, comment) : text).trim();
  if (plain === '' || plain === '~' || /^null$/i.test(plain)) return null;
  if (/^true$/i.test(plain)) return true;
  if (/^false$/i.test(plain)) return false;
  if (NUMBER.test(plain)) return Number(plain);
  return plain;
}

/** A double- or single-quoted scalar (the whole text, comments after it allowed), or null. */
function quotedScalar(text: string): string | null {
  const q = text[0]!;
  let out = '';
  let i = 1;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (q === "'" && c === "'") {
      if (text[i + 1] === "'") {
        out += "'";
        i++;
        continue;
      }
      break;
    }
    if (q === '"' && c === '\\' && i + 1 < text.length) {
      const e = text[++i]!;
      out += e === 'n' ? '\n' : e === 't' ? '\t' : e;
      continue;
    }
    if (q === '"' && c === '"') break;
    out += c;
  }
  if (i >= text.length) return null;
  const after = text.slice(i + 1).trim();
  return after === '' || after.startsWith('#') ? out : null;
}

/** `[a, "b, c", 3]`: a flow sequence of scalars; null when it nests or does not close. */
function flowSequence(text: string): FrontMatterValue[] | null {
  const items: FrontMatterValue[] = [];
  let current = '';
  let quote = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== '') {
      current += c;
      if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      current += c;
    } else if (c === '[' || c === '{') {
      return null;
    } else if (c === ',' || c === ']') {
      const item = current.trim();
      if (item !== '') items.push(scalar(item));
      current = '';
      if (c === ']') {
        const after = text.slice(i + 1).trim();
        return after === '' || after.startsWith('#') ? items : null;
      }
    } else {
      current += c;
    }
  }
  return null;
}
