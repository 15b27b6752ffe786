import { NotFoundError, PayloadTooLargeError } from '../errors.ts';
import type { EventPublisher } from '../events/publisher.ts';
import type { StateStore } from '../ports.ts';
import type { IndexRequest, IndexResult, ProjectRecord, ProjectSummary, Report } from './model.ts';
import { parseManifest } from './parse.ts';
import { buildReport } from './report.ts';

/** One state item per project under this partition. */
export const DEPENDENCIES_PK = 'DEPENDENCIES#PROJECTS';

/**
 * What one project's item may hold, bytes of its JSON: DynamoDB refuses items over 400 KB, and
 * the item's keys and attributes need some of that.
 */
export const MAX_PROJECT_BYTES = 350_000;

export interface DependencyServiceDeps {
  state: () => StateStore;
  publisher: () => EventPublisher;
  /** The manager's configuration (read through the config cache). */
  options: () => Promise<{ compareDevDependencies: boolean }>;
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
    const record: ProjectRecord = {
      project: request.project,
      indexedAt: new Date().toISOString(),
      files: request.files.map((f) => f.name),
      declarations: parsed.flatMap((p) => p.declarations),
      installed: parsed.flatMap((p) => p.installed),
    };
    const bytes = Buffer.byteLength(JSON.stringify(record));
    if (bytes > MAX_PROJECT_BYTES) {
      throw new PayloadTooLargeError(
        `project ${request.project}: its index takes ${bytes} bytes, more than the ${MAX_PROJECT_BYTES} one project may store; index its parts as separate projects`,
        [{ field: 'files', reason: `the index of these files exceeds ${MAX_PROJECT_BYTES} bytes` }],
      );
    }
    await this.#deps.state().put(DEPENDENCIES_PK, record.project, record);
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

  /** Across every project, or the conflicts one project takes part in and its duplicates. */
  async report(project?: string): Promise<Report> {
    const records = await this.#records();
    if (project !== undefined && !records.some((r) => r.project === project)) throw notFound(project);
    return buildReport(records, { project, ...(await this.#deps.options()) });
  }

  async delete(project: string): Promise<void> {
    const state = this.#deps.state();
    if ((await state.get(DEPENDENCIES_PK, project)) === undefined) throw notFound(project);
    await state.delete(DEPENDENCIES_PK, project);
  }

  async #records(): Promise<ProjectRecord[]> {
    return (await this.#deps.state().list<ProjectRecord>(DEPENDENCIES_PK)).map((i) => i.value);
  }
}

function notFound(project: string): NotFoundError {
  return new NotFoundError(`no indexed project "${project}"`, [
    { field: 'project', reason: 'no project of this name is indexed' },
  ]);
}
