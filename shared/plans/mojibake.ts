/**
 * Repair of text damaged by a past double encoding: UTF-8 bytes once read as Windows-1252 (or
 * Latin-1) and written back as UTF-8, so that `é` (C3 A9) became `Ã©` and `’` (E2 80 99) became
 * `â€™`. Each such character is a UTF-8 lead byte followed by its continuation bytes, all seen
 * through the one-byte code page; mapping them back to bytes and decoding gives the original.
 *
 * A line is repaired only when that is unambiguous: every candidate sequence on it (a lead byte
 * followed by at least one continuation byte) decodes to exactly one valid UTF-8 character.
 * A line with a sequence that is cut short, overlong or a surrogate is kept as is, since the
 * damage was not this (or something else damaged it further). Ordinary text is untouched: `é`
 * is a lead byte too, but what follows a letter is a letter, a space or punctuation. The one
 * overlap is a letter followed by typographic punctuation (`Ç’a`, `été…»`): such a sequence is
 * read as the text it shows, except after `Â`, `Ã` and `Å`, the leads of the damaged forms of
 * Latin-1 and of `œ`, which real words never put before punctuation. The same goes for a sequence
 * cut short (`café’s`): real text, not half-damaged text.
 */

/** Windows-1252's 0x80–0x9F block, by code point. Its five undefined bytes arrive as C1 controls. */
const CP1252_HIGH: ReadonlyMap<number, number> = new Map([
  [0x20ac, 0x80],
  [0x201a, 0x82],
  [0x0192, 0x83],
  [0x201e, 0x84],
  [0x2026, 0x85],
  [0x2020, 0x86],
  [0x2021, 0x87],
  [0x02c6, 0x88],
  [0x2030, 0x89],
  [0x0160, 0x8a],
  [0x2039, 0x8b],
  [0x0152, 0x8c],
  [0x017d, 0x8e],
  [0x2018, 0x91],
  [0x2019, 0x92],
  [0x201c, 0x93],
  [0x201d, 0x94],
  [0x2022, 0x95],
  [0x2013, 0x96],
  [0x2014, 0x97],
  [0x02dc, 0x98],
  [0x2122, 0x99],
  [0x0161, 0x9a],
  [0x203a, 0x9b],
  [0x0153, 0x9c],
  [0x017e, 0x9e],
  [0x0178, 0x9f],
]);

/** Punctuation that may follow a letter in real text (closing quotes, apostrophes, dashes…). */
const AFTER_WORD = new Set([
  0xa0, 0xab, 0xb0, 0xb2, 0xb3, 0xb7, 0xb9, 0xbb, 0x2013, 0x2014, 0x2018, 0x2019, 0x201c, 0x201d, 0x2026,
]);
const LETTER = /\p{L}/u;

/** Whether `line[start]` (a lead) and the `count` units after it read as real text (see the module note). */
function readsAsText(line: string, start: number, lead: number, count: number): boolean {
  if (lead === 0xc2 || lead === 0xc3 || lead === 0xc5 || !LETTER.test(line[start]!)) return false;
  for (let k = 1; k <= count; k++) if (!AFTER_WORD.has(line.charCodeAt(start + k))) return false;
  return true;
}

/** The byte a code page would have shown as this UTF-16 unit, or -1. */
function byteOf(unit: number): number {
  if (unit >= 0x80 && unit <= 0xff) return unit;
  return CP1252_HIGH.get(unit) ?? -1;
}

/**
 * A lead byte followed by a continuation byte, both seen through the code page: a line without
 * such a pair has nothing to repair (ordinary accented text never has one), and is not scanned.
 */
const CANDIDATE =
  /[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]/;

const CANDIDATES = new RegExp(CANDIDATE.source, 'g');

/**
 * Offset of the first sign of damage at or after `from` in `text` (a candidate pair as above), or
 * `text.length`. A pair never spans lines, so a line without one needs no `repairMojibake`.
 */
export function nextDamage(text: string, from: number): number {
  CANDIDATES.lastIndex = from;
  return CANDIDATES.exec(text)?.index ?? text.length;
}

/** Rounds of repair, for text that went through the double encoding more than once. */
const MAX_ROUNDS = 3;

export interface RepairResult {
  text: string;
  outcome: 'repaired' | 'ambiguous';
}

/** One round over `line`: the repaired text, `null` when nothing to repair, or `'ambiguous'`. */
function repairOnce(line: string): string | null | 'ambiguous' {
  let out: string[] | null = null;
  let copiedUpTo = 0;
  for (let i = 0; i < line.length; i++) {
    const lead = byteOf(line.charCodeAt(i));
    if (lead < 0xc2 || lead > 0xf4) continue;
    const need = lead < 0xe0 ? 1 : lead < 0xf0 ? 2 : 3;
    let codePoint = lead & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    let seen = 0;
    let second = -1;
    while (seen < need && i + 1 + seen < line.length) {
      const b = byteOf(line.charCodeAt(i + 1 + seen));
      if (b < 0x80 || b > 0xbf) break;
      if (seen === 0) second = b;
      codePoint = (codePoint << 6) | (b & 0x3f);
      seen++;
    }
    if (seen === 0 || readsAsText(line, i, lead, seen)) continue;
    const invalid =
      seen < need ||
      (lead === 0xe0 && second < 0xa0) ||
      (lead === 0xed && second > 0x9f) ||
      (lead === 0xf0 && second < 0x90) ||
      (lead === 0xf4 && second > 0x8f);
    if (invalid) return 'ambiguous';
    out ??= [];
    out.push(line.slice(copiedUpTo, i), String.fromCodePoint(codePoint));
    i += need;
    copiedUpTo = i + 1;
  }
  if (out === null) return null;
  out.push(line.slice(copiedUpTo));
  return out.join('');
}

/**
 * Repairs one line of double-encoded text when the repair is unambiguous (see the module note).
 * Null when the line shows no sign of the damage.
 */
export function repairMojibake(line: string): RepairResult | null {
  if (!CANDIDATE.test(line)) return null;
  let text = line;
  let changed = false;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = repairOnce(text);
    if (next === 'ambiguous') {
      if (!changed) return { text: line, outcome: 'ambiguous' };
      break;
    }
    if (next === null) break;
    text = next;
    changed = true;
    if (!CANDIDATE.test(text)) break;
  }
  return changed ? { text, outcome: 'repaired' } : null;
}
