import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '../errors.ts';
import type { EventPublisher } from '../events/publisher.ts';
import type { StateStore } from '../ports.ts';
import type { TextCollection } from '../vectors/text-collection.ts';
import {
  type IndexRequest,
  type IndexResult,
  type ParsedFile,
  type ProjectRecord,
  type ProjectSummary,
  type Report,
  UploadKeySchema,
} from './model.ts';
import { parseManifest } from './parse.ts';
import { buildReport } from './report.ts';
import { declaredPackages, embedNew, similarPairs } from './similar.ts';

/** One state item per project under this partition. */
export const DEPENDENCIES_PK = 'DEPENDENCIES#PROJECTS';

/**
 * What one project's item may hold, bytes of its JSON: DynamoDB refuses items over 400 KB, and
 * the item's keys and attributes need some of that.
 */
export const MAX_PROJECT_BYTES = 350_000;

/** An uploaded manifest larger than this is refused unread (the state item could not hold its index anyway). */
export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;

/** Concurrent uploads to one project: each retries its read-modify-write this often. */
const UPLOAD_ATTEMPTS = 5;

export interface DependencyServiceDeps {
  state: () => StateStore;
  publisher: () => EventPublisher;
  /** The indexed packages' embeddings (similar packages). */
  packages: () => TextCollection;
  /** The manager's configuration (read through the config cache). */
  options: () => Promise<{ compareDevDependencies: boolean; similarityThreshold: number }>;
}

function summaryOf(record: ProjectRecord): ProjectSummary {
  return {
    project: record.project,
    indexedAt: record.indexedAt,
    files: record.files,
    packages: record.declarations.length,
    installed: record.installed.length,
  };
}

export class DependencyService {
  readonly #deps: DependencyServiceDeps;
  constructor(deps: DependencyServiceDeps) {
    this.#deps = deps;
  }

  /**
   * Parses every file (the first bad one refuses the whole request: nothing is stored), replaces the
   * project's record, and publishes DependenciesIndexed with the conflicts it takes part in.
   */
  async index(request: IndexRequest): Promise<IndexResult> {
    const parsed = request.files.map((f) => parseManifest(f.name, f.content));
    const record = recordOf(request.project, parsed);
    checkSize(record);
    await this.#deps.state().put(DEPENDENCIES_PK, record.project, record);
    return this.#indexed(record);
  }

