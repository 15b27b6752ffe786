import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGoMod } from '#shared/dependencies/go.ts';
import { MANIFEST_FILES } from '#shared/dependencies/model.ts';
import { parsePackageJson, parsePackageLock } from '#shared/dependencies/npm.ts';
import { parseManifest } from '#shared/dependencies/parse.ts';
import { parsePyprojectToml, parseRequirementsTxt } from '#shared/dependencies/python.ts';
import { ValidationError } from '#shared/errors.ts';

/** The issue's field of a refusal: `<file>:<line>` or `<file> <key>`. */
function refusal(parse: () => unknown): { field: string; reason: string } {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).issues[0]!;
  }
  throw new Error('expected a refusal');
}

describe('package.json', () => {
  it('reads the four dependency maps, keeping non-registry specs with no comparable range', () => {
    const { declarations } = parsePackageJson(
      'web/package.json',
      JSON.stringify({
        name: 'web',
        dependencies: { lodash: '^4.17.0', '@scope/ui': '1.x', own: 'github:me/own', tagged: 'latest' },
        devDependencies: { vitest: '' },
        peerDependencies: { react: '>=18' },
        optionalDependencies: { local: 'file:../local', ws: 'workspace:*', alias: 'npm:lodash@^4' },
      }),
    );
    expect(declarations.map((d) => [d.scope, d.name, d.range])).toEqual([
      ['dependencies', 'lodash', '^4.17.0'],
      ['dependencies', '@scope/ui', '1.x'],
      ['dependencies', 'own', null],
      ['dependencies', 'tagged', null],
      ['devDependencies', 'vitest', '*'],
      ['peerDependencies', 'react', '>=18'],
      ['optionalDependencies', 'local', null],
      ['optionalDependencies', 'ws', null],
      ['optionalDependencies', 'alias', null],
    ]);
    expect(declarations.every((d) => d.ecosystem === 'npm' && d.file === 'web/package.json')).toBe(true);
  });

  it('names the line of a syntax error and the key of a bad entry', () => {
    expect(refusal(() => parsePackageJson('package.json', '{\n  "a": 1,\n  "b" 2\n}'))).toEqual({
      field: 'package.json:3',
      reason: expect.stringContaining('not valid JSON'),
    });
    expect(refusal(() => parsePackageJson('package.json', '{"dependencies": {"a": 5}}')).field).toBe(
      'package.json dependencies.a',
    );
    expect(refusal(() => parsePackageJson('package.json', '{"dependencies": {"A B": "1"}}'))).toEqual({
      field: 'package.json dependencies.A B',
      reason: 'not a valid npm package name',
    });
    expect(refusal(() => parsePackageJson('package.json', '{"devDependencies": {"a": ">=1 <<2"}}'))).toEqual({
      field: 'package.json devDependencies.a',
      reason: expect.stringContaining('neither a semver range'),
    });
    expect(refusal(() => parsePackageJson('package.json', '[]')).field).toBe('package.json (document)');
  });
});

describe('package-lock.json', () => {
  it('lists each installed name@version once (v3 packages, nested installs included)', () => {
    const { installed } = parsePackageLock(
      'package-lock.json',
      JSON.stringify({
        lockfileVersion: 3,
        packages: {
          '': { name: 'app' },
          'node_modules/ms': { version: '2.1.3' },
          'node_modules/debug/node_modules/ms': { version: '2.0.0' },
          'node_modules/other/node_modules/ms': { version: '2.0.0' },
          'node_modules/@scope/x': { version: '1.0.0' },
          'node_modules/linked': { resolved: 'packages/linked', link: true },
          'packages/linked': { version: '0.1.0' },
        },
      }),
    );
    expect(installed.map((i) => `${i.name}@${i.version}`).sort()).toEqual([
      '@scope/x@1.0.0',
      'ms@2.0.0',
      'ms@2.1.3',
    ]);
  });

  it('reads v1 nested dependencies', () => {
    const { installed } = parsePackageLock(
      'package-lock.json',
      JSON.stringify({
        lockfileVersion: 1,
        dependencies: {
          a: { version: '1.0.0', dependencies: { b: { version: '2.0.0' } } },
          b: { version: '3.0.0' },
        },
      }),
    );
    expect(installed.map((i) => `${i.name}@${i.version}`).sort()).toEqual(['a@1.0.0', 'b@2.0.0', 'b@3.0.0']);
  });

  it('refuses an unknown lockfile version and a malformed entry by key', () => {
    expect(refusal(() => parsePackageLock('package-lock.json', '{"lockfileVersion": 9}')).field).toBe(
      'package-lock.json lockfileVersion',
    );
    expect(
      refusal(() =>
        parsePackageLock('package-lock.json', '{"lockfileVersion": 1, "dependencies": {"a": {}}}'),
      ).field,
    ).toBe('package-lock.json dependencies.a.version');
  });
});

