import { valid as pep440Valid } from '@renovatebot/pep440';
import {
  parsePipRequirementsFile,
  parsePipRequirementsLine,
  type Requirement,
  RequirementsSyntaxError,
  type RequirementWithLocation,
} from 'pip-requirements-js';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { type Declaration, lineAt, manifestError, type ParsedFile } from './model.ts';

/**
 * requirements.txt (pip-requirements-js: PEP 508 lines, `-r`/`-c`; other pip options are refused
 * by it) and pyproject.toml (smol-toml; PEP 621 `project.dependencies` and
 * `project.optional-dependencies`, PEP 735 `dependency-groups`, each entry a PEP 508 string).
 */

/** PEP 503: names compare lowercased with runs of `-`, `_` and `.` as one `-`. */
export function normalizePypiName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

function declarationOf(
  requirement: Requirement,
  file: string,
  scope: string,
  where: { line?: number; key?: string },
): Declaration | undefined {
  if (requirement.type === 'RequirementsFile' || requirement.type === 'ConstraintsFile') return undefined;
  const name = normalizePypiName(requirement.name);
  if (requirement.type === 'ProjectURL') {
    return { ecosystem: 'pypi', name, spec: `@ ${requirement.url}`, range: null, scope, file, ...where };
  }
  const specs = requirement.versionSpec ?? [];
  for (const { operator, version } of specs) {
    // `==1.*` and `!=1.*` are prefix matches; `===` compares strings: neither needs a valid version.
    const bare = operator === '==' || operator === '!=' ? version.replace(/\.\*$/, '') : version;
    if (operator !== '===' && pep440Valid(bare) === null) {
      throw manifestError(file, where, `"${version}" is not a PEP 440 version`);
    }
  }
  const spec = specs.map((s) => `${s.operator}${s.version}`).join(',');
  // Under an environment marker it may not apply where the others do: not compared.
  const range = requirement.environmentMarkerTree === undefined ? spec : null;
  return { ecosystem: 'pypi', name, spec, range, scope, file, ...where };
}

export function parseRequirementsTxt(file: string, text: string): ParsedFile {
  let requirements: RequirementWithLocation[];
  try {
    requirements = parsePipRequirementsFile(text, { includeLocations: true });
  } catch (err) {
    if (!(err instanceof RequirementsSyntaxError)) throw err;
    const line = /Line (\d+)/.exec(err.message)?.[1];
    throw manifestError(
      file,
      { line: line === undefined ? undefined : Number(line) },
      err.message.replace(/^Failed to parse requirements file\. (Line \d+, )?/, ''),
    );
  }
  const declarations = requirements.flatMap(({ data, location }) => {
    const requirement = strip(data);
    const d = declarationOf(requirement, file, 'requirements', { line: lineAt(text, location.startIdx) });
    return d === undefined ? [] : [d];
  });
  return { file, declarations, installed: [] };
}

/** The located requirement's plain form (each part of it comes as `{ data, location }`). */
function strip(value: unknown): Requirement {
  const unwrap = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(unwrap);
    if (v !== null && typeof v === 'object') {
      if ('data' in v && 'location' in v) return unwrap(v.data);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
    }
    return v;
  };
  return unwrap(value) as Requirement;
}

const requirementList = z.array(z.string());
const PyprojectSchema = z.looseObject({
  project: z
    .looseObject({
      dependencies: requirementList.optional(),
      'optional-dependencies': z.record(z.string(), requirementList).optional(),
    })
    .optional(),
  /** PEP 735: a group lists requirements and `{ include-group = "…" }` tables. */
  'dependency-groups': z
    .record(z.string(), z.array(z.union([z.string(), z.strictObject({ 'include-group': z.string() })])))
    .optional(),
});

export function parsePyprojectToml(file: string, text: string): ParsedFile {
  let document: unknown;
  try {
    document = parseToml(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    throw manifestError(
      file,
      { line: err.line },
      `not valid TOML: ${err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '')}`,
    );
  }
  const result = PyprojectSchema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw manifestError(file, { key: issue.path.map(String).join('.') }, issue.message);
  }
  const { project, 'dependency-groups': groups } = result.data;
  const lists: Array<[string, unknown[]]> = [
    ['project.dependencies', project?.dependencies ?? []],
    ...Object.entries(project?.['optional-dependencies'] ?? {}).map(
      ([extra, list]) => [`project.optional-dependencies.${extra}`, list] as [string, unknown[]],
    ),
    ...Object.entries(groups ?? {}).map(
      ([group, list]) => [`dependency-groups.${group}`, list] as [string, unknown[]],
    ),
  ];
  const declarations = lists.flatMap(([scope, list]) =>
    list.flatMap((entry, index) => {
      if (typeof entry !== 'string') return [];
      const key = `${scope}[${index}]`;
      let requirement: Requirement | null;
      try {
        requirement = parsePipRequirementsLine(entry);
      } catch (err) {
        if (!(err instanceof RequirementsSyntaxError)) throw err;
        throw manifestError(file, { key }, `"${entry}" is not a PEP 508 requirement`);
      }
      const d = requirement === null ? undefined : declarationOf(requirement, file, scope, { key });
      // null: an empty or comment-only entry; undefined: `-r`/`-c`, which pyproject.toml has not.
      if (d === undefined) throw manifestError(file, { key }, `"${entry}" is not a PEP 508 requirement`);
      return [d];
    }),
  );
  return { file, declarations, installed: [] };
}
