import Mustache from 'mustache';
import { ValidationError } from '../errors.ts';

/**
 * Template bodies are mustache (logic-less): `{{name}}`, `{{{name}}}`/`{{& name}}`, sections
 * `{{#name}}…{{/name}}` and inverted sections `{{^name}}…{{/name}}`, comments and delimiter
 * changes. Partials (`{{> name}}`) are refused: nothing could resolve them. Variable names are
 * flat (letters, digits, `_`): a dotted name would look into an object no template is given.
 *
 * Each call uses a fresh `Mustache.Writer`: the default writer caches every template it parses
 * (an unbounded cache of untrusted bodies in a warm function) and its `escape` is global state.
 */

export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A mustache token: [type, value, start, end, children?, …] (mustache.js's own shape). */
type Token = [string, string, number, number, Token[]?, ...unknown[]];

/** Line and column (1-based) of a character offset. */
function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines.at(-1)!.length + 1 };
}

/** The tokens of a body, or a ValidationError naming `field` with the line and column. */
function tokensOf(body: string, field: string): Token[] {
  try {
    return new Mustache.Writer().parse(body) as Token[];
  } catch (err) {
    const message = (err as Error).message;
    const at = /^(.*) at (\d+)$/.exec(message);
    if (!at) throw ValidationError.field(field, message);
    let offset = Number(at[2]);
    // mustache.js reports an unclosed tag where the text ends: name where it opens (the first
    // `{{` after the last `}}`, with the default delimiters).
    if (at[1] === 'Unclosed tag') {
      const lastClose = body.lastIndexOf('}}');
      const open = body.indexOf('{{', lastClose < 0 ? 0 : lastClose + 2);
      if (open >= 0) offset = open;
    }
    const { line, column } = position(body, offset);
    throw ValidationError.field(field, `${at[1]} at line ${line}, column ${column}`);
  }
}

/**
 * The variables a body uses, in order of first use, each with how many times its value is written
 * (`{{name}}` and `{{{name}}}` tags; a section only tests it), or a ValidationError naming `field`:
 * a parse error with its line and column, a partial, or a name that is not a flat variable name.
 */
export function variablesOf(body: string, field = 'body'): Map<string, number> {
  const uses = new Map<string, number>();
  const walk = (tokens: readonly Token[]) => {
    for (const [type, value, start, , children] of tokens) {
      if (type === '>') {
        const { line, column } = position(body, start);
        throw ValidationError.field(
          field,
          `partials are not supported ({{> ${value}}} at line ${line}, column ${column})`,
        );
      }
      if (type === 'name' || type === '&' || type === '#' || type === '^') {
        if (!VARIABLE_NAME.test(value)) {
          const { line, column } = position(body, start);
          throw ValidationError.field(
            field,
            `"${value}" at line ${line}, column ${column} is not a variable name (letters, digits and _, not starting with a digit)`,
          );
        }
        const written = type === 'name' || type === '&' ? 1 : 0;
        uses.set(value, (uses.get(value) ?? 0) + written);
      }
      if (children) walk(children);
    }
  };
  walk(tokensOf(body, field));
  return uses;
}

/**
 * The most bytes `body` renders to with `values` (string values render a section once), known
 * before rendering: a value written in many places could otherwise make an output of gigabytes.
 */
export function renderedBytesAtMost(
  body: string,
  uses: ReadonlyMap<string, number>,
  values: Readonly<Record<string, string>>,
): number {
  let total = Buffer.byteLength(body, 'utf8');
  for (const [name, count] of uses) total += count * Buffer.byteLength(values[name] ?? '', 'utf8');
  return total;
}

/** Renders a body with string values, no HTML escaping (the output is markdown, not HTML). */
export function renderBody(body: string, values: Readonly<Record<string, string>>): string {
  // A null-prototype view: `{{constructor}}` must not find Object.prototype's.
  const view = Object.assign(Object.create(null) as Record<string, string>, values);
  return new Mustache.Writer().render(body, view, {}, { escape: (text: string) => text });
}
