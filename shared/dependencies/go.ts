import semver from 'semver';
import { type Declaration, manifestError, type ParsedFile } from './model.ts';

/**
 * go.mod. No maintained JavaScript parser of go.mod exists, so this is a small one following the
 * grammar of golang.org/x/mod/modfile (https://go.dev/ref/mod#go-mod-file-grammar): lines of
 * tokens, `//` comments, "interpreted" and `raw` strings, directives alone or as parenthesized
 * blocks (`require (` … `)`). Module versions are semver with a `v`.
 *
 * A require of version v is read as the range `^v`: Go's minimal version selection builds with the
 * highest required version of a module path, which a requirer of v accepts when it has v's major
 * (a new major is another module path, `/v2`); in v0 the semver convention (caret: same minor)
 * says nothing is promised, so v0.3 and v0.4 of one module are reported as conflicting.
 */

interface Token {
  text: string;
  line: number;
}
interface Line {
  tokens: Token[];
  line: number;
  /** The line's comment (without `//`), for `// indirect`. */
  comment: string;
}

const DIRECTIVES = new Set([
  'module',
  'go',
  'toolchain',
  'godebug',
  'require',
  'replace',
  'exclude',
  'retract',
  'tool',
  'ignore',
]);
const GO_VERSION = /^[1-9]\d*\.\d+(?:\.\d+)?(?:(?:rc|beta)\d+)?$/;

function lex(file: string, text: string): Line[] {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const tokens: Token[] = [];
    let comment = '';
    let i = 0;
    while (i < raw.length) {
      const c = raw[i]!;
      if (c === ' ' || c === '\t' || c === '\r') {
        i++;
      } else if (raw.startsWith('//', i)) {
        comment = raw.slice(i + 2).trim();
        break;
      } else if (c === '(' || c === ')') {
        tokens.push({ text: c, line });
        i++;
      } else if (c === '"' || c === '`') {
        let end = i + 1;
        while (end < raw.length && raw[end] !== c) end += c === '"' && raw[end] === '\\' ? 2 : 1;
        if (end >= raw.length)
          throw manifestError(file, { line }, `unterminated ${c === '"' ? 'quoted' : 'raw'} string`);
        const body = raw.slice(i + 1, end);
        if (c === '"') {
          try {
            tokens.push({ text: JSON.parse(`"${body}"`) as string, line });
          } catch {
            throw manifestError(file, { line }, 'invalid escape in a quoted string');
          }
        } else {
          tokens.push({ text: body, line });
        }
        i = end + 1;
      } else {
        let end = i;
        while (end < raw.length && !' \t\r()"`'.includes(raw[end]!) && !raw.startsWith('//', end)) end++;
        tokens.push({ text: raw.slice(i, end), line });
        i = end;
      }
    }
    if (tokens.length > 0) lines.push({ tokens, line, comment });
  });
  return lines;
}

/** Each directive's lines with the directive's name first (a block's lines are expanded). */
function statements(
  file: string,
  lines: Line[],
): Array<{ verb: string; args: Token[]; line: number; comment: string }> {
  const out: Array<{ verb: string; args: Token[]; line: number; comment: string }> = [];
  let block: string | undefined;
  for (const { tokens, line, comment } of lines) {
    const [first, ...rest] = tokens;
    if (block !== undefined) {
      if (first!.text === ')' && rest.length === 0) block = undefined;
      else if (tokens.some((t) => t.text === '(' || t.text === ')'))
        throw manifestError(file, { line }, 'unexpected parenthesis inside a block');
      else out.push({ verb: block, args: tokens, line, comment });
      continue;
    }
    if (!DIRECTIVES.has(first!.text))
      throw manifestError(file, { line }, `unknown directive "${first!.text}"`);
    if (rest.length === 1 && rest[0]!.text === '(') {
      block = first!.text;
      continue;
    }
    if (rest.some((t) => t.text === '(' || t.text === ')'))
      throw manifestError(file, { line }, 'a block opens with "(" at the end of its line');
    out.push({ verb: first!.text, args: rest, line, comment });
  }
  if (block !== undefined)
    throw manifestError(file, { line: lines.at(-1)!.line }, `the ${block} block is not closed with ")"`);
  return out;
}

function moduleVersion(file: string, line: number, version: string | undefined): string {
  if (version === undefined || !version.startsWith('v') || semver.valid(version.slice(1)) === null) {
    throw manifestError(
      file,
      { line },
      `"${version ?? ''}" is not a module version (semver with a "v", e.g. v1.2.3)`,
    );
  }
  return version;
}

function arity(file: string, line: number, verb: string, args: Token[], counts: number[]): void {
  if (!counts.includes(args.length)) {
    throw manifestError(
      file,
      { line },
      `${verb} takes ${counts.join(' or ')} arguments, found ${args.length}`,
    );
  }
}

export function parseGoMod(file: string, text: string): ParsedFile {
  const requires: Declaration[] = [];
  const replaces: Array<{ path: string; version?: string; to: string; toVersion?: string }> = [];
  let module: string | undefined;
  for (const { verb, args, line, comment } of statements(file, lex(file, text))) {
    const texts = args.map((a) => a.text);
    switch (verb) {
      case 'module':
        arity(file, line, verb, args, [1]);
        if (module !== undefined) throw manifestError(file, { line }, 'repeated module directive');
        module = texts[0];
        break;
      case 'go':
        arity(file, line, verb, args, [1]);
        if (!GO_VERSION.test(texts[0]!))
          throw manifestError(file, { line }, `"${texts[0]}" is not a Go version (e.g. 1.22 or 1.22.1)`);
        break;
      case 'require':
        arity(file, line, verb, args, [2]);
        requires.push({
          ecosystem: 'go',
          name: texts[0]!,
          spec: moduleVersion(file, line, texts[1]),
          range: `^${texts[1]!.slice(1)}`,
          scope: /^indirect\b/.test(comment) ? 'require (indirect)' : 'require',
          file,
          line,
        });
        break;
      case 'exclude':
        arity(file, line, verb, args, [2]);
        moduleVersion(file, line, texts[1]);
        break;
      case 'replace': {
        const arrow = texts.indexOf('=>');
        if (arrow < 1 || arrow > 2 || texts.length - arrow - 1 < 1 || texts.length - arrow - 1 > 2) {
          throw manifestError(file, { line }, 'replace takes "path [version] => path [version]"');
        }
        replaces.push({
          path: texts[0]!,
          version: arrow === 2 ? moduleVersion(file, line, texts[1]) : undefined,
          to: texts[arrow + 1]!,
          toVersion: texts.length - arrow - 1 === 2 ? moduleVersion(file, line, texts[arrow + 2]) : undefined,
        });
        break;
      }
      default:
        // toolchain, godebug, retract, tool, ignore: valid, nothing to index.
        if (args.length === 0) throw manifestError(file, { line }, `${verb} needs an argument`);
    }
  }
  if (module === undefined) throw manifestError(file, { line: 1 }, 'no module directive');
  // A replace redirects a required module: to another version (compared as that version) or to a
  // local directory (not comparable).
  const declarations = requires.map((d) => {
    const replace = replaces.find(
      (r) => r.path === d.name && (r.version === undefined || r.version === d.spec),
    );
    if (replace === undefined) return d;
    const to = `${d.spec} => ${replace.to}${replace.toVersion === undefined ? '' : ` ${replace.toVersion}`}`;
    return {
      ...d,
      spec: to,
      range: replace.toVersion === undefined ? null : `^${replace.toVersion.slice(1)}`,
    };
  });
  return { file, declarations, installed: [] };
}
