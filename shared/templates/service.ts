import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '../errors.ts';
import type { EventPublisher } from '../events/publisher.ts';
import { MAX_PLAN_BYTES } from '../plans/schemas.ts';
import type { StateStore } from '../ports.ts';
import type { TextCollection } from '../vectors/text-collection.ts';
import {
  type IndexedPlan,
  type InstantiateRequest,
  type Suggestion,
  type SuggestRequest,
  type Template,
  type TemplateInput,
  type TemplateReplace,
  type TemplateSummary,
  tasksIn,
  valuesFor,
} from './model.ts';
import { renderBody, renderedBytesAtMost, variablesOf } from './mustache.ts';

/** One state item per template under this partition, keyed by its id. */
export const TEMPLATES_PK = 'TEMPLATES';

/** The collection `suggest` searches: one point per template (title, description and tags embedded). */
export const TEMPLATES_COLLECTION = 'templates';

/** Indexes a rendered plan through the roadmap manager (its `index` action). */
export interface PlanIndexer {
  index(input: { planId: string; markdown: string }, by: string): Promise<IndexedPlan>;
}

export interface TemplateServiceDeps {
  state: () => StateStore;
  /** The `templates` collection (TEMPLATES_COLLECTION). */
  collection: () => TextCollection;
  publisher: () => EventPublisher;
  roadmap: () => PlanIndexer;
  /** The manager's configuration (read through the config cache). */
  options: () => Promise<{ minSuggestScore: number }>;
}

type StoredTemplate = Omit<Template, 'version'>;

function summaryOf(t: Template): TemplateSummary {
  const { body: _body, variables: _variables, ...summary } = t;
  return summary;
}

export class TemplateService {
  readonly #deps: TemplateServiceDeps;
  constructor(deps: TemplateServiceDeps) {
    this.#deps = deps;
  }

  /** Stores a new template (409 when its id is taken), indexes it for `suggest`, publishes TemplateSaved. */
  async create(input: TemplateInput): Promise<Template> {
    const now = new Date().toISOString();
    const record: StoredTemplate = { ...input, createdAt: now, updatedAt: now };
    let version: number;
    try {
      ({ version } = await this.#deps.state().put(TEMPLATES_PK, input.id, record, { expectedVersion: 0 }));
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      throw new ConflictError(`template "${input.id}" already exists; replace it with PUT`, [
        { field: 'id', reason: 'a template of this id exists' },
      ]);
    }
    return this.#saved({ ...record, version }, true);
  }

  /** Replaces a template's fields (404 when absent; 409 when replaced concurrently). */
  async replace(id: string, input: TemplateReplace): Promise<Template> {
    const current = await this.#item(id);
    const record: StoredTemplate = {
      id,
      ...input,
      createdAt: current.value.createdAt,
      updatedAt: new Date().toISOString(),
    };
    const { version } = await this.#deps
      .state()
      .put(TEMPLATES_PK, id, record, { expectedVersion: current.version });
    return this.#saved({ ...record, version }, false);
  }

  async get(id: string): Promise<Template> {
    const item = await this.#item(id);
    return { ...item.value, version: item.version };
  }

  async list(filter: { kind?: string; tag?: string } = {}): Promise<TemplateSummary[]> {
    return (await this.#all())
      .filter((t) => filter.kind === undefined || t.kind === filter.kind)
      .filter((t) => filter.tag === undefined || t.tags.includes(filter.tag))
      .map(summaryOf);
  }

  async delete(id: string): Promise<void> {
    await this.#item(id);
    await this.#deps.state().delete(TEMPLATES_PK, id);
    await this.#deps.collection().remove([id]);
    await this.#deps.publisher().publish('TemplateDeleted', { templateId: id });
  }

  /** The templates whose title, description and tags are nearest to a description, best first. */
  async suggest(request: SuggestRequest): Promise<Suggestion[]> {
    const { minSuggestScore } = await this.#deps.options();
    const hits = await ofCollection(() =>
      this.#deps.collection().nearestTo(request.description, {
        limit: request.limit,
        minScore: minSuggestScore,
        ...(request.kind ? { filter: { must: [{ key: 'kind', match: { value: request.kind } }] } } : {}),
      }),
    );
    const suggestions: Suggestion[] = [];
    for (const hit of hits) {
      // The state store is the truth: a point whose template is gone is left out.
      const item = await this.#deps.state().get<StoredTemplate>(TEMPLATES_PK, hit.id);
      if (!item) continue;
      const { id, kind, title, description, tags } = item.value;
      suggestions.push({ id, kind, title, description, tags, score: hit.score });
    }
    return suggestions;
  }