  /**
   * A manifest uploaded as `dependencies/<project>/<file>`: replaces that file's part of the
   * project's record (the project is created by its first file). A bad key, file or size is
   * published as DependenciesRejected (an upload has no one to answer) and not retried.
   */
  async indexUpload(
    key: string,
    object: { size: number; read: () => Promise<string> },
  ): Promise<IndexResult | undefined> {
    let project: string | undefined;
    try {
      const parsedKey = UploadKeySchema.safeParse(key);
      if (!parsedKey.success) throw ValidationError.field('key', parsedKey.error.issues[0]!.message);
      project = parsedKey.data.project;
      const file = parsedKey.data.file;
      if (object.size > MAX_UPLOAD_BYTES) {
        throw ValidationError.field(
          file,
          `${object.size} bytes: an uploaded manifest may have at most ${MAX_UPLOAD_BYTES}`,
        );
      }
      const parsed = parseManifest(file, await object.read());
      return await this.#mergeUpload(project, parsed);
    } catch (err) {
      if (!(err instanceof ValidationError || err instanceof PayloadTooLargeError)) throw err;
      const issue = err.issues[0] ?? { field: 'key', reason: err.message };
      await this.#deps.publisher().publish('DependenciesRejected', {
        key,
        ...(project === undefined ? {} : { project }),
        field: issue.field,
        reason: issue.reason,
      });
      return undefined;
    }
  }

  async #mergeUpload(project: string, parsed: ParsedFile): Promise<IndexResult> {
    const state = this.#deps.state();
    for (let attempt = 1; ; attempt++) {
      const stored = await state.get<ProjectRecord>(DEPENDENCIES_PK, project);
      const others = (stored?.value.files ?? []).filter((f) => f !== parsed.file);
      const keep = <T extends { file: string }>(list: T[] | undefined) =>
        (list ?? []).filter((x) => x.file !== parsed.file);
      const record: ProjectRecord = {
        project,
        indexedAt: new Date().toISOString(),
        files: [...others, parsed.file].sort(),
        declarations: [...keep(stored?.value.declarations), ...parsed.declarations],
        installed: [...keep(stored?.value.installed), ...parsed.installed],
      };
      checkSize(record);
      try {
        await state.put(DEPENDENCIES_PK, project, record, { expectedVersion: stored?.version ?? 0 });
        return await this.#indexed(record);
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= UPLOAD_ATTEMPTS) throw err;
      }
    }
  }

  async #indexed(record: ProjectRecord): Promise<IndexResult> {
    await embedNew(this.#deps.packages(), declaredPackages([record]));
    const report = await this.report(record.project);
    const result = { ...summaryOf(record), conflicts: report.conflicts.length, report };
    await this.#deps.publisher().publish('DependenciesIndexed', {
      project: result.project,
      files: result.files,
      packages: result.packages,
      conflicts: result.conflicts,
    });
    return result;
  }

  async list(): Promise<ProjectSummary[]> {
    return (await this.#records()).map(summaryOf);
  }

  /**
   * Across every project, or the conflicts one project takes part in, its duplicates and the
   * packages similar to its own. `similar: false` leaves the vector search out (the metrics).
   */
  async report(project?: string, { similar = true } = {}): Promise<Report> {
    const records = await this.#records();
    const own = records.find((r) => r.project === project);
    if (project !== undefined && !own) throw notFound(project);
    const options = await this.#deps.options();
    const report = buildReport(records, { project, ...options });
    if (!similar) return report;
    const declared = declaredPackages(records);
    const scope = own ? declaredPackages([own]) : declared;
    const pairs = await similarPairs(this.#deps.packages(), scope, declared, options.similarityThreshold);
    return { ...report, similar: pairs };
  }

  /** Deletes a project's record, and the embeddings of the packages no other project declares. */
  async delete(project: string): Promise<void> {
    const state = this.#deps.state();
    const stored = await state.get<ProjectRecord>(DEPENDENCIES_PK, project);
    if (stored === undefined) throw notFound(project);
    await state.delete(DEPENDENCIES_PK, project);
    const still = declaredPackages(await this.#records());
    const orphans = [...declaredPackages([stored.value]).keys()].filter((id) => !still.has(id));
    await this.#deps.packages().remove(orphans);
  }

  async #records(): Promise<ProjectRecord[]> {
    return (await this.#deps.state().list<ProjectRecord>(DEPENDENCIES_PK)).map((i) => i.value);
  }
}

function recordOf(project: string, parsed: ParsedFile[]): ProjectRecord {
  return {
    project,
    indexedAt: new Date().toISOString(),
    files: parsed.map((p) => p.file),
    declarations: parsed.flatMap((p) => p.declarations),
    installed: parsed.flatMap((p) => p.installed),
  };
}

function checkSize(record: ProjectRecord): void {
  const bytes = Buffer.byteLength(JSON.stringify(record));
  if (bytes > MAX_PROJECT_BYTES) {
    throw new PayloadTooLargeError(
      `project ${record.project}: its index takes ${bytes} bytes, more than the ${MAX_PROJECT_BYTES} one project may store; index its parts as separate projects`,
      [{ field: 'files', reason: `the index of these files exceeds ${MAX_PROJECT_BYTES} bytes` }],
    );
  }
}

function notFound(project: string): NotFoundError {
  return new NotFoundError(`no indexed project "${project}"`, [
    { field: 'project', reason: 'no project of this name is indexed' },
  ]);
}
