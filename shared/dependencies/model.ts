import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/** Dependency manifests: what is indexed per project, and the requests that index and report. */

export const ECOSYSTEMS = ['npm', 'go', 'pypi'] as const;
export type Ecosystem = (typeof ECOSYSTEMS)[number];

/** One package a manifest asks for. */
export interface Declaration {
  ecosystem: Ecosystem;
  /** npm and Go: as written; PyPI: normalized (PEP 503), so `Flask` and `flask` are one package. */
  name: string;
  /** The version spec as written (a range, a Go version, a PEP 440 specifier set, a URL…). */
  spec: string;
  /**
   * What conflicts are computed from: npm and Go, a semver range; PyPI, the PEP 440 specifier set
   * (`''`: any version). null when the spec has no comparable version (git, file:, workspace:,
   * npm: aliases, dist-tags, URLs, PyPI requirements under an environment marker, local replaces).
   */
  range: string | null;
  /** Where in the file: `dependencies`, `devDependencies`, `require`, `project.dependencies`… */
  scope: string;
  file: string;
  line?: number;
}

/** A version a lockfile installed (package-lock.json). */
export interface Installed {
  ecosystem: Ecosystem;
  name: string;
  version: string;
  file: string;
}

export interface ParsedFile {
  file: string;
  declarations: Declaration[];
  installed: Installed[];
}

/** What the state store holds for one project (one item, bounded by MAX_PROJECT_BYTES). */
export interface ProjectRecord {
  project: string;
  indexedAt: string;
  files: string[];
  declarations: Declaration[];
  installed: Installed[];
}

export const MANIFEST_FILES = [
  'package.json',
  'package-lock.json',
  'go.mod',
  'requirements.txt',
  'pyproject.toml',
] as const;
export type ManifestKind = (typeof MANIFEST_FILES)[number];

export const ProjectIdSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,99}$/,
    'must be 1-100 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
  );

const fileName = z
  .string()
  .min(1)
  .max(512)
  .refine((name) => !name.split('/').includes('..'), 'must not contain ".."')
  .refine(
    (name) => (MANIFEST_FILES as readonly string[]).includes(baseName(name)),
    `must end with one of ${MANIFEST_FILES.join(', ')}`,
  );

export const IndexRequestSchema = z.strictObject({
  project: ProjectIdSchema,
  /** Files of the project, e.g. `package.json` or `services/api/go.mod`; the name decides the parser. */
  files: z
    .array(z.strictObject({ name: fileName, content: z.string() }))
    .min(1)
    .max(50)
    .refine((files) => new Set(files.map((f) => f.name)).size === files.length, 'file names must be unique'),
});
export type IndexRequest = z.output<typeof IndexRequestSchema>;

const count = z.int().nonnegative();

/** A declaration in a report: which project, file, scope and spec. */
export const WhereSchema = z.object({
  project: z.string(),
  file: z.string(),
  scope: z.string(),
  spec: z.string(),
  line: z.int().positive().optional(),
});
export type Where = z.output<typeof WhereSchema>;

const ecosystem = z.enum(ECOSYSTEMS);

export const ConflictSchema = z.object({
  ecosystem,
  name: z.string(),
  /** Every comparable declaration of the package in the report's scope. */
  declarations: z.array(WhereSchema),
  /** Pairs of `declarations` (indexes) no one version satisfies, at most MAX_PAIRS_PER_PACKAGE. */
  incompatible: z.array(z.tuple([count, count])),
});
export type Conflict = z.output<typeof ConflictSchema>;

export const DuplicateSchema = z.object({
  ecosystem,
  name: z.string(),
  project: z.string(),
  reason: z.enum(['declared more than once', 'installed at several versions']),
  /** Where it is declared, or its installed versions. */
  declarations: z.array(WhereSchema).optional(),
  versions: z.array(z.string()).optional(),
});
export type Duplicate = z.output<typeof DuplicateSchema>;

export const SimilarPairSchema = z.object({
  a: z.object({ ecosystem, name: z.string() }),
  b: z.object({ ecosystem, name: z.string() }),
  /** Cosine similarity of the two packages' embeddings. */
  score: z.number(),
});
export type SimilarPair = z.output<typeof SimilarPairSchema>;

export const ReportSchema = z.object({
  /** The project the report is about (absent: every project). */
  project: z.string().optional(),
  projects: count,
  /** Distinct packages (ecosystem and name) declared. */
  packages: count,
  conflicts: z.array(ConflictSchema),
  duplicates: z.array(DuplicateSchema),
  /** PyPI pairs whose compatibility is not computed (two unpinned specifier sets). */
  notCompared: count,
  /** Packages similar by name and purpose (vector search), closest first; absent where not asked. */
  similar: z.array(SimilarPairSchema).optional(),
});
export type Report = z.output<typeof ReportSchema>;

export const ProjectSummarySchema = z.object({
  project: z.string(),
  indexedAt: z.iso.datetime(),
  files: z.array(z.string()),
  /** Declarations of its manifests. */
  packages: count,
  /** name@version pairs its lockfiles install. */
  installed: count,
});
export type ProjectSummary = z.output<typeof ProjectSummarySchema>;
export const ProjectListSchema = z.object({ projects: z.array(ProjectSummarySchema) });

export const IndexResultSchema = ProjectSummarySchema.extend({
  /** Conflicts this project takes part in (with itself or another project). */
  conflicts: count,
  report: ReportSchema,
});
export type IndexResult = z.output<typeof IndexResultSchema>;

/** Where uploads are indexed from: `dependencies/<project>/<file>` in the exports bucket. */
export const UPLOAD_PREFIX = 'dependencies/';

export const UploadKeySchema = z.string().transform((key, ctx) => {
  const rest = key.startsWith(UPLOAD_PREFIX) ? key.slice(UPLOAD_PREFIX.length) : '';
  const slash = rest.indexOf('/');
  const project = ProjectIdSchema.safeParse(rest.slice(0, Math.max(slash, 0)));
  const file = fileName.safeParse(rest.slice(slash + 1));
  if (slash >= 0 && project.success && file.success) return { project: project.data, file: file.data };
  ctx.addIssue({
    code: 'custom',
    message:
      slash < 0
        ? `must be ${UPLOAD_PREFIX}<project>/<file>`
        : !project.success
          ? `the project name ${project.error.issues[0]!.message}`
          : `the file name ${file.error?.issues[0]?.message}`,
  });
  return z.NEVER;
});

export const ReportQuerySchema = z.strictObject({ project: ProjectIdSchema.optional() });
export const ProjectPathSchema = z.strictObject({ project: ProjectIdSchema.optional() });

export function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/** A bad manifest: the file, its line or key, and the reason (`field` is `<file>:<line>` or `<file> <key>`). */
export function manifestError(
  file: string,
  where: { line?: number; key?: string },
  reason: string,
): ValidationError {
  const field = `${file}${where.line === undefined ? '' : `:${where.line}`}${where.key === undefined ? '' : ` ${where.key}`}`;
  return ValidationError.field(field, reason);
}

/** The 1-based line of a character offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < Math.min(offset, text.length); i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