  /** A template's body rendered with values (defaults filled in; missing or unknown ones refused). */
  async render(id: string, given: Readonly<Record<string, string>>): Promise<string> {
    return renderChecked(await this.get(id), given);
  }

  /**
   * Renders a plan template and indexes the result through the roadmap manager: the plan is then
   * listed with the others and its tasks are searchable. Publishes TemplateInstantiated.
   */
  async instantiate(
    id: string,
    request: InstantiateRequest,
    by: string,
  ): Promise<{ templateId: string; plan: IndexedPlan }> {
    const template = await this.get(id);
    if (template.kind !== 'plan') {
      throw ValidationError.field(
        'id',
        `"${id}" is a ${template.kind} template: only plan templates instantiate into plans (render it with POST /templates/${id}/render)`,
      );
    }
    const markdown = renderChecked(template, request.variables);
    if (tasksIn(markdown) === 0) {
      throw ValidationError.field('variables', 'with these values the rendered plan holds no task');
    }
    const plan = await this.#deps.roadmap().index({ planId: request.planId, markdown }, by);
    await this.#deps.publisher().publish('TemplateInstantiated', {
      templateId: id,
      planId: plan.planId,
      tasks: plan.tasks.total,
    });
    return { templateId: id, plan };
  }

  /** Upserts every stored template's point again (after a lost write or a new embedder's collection). */
  async reindex(): Promise<{ indexed: number }> {
    const templates = await this.#all();
    for (const template of templates) await this.#index(template);
    return { indexed: templates.length };
  }

  async count(): Promise<Record<string, number>> {
    const counts: Record<string, number> = { plan: 0, task: 0 };
    for (const t of await this.#all()) counts[t.kind] = (counts[t.kind] ?? 0) + 1;
    return counts;
  }

  async #saved(template: Template, created: boolean): Promise<Template> {
    await this.#index(template);
    await this.#deps.publisher().publish('TemplateSaved', {
      templateId: template.id,
      kind: template.kind,
      version: template.version,
      created,
    });
    return template;
  }

  /** The template's point: its title, description and tags embedded, its kind for the filter. */
  async #index(template: Template): Promise<void> {
    const text = [template.title, template.description, template.tags.join(', ')]
      .filter((part) => part !== '')
      .join('\n');
    await ofCollection(() =>
      this.#deps.collection().put([{ id: template.id, text, payload: { kind: template.kind } }]),
    );
  }

  async #item(id: string): Promise<{ value: StoredTemplate; version: number }> {
    const item = await this.#deps.state().get<StoredTemplate>(TEMPLATES_PK, id);
    if (!item) {
      throw new NotFoundError(`no template "${id}"`, [{ field: 'id', reason: 'no template has this id' }]);
    }
    return item;
  }

  async #all(): Promise<Template[]> {
    return (await this.#deps.state().list<StoredTemplate>(TEMPLATES_PK)).map((i) => ({
      ...i.value,
      version: i.version,
    }));
  }
}

/**
 * A call on the templates collection. The vector service refuses text for a collection of another
 * embedding model as the caller's bad field (400): here the caller named no collection, so it is
 * the platform's state that conflicts (409), with what repairs it.
 */
async function ofCollection<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const reason = err.issues[0]?.reason ?? err.message;
    throw new ConflictError(
      `${reason}: delete the collection "${TEMPLATES_COLLECTION}", then run the templates manager's reindex action`,
      [{ field: 'collection', reason }],
    );
  }
}

/** Renders with checked values, refusing (413) an output larger than a plan may be before writing it. */
function renderChecked(template: Template, given: Readonly<Record<string, string>>): string {
  const values = valuesFor(template, given);
  const bytes = renderedBytesAtMost(template.body, variablesOf(template.body), values);
  if (bytes > MAX_PLAN_BYTES) {
    throw new PayloadTooLargeError(
      `variables: rendered with these values the template could take ${bytes} bytes; a plan holds at most ${MAX_PLAN_BYTES}`,
      [{ field: 'variables', reason: `the rendered markdown could exceed ${MAX_PLAN_BYTES} bytes` }],
    );
  }
  return renderBody(template.body, values);
}