describe('go.mod', () => {
  const goMod = [
    'module example.com/app // the module',
    '',
    'go 1.22.1',
    'toolchain go1.22.3',
    '',
    'require golang.org/x/text v0.14.0',
    'require (',
    '\tgithub.com/a/b v1.2.3 // indirect',
    '\t"github.com/c/d" v2.0.0+incompatible',
    '\tgithub.com/e/f v0.0.0-20191109021931-daa7c04131f5',
    ')',
    'exclude github.com/a/b v1.2.2',
    'replace github.com/c/d => ../d',
    'replace (',
    '\tgolang.org/x/text v0.14.0 => golang.org/x/text v0.15.0',
    ')',
    'retract [v1.0.0, v1.0.5] // broken',
  ].join('\n');

  it('reads requires with their lines, marks indirect ones and applies replaces', () => {
    expect(parseGoMod('go.mod', goMod).declarations).toEqual([
      {
        ecosystem: 'go',
        name: 'golang.org/x/text',
        spec: 'v0.14.0 => golang.org/x/text v0.15.0',
        range: '^0.15.0',
        scope: 'require',
        file: 'go.mod',
        line: 6,
      },
      {
        ecosystem: 'go',
        name: 'github.com/a/b',
        spec: 'v1.2.3',
        range: '^1.2.3',
        scope: 'require (indirect)',
        file: 'go.mod',
        line: 8,
      },
      {
        ecosystem: 'go',
        name: 'github.com/c/d',
        spec: 'v2.0.0+incompatible => ../d',
        range: null,
        scope: 'require',
        file: 'go.mod',
        line: 9,
      },
      {
        ecosystem: 'go',
        name: 'github.com/e/f',
        spec: 'v0.0.0-20191109021931-daa7c04131f5',
        range: '^0.0.0-20191109021931-daa7c04131f5',
        scope: 'require',
        file: 'go.mod',
        line: 10,
      },
    ]);
  });

  it.each([
    ['module a\nrequire x 1.2.3', 'go.mod:2', 'is not a module version'],
    ['module a\nrequire x', 'go.mod:2', 'require takes 2 arguments, found 1'],
    ['module a\nrequire (\nx v1.0.0', 'go.mod:3', 'the require block is not closed'],
    ['module a\nfrobnicate x', 'go.mod:2', 'unknown directive "frobnicate"'],
    ['module a\ngo one', 'go.mod:2', 'is not a Go version'],
    ['module a\nrequire "x v1.0.0', 'go.mod:2', 'unterminated quoted string'],
    ['module a\nreplace x v1.0.0 y', 'go.mod:2', 'replace takes'],
    ['go 1.22', 'go.mod:1', 'no module directive'],
  ])('refuses %j at %s', (text, field, reason) => {
    const issue = refusal(() => parseGoMod('go.mod', text));
    expect(issue.field).toBe(field);
    expect(issue.reason).toContain(reason);
  });
});

describe('requirements.txt', () => {
  it('reads PEP 508 lines with their lines, normalizes names, leaves markers and URLs uncompared', () => {
    const text =
      '# pinned\nRequests==2.31.0\n\nFlask_Login>=0.6,<1\nnumpy; python_version < "3.9"\nlib @ https://x.test/lib.zip\n-r base.txt\n';
    expect(
      parseRequirementsTxt('requirements.txt', text).declarations.map((d) => [d.line, d.name, d.range]),
    ).toEqual([
      [2, 'requests', '==2.31.0'],
      [4, 'flask-login', '>=0.6,<1'],
      [5, 'numpy', null],
      [6, 'lib', null],
    ]);
  });

  it('names the line of a syntax error and of a version that is not PEP 440', () => {
    expect(refusal(() => parseRequirementsTxt('requirements.txt', 'ok\nbad ==== x\n')).field).toBe(
      'requirements.txt:2',
    );
    expect(refusal(() => parseRequirementsTxt('requirements.txt', 'a\nb==1.0.0.dev1.post.x\n')).field).toBe(
      'requirements.txt:2',
    );
  });
});

