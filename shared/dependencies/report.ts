import { satisfies as pep440Satisfies } from '@renovatebot/pep440';
import semver from 'semver';
import type { Conflict, Declaration, Duplicate, Ecosystem, ProjectRecord, Report, Where } from './model.ts';

/**
 * Conflicts and duplicates over the indexed projects (pure: the service reads the records).
 *
 * - npm and Go: two declarations conflict when their semver ranges do not intersect.
 * - PyPI: no maintained library intersects PEP 440 specifier sets, so only what can be decided
 *   exactly is: a pinned version (`==X`, `===X`) against the other's specifiers (two different
 *   pins included). Two unpinned, non-empty specifier sets are counted in `notCompared`.
 */

export interface ReportOptions {
  /** Only the conflicts this project takes part in, and its duplicates. */
  project?: string;
  /** Whether npm devDependencies take part in conflicts. */
  compareDevDependencies: boolean;
}

/** At most this many incompatible pairs are listed per package (the declarations are all listed). */
export const MAX_PAIRS_PER_PACKAGE = 100;

type Verdict = 'compatible' | 'incompatible' | 'not compared';

function pinOf(specifiers: string): string | undefined {
  const pins = specifiers.split(',').flatMap((s) => /^\s*===?\s*([^*\s]+)\s*$/.exec(s)?.[1] ?? []);
  return pins[0];
}

export function compare(ecosystem: Ecosystem, a: string, b: string): Verdict {
  if (ecosystem !== 'pypi') {
    return semver.intersects(a, b, { includePrerelease: true }) ? 'compatible' : 'incompatible';
  }
  if (a === '' || b === '') return 'compatible';
  const pinA = pinOf(a);
  const pinB = pinOf(b);
  if (pinA === undefined && pinB === undefined) return 'not compared';
  const ok =
    (pinA === undefined || pep440Satisfies(pinA, b)) && (pinB === undefined || pep440Satisfies(pinB, a));
  return ok ? 'compatible' : 'incompatible';
}

const keyOf = (d: { ecosystem: string; name: string }) => `${d.ecosystem}\u0000${d.name}`;

function whereOf(project: string, d: Declaration): Where {
  return {
    project,
    file: d.file,
    scope: d.scope,
    spec: d.spec,
    ...(d.line === undefined ? {} : { line: d.line }),
  };
}

export function buildReport(records: readonly ProjectRecord[], options: ReportOptions): Report {
  const byPackage = new Map<string, Array<{ project: string; d: Declaration }>>();
  for (const record of records) {
    for (const d of record.declarations) {
      const list = byPackage.get(keyOf(d)) ?? [];
      list.push({ project: record.project, d });
      byPackage.set(keyOf(d), list);
    }
  }
  const conflicts: Conflict[] = [];
  let notCompared = 0;
  for (const all of byPackage.values()) {
    const entries = all.filter(
      (e) => e.d.range !== null && (options.compareDevDependencies || e.d.scope !== 'devDependencies'),
    );
    const incompatible: Array<[number, number]> = [];
    for (let i = 0; i < entries.length; i++) {
      for (let j = i + 1; j < entries.length; j++) {
        const a = entries[i]!;
        const b = entries[j]!;
        if (options.project !== undefined && a.project !== options.project && b.project !== options.project)
          continue;
        const verdict = compare(a.d.ecosystem, a.d.range!, b.d.range!);
        if (verdict === 'not compared') notCompared++;
        else if (verdict === 'incompatible' && incompatible.length < MAX_PAIRS_PER_PACKAGE)
          incompatible.push([i, j]);
      }
    }
    if (incompatible.length > 0) {
      const { ecosystem, name } = entries[0]!.d;
      conflicts.push({
        ecosystem,
        name,
        declarations: entries.map((e) => whereOf(e.project, e.d)),
        incompatible,
      });
    }
  }
  const inScope =
    options.project === undefined ? records : records.filter((r) => r.project === options.project);
  const packages = new Set(inScope.flatMap((r) => r.declarations.map(keyOf)));
  return {
    ...(options.project === undefined ? {} : { project: options.project }),
    projects: inScope.length,
    packages: packages.size,
    conflicts: conflicts.sort((x, y) => keyOf(x).localeCompare(keyOf(y))),
    duplicates: inScope.flatMap(duplicatesOf),
    notCompared,
  };
}

/** Within one project: a package declared in several places, or installed at several versions. */
export function duplicatesOf(record: ProjectRecord): Duplicate[] {
  const declared = new Map<string, Declaration[]>();
  for (const d of record.declarations) declared.set(keyOf(d), [...(declared.get(keyOf(d)) ?? []), d]);
  const installed = new Map<string, Set<string>>();
  for (const i of record.installed)
    installed.set(keyOf(i), (installed.get(keyOf(i)) ?? new Set()).add(i.version));
  const project = record.project;
  return [
    ...[...declared.values()]
      .filter((list) => list.length > 1)
      .map(
        (list): Duplicate => ({
          ecosystem: list[0]!.ecosystem,
          name: list[0]!.name,
          project,
          reason: 'declared more than once',
          declarations: list.map((d) => whereOf(project, d)),
        }),
      ),
    ...[...installed.entries()]
      .filter(([, versions]) => versions.size > 1)
      .map(([key, versions]): Duplicate => {
        const [ecosystem, name] = key.split('\u0000') as [Ecosystem, string];
        return {
          ecosystem,
          name,
          project,
          reason: 'installed at several versions',
          versions: [...versions].sort(semver.compare),
        };
      }),
  ];
}
