import semver from 'semver';
import { z } from 'zod';
import { type Declaration, type Installed, lineAt, manifestError, type ParsedFile } from './model.ts';

/** package.json and package-lock.json: JSON.parse, zod for the shapes, semver for the ranges. */

export const NPM_SCOPES = [
  'dependencies',
  'devDependencies',
  'peerDependencies',
  'optionalDependencies',
] as const;

/** npm's rules for a package name (validate-npm-package-name, for names in the registry). */
const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

const dependencyMap = z.record(z.string(), z.string());
const PackageJsonSchema = z.looseObject(
  Object.fromEntries(NPM_SCOPES.map((scope) => [scope, dependencyMap.optional()])),
);

const LockSchema = z.looseObject({
  lockfileVersion: z.int().min(1).max(3),
  /** v2/v3: `node_modules/<name>` (nested: `node_modules/a/node_modules/b`) → its installed version. */
  packages: z
    .record(z.string(), z.looseObject({ version: z.string().optional(), link: z.boolean().optional() }))
    .optional(),
  /** v1: a tree of name → { version, dependencies }. */
  dependencies: z.record(z.string(), z.unknown()).optional(),
});

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const position = /at position (\d+)/.exec((err as Error).message)?.[1];
    const line = position === undefined ? undefined : lineAt(text, Number(position));
    return raise(
      file,
      { line },
      `not valid JSON: ${(err as Error).message.replace(/ in JSON at position.*$/, '')}`,
    );
  }
}

function raise(file: string, where: { line?: number; key?: string }, reason: string): never {
  throw manifestError(file, where, reason);
}

function shaped<S extends z.ZodType>(
  file: string,
  schema: S,
  value: unknown,
  at: string[] = [],
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  return raise(file, { key: [...at, ...issue.path.map(String)].join('.') || '(document)' }, issue.message);
}

/**
 * The comparable range of a spec, or null for specs npm accepts that name no registry version:
 * git and GitHub URLs, tarball URLs, `file:`, `link:`, `workspace:`, `npm:` aliases, dist-tags.
 */
export function npmRange(spec: string): string | null {
  return semver.validRange(spec) === null ? null : spec.trim() || '*';
}

const DIST_TAG = /^[a-z][a-z0-9._-]*$/i;
const NON_REGISTRY =
  /^(?:git(?:\+[a-z]+)?:|https?:|file:|link:|workspace:|npm:|github:|gitlab:|bitbucket:|gist:|[^@\s/]+\/[^\s]+$)/i;

export function parsePackageJson(file: string, text: string): ParsedFile {
  const json = parseJson(file, text);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return raise(file, { key: '(document)' }, 'must be a JSON object');
  }
  const manifest = shaped(file, PackageJsonSchema, json);
  const declarations: Declaration[] = [];
  for (const scope of NPM_SCOPES) {
    for (const [name, spec] of Object.entries(manifest[scope] ?? {})) {
      const key = `${scope}.${name}`;
      if (!NPM_NAME.test(name) || name.length > 214) raise(file, { key }, 'not a valid npm package name');
      const range = npmRange(spec);
      if (range === null && !NON_REGISTRY.test(spec.trim()) && !DIST_TAG.test(spec.trim())) {
        raise(
          file,
          { key },
          `"${spec}" is neither a semver range nor a git, URL, file:, workspace:, npm: or dist-tag spec`,
        );
      }
      declarations.push({ ecosystem: 'npm', name, spec, range, scope, file });
    }
  }
  return { file, declarations, installed: [] };
}

const LockV1Entry = z.looseObject({
  version: z.string(),
  dependencies: z.record(z.string(), z.unknown()).optional(),
});

/** The installed versions of a lockfile (v2/v3 `packages`, v1's nested `dependencies`), each name@version once. */
export function parsePackageLock(file: string, text: string): ParsedFile {
  const lock = shaped(file, LockSchema, parseJson(file, text));
  const installed = new Map<string, Installed>();
  const add = (name: string, version: string, key: string) => {
    if (!NPM_NAME.test(name)) raise(file, { key }, 'not a valid npm package name');
    // Linked and git installs carry a URL or path, not a version: nothing to compare.
    if (semver.valid(version) === null) return;
    installed.set(`${name}@${version}`, { ecosystem: 'npm', name, version, file });
  };
  if (lock.packages !== undefined) {
    for (const [path, entry] of Object.entries(lock.packages)) {
      const at = path.lastIndexOf('node_modules/');
      // "" is the project itself; paths without node_modules/ are workspace folders.
      if (at < 0 || entry.link === true || entry.version === undefined) continue;
      add(path.slice(at + 'node_modules/'.length), entry.version, `packages.${path}`);
    }
  } else {
    // Iterative: a lockfile's nesting cannot overflow the stack.
    const pending: Array<[string[], string, unknown]> = Object.entries(lock.dependencies ?? {}).map(
      ([name, entry]) => [['dependencies', name], name, entry],
    );
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const [at, name, value] = next;
      const entry = shaped(file, LockV1Entry, value, at);
      add(name, entry.version, at.join('.'));
      for (const [n, e] of Object.entries(entry.dependencies ?? {}))
        pending.push([[...at, 'dependencies', n], n, e]);
    }
  }
  return { file, declarations: [], installed: [...installed.values()] };
}