describe('pyproject.toml', () => {
  it('reads project dependencies, optional dependencies and dependency groups', () => {
    const text = [
      '[project]',
      'name = "app"',
      'dependencies = ["httpx>=0.27", "pydantic==2.7.1"]',
      '[project.optional-dependencies]',
      'cli = ["click~=8.1"]',
      '[dependency-groups]',
      'test = ["pytest>=8", { include-group = "cli" }]',
    ].join('\n');
    expect(
      parsePyprojectToml('pyproject.toml', text).declarations.map((d) => [d.scope, d.name, d.spec]),
    ).toEqual([
      ['project.dependencies', 'httpx', '>=0.27'],
      ['project.dependencies', 'pydantic', '==2.7.1'],
      ['project.optional-dependencies.cli', 'click', '~=8.1'],
      ['dependency-groups.test', 'pytest', '>=8'],
    ]);
  });

  it('names the line of a TOML error and the key of a bad requirement', () => {
    expect(
      refusal(() => parsePyprojectToml('pyproject.toml', '[project]\nname = "a"\ndependencies = [\n')).field,
    ).toMatch(/^pyproject\.toml:\d+$/);
    expect(
      refusal(() => parsePyprojectToml('pyproject.toml', '[project]\ndependencies = ["ok", "not a req!"]')),
    ).toEqual({
      field: 'pyproject.toml project.dependencies[1]',
      reason: '"not a req!" is not a PEP 508 requirement',
    });
    expect(refusal(() => parsePyprojectToml('pyproject.toml', '[project]\ndependencies = "x"')).field).toBe(
      'pyproject.toml project.dependencies',
    );
  });
});

describe('every parser, any input', () => {
  /** Text shaped like each format (its tokens recombined), and arbitrary text. */
  const pieces: Record<(typeof MANIFEST_FILES)[number], string[]> = {
    'package.json': [
      '{',
      '}',
      '"dependencies"',
      ':',
      '"a"',
      '"^1.0.0"',
      ',',
      '[',
      ']',
      '\n',
      '"github:x/y"',
      'null',
    ],
    'package-lock.json': [
      '{',
      '}',
      '"lockfileVersion"',
      ':',
      '3',
      '1',
      '"packages"',
      '"node_modules/a"',
      '"version"',
      '"1.0.0"',
      ',',
    ],
    'go.mod': [
      'module',
      'require',
      'replace',
      '(',
      ')',
      '=>',
      'x',
      'v1.2.3',
      '"q"',
      '`r`',
      '//',
      ' ',
      '\n',
      '\t',
      'go',
      '1.22',
    ],
    'requirements.txt': [
      'a',
      '==',
      '1.0',
      '>=',
      ',',
      ';',
      'python_version',
      '"3"',
      '<',
      '@',
      'https://x',
      '\n',
      ' ',
      '-r',
      '#',
      '[x]',
    ],
    'pyproject.toml': [
      '[project]',
      '\n',
      'dependencies',
      '=',
      '[',
      ']',
      '"a>=1"',
      ',',
      '"b @ x"',
      '{',
      '}',
      '[dependency-groups]',
      'g',
    ],
  };

  for (const file of MANIFEST_FILES) {
    it(`${file}: a parse result or a ValidationError naming the file, never a crash`, () => {
      const shaped = fc.array(fc.constantFrom(...pieces[file]), { maxLength: 30 }).map((p) => p.join(''));
      fc.assert(
        fc.property(fc.oneof(shaped, fc.string({ maxLength: 200 })), (text) => {
          try {
            const parsed = parseManifest(`dir/${file}`, text);
            expect(parsed.file).toBe(`dir/${file}`);
          } catch (err) {
            expect(err).toBeInstanceOf(ValidationError);
            expect((err as ValidationError).issues[0]!.field.startsWith(`dir/${file}`)).toBe(true);
          }
        }),
        { numRuns: 500 },
      );
    });
  }
});
