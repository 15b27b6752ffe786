import type { QdrantClient } from '@qdrant/js-client-rest';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { createEmbedder } from '#shared/embeddings/index.ts';
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '#shared/errors.ts';
import {
  type IndexedPlan,
  type Template,
  TemplateInputSchema,
  TemplateReplaceSchema,
  valuesFor,
} from '#shared/templates/model.ts';
import { renderBody, variablesOf } from '#shared/templates/mustache.ts';
import { TEMPLATES_COLLECTION, TemplateService } from '#shared/templates/service.ts';
import { parseWith } from '#shared/validation.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';
import { VectorService } from '#shared/vectors/service.ts';
import { TextCollection } from '#shared/vectors/text-collection.ts';
import { fileStore, RecordingBus, tempDir } from '../managers/support.ts';

const PLAN_BODY = `# {{project}} launch

## Preparation
- [ ] Write the {{project}} release notes
- [ ] Book the launch review with {{owner}}
{{#beta}}
- [ ] Open the beta to {{beta}}
{{/beta}}
`;

const planInput = (over: Record<string, unknown> = {}) => ({
  id: 'launch',
  kind: 'plan',
  title: 'Product launch',
  description: 'Release notes, launch review and beta for a new product',
  tags: ['launch', 'release'],
  body: PLAN_BODY,
  variables: [
    { name: 'project', required: true },
    { name: 'owner', default: 'the product lead' },
    { name: 'beta', description: 'who gets the beta (none: no beta task)' },
  ],
  ...over,
});

/** The issues a template input is refused with (or [] when it is accepted). */
function issuesOf(input: unknown): Array<{ field: string; reason: string }> {
  try {
    parseWith(TemplateInputSchema, input, '');
    return [];
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return err.issues;
  }
}

describe('variablesOf (mustache tokens)', () => {
  it('lists the variables of names, triple mustaches, sections and inverted sections, with written uses', () => {
    const uses = variablesOf('{{a}} {{{b}}} {{& c}} {{#d}}{{a}}{{/d}}{{^e}}x{{/e}}{{! comment }}');
    expect([...uses]).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 1],
      ['d', 0],
      ['e', 0],
    ]);
  });

  it('names a parse error with its line and column', () => {
    expect(() => variablesOf('line one\nline {{two')).toThrow(/body: Unclosed tag at line 2, column 6/);
    expect(() => variablesOf('# T\n\n{{#a}}\n- [ ] x\n')).toThrow(/Unclosed section "a" at line 5, column 1/);
    expect(() => variablesOf('{{/a}}')).toThrow(/Unopened section "a" at line 1, column 1/);
  });

  it('refuses partials and names that look into objects', () => {
    expect(() => variablesOf('x\n {{> header}}')).toThrow(/partials are not supported .* line 2, column 2/);
    expect(() => variablesOf('{{a.b}}')).toThrow(/"a.b" at line 1, column 1 is not a variable name/);
    expect(() => variablesOf('{{.}}')).toThrow(ValidationError);
  });

  it('gives any text a list of variables or a ValidationError, never another error', () => {
    const piece = fc.constantFrom(
      '{{',
      '}}',
      '{{{',
      '}}}',
      '#',
      '^',
      '/',
      '&',
      '>',
      '!',
      '=',
      'a',
      ' ',
      '\n',
      '.',
    );
    const text = fc.oneof(
      fc.string(),
      fc.array(piece, { maxLength: 30 }).map((p) => p.join('')),
    );
    fc.assert(
      fc.property(text, (body) => {
        try {
          for (const name of variablesOf(body).keys()) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
        } catch (err) {
          expect(err).toBeInstanceOf(ValidationError);
          expect((err as ValidationError).issues[0]!.field).toBe('body');
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('renderBody', () => {
  it('writes values as they are (markdown, not HTML) and renders a section for a non-empty value', () => {
    const body = '{{x}} {{#flag}}yes{{/flag}}{{^flag}}no{{/flag}}';
    expect(renderBody(body, { x: '<b>a & "b"</b>', flag: 'on' })).toBe('<b>a & "b"</b> yes');
    expect(renderBody(body, { x: '', flag: '' })).toBe(' no');
  });

  it('does not change how other mustache users escape', async () => {
    renderBody('{{x}}', { x: '<' });
    const Mustache = (await import('mustache')).default;
    expect(Mustache.render('{{x}}', { x: '<' })).toBe('&lt;');
  });
});

describe('TemplateInputSchema', () => {
  it('accepts a plan template whose variables match its body and that renders tasks', () => {
    const template = parseWith(TemplateInputSchema, planInput(), '');
    expect(template.variables[2]).toEqual({
      name: 'beta',
      description: 'who gets the beta (none: no beta task)',
      required: false,
    });
  });

  it('names undeclared variables, unused declarations, repeats and a required default', () => {
    expect(issuesOf(planInput({ body: `${PLAN_BODY}{{due}}` }))).toEqual([
      { field: 'body', reason: 'uses undeclared variables: due (declare them in variables)' },
    ]);
    const vars = [
      { name: 'project', required: true, default: 'x' },
      { name: 'owner' },
      { name: 'beta' },
      { name: 'beta' },
      { name: 'unused' },
    ];
    expect(issuesOf(planInput({ variables: vars }))).toEqual([
      { field: 'variables.3.name', reason: '"beta" is declared twice' },
      {
        field: 'variables.0.default',
        reason: 'a required variable takes no default (remove it, or make the variable optional)',
      },
      { field: 'variables.4.name', reason: '"unused" is not used by the body' },
    ]);
  });

  it('refuses a body that renders no task, a bad parse with its position, partials, and bad fields', () => {
    expect(issuesOf(planInput({ body: '# {{project}} {{owner}} {{beta}}\n\nJust prose.' }))[0]).toMatchObject(
      {
        field: 'body',
        reason: expect.stringMatching(/holds no task the plan parser reads/),
      },
    );
    expect(issuesOf(planInput({ body: '- [ ] {{project}\n' }))[0]).toEqual({
      field: 'body',
      reason: 'Unclosed tag at line 1, column 7',
    });
    expect(issuesOf(planInput({ body: '{{> x}}' }))[0]!.reason).toMatch(/partials are not supported/);
    expect(issuesOf(planInput({ id: 'Bad Id', kind: 'epic' })).map((i) => i.field)).toEqual(['id', 'kind']);
    expect(issuesOf(planInput({ body: 'x'.repeat(200_001) }))[0]).toMatchObject({ field: 'body' });
  });

  it('refuses a body whose defaults would render more than a plan may hold', () => {
    const body = `- [ ] ${'{{v}}'.repeat(300)}`;
    const issues = issuesOf(planInput({ body, variables: [{ name: 'v', default: 'x'.repeat(20_000) }] }));
    expect(issues[0]).toMatchObject({ field: 'body', reason: expect.stringMatching(/would exceed/) });
  });

  it('turns any JSON into a template or a ValidationError, never another error', () => {
    const variable = fc.record(
      {
        name: fc.oneof(fc.constantFrom('a', 'b', 'x_1'), fc.string()),
        required: fc.boolean(),
        default: fc.string(),
      },
      { requiredKeys: ['name'] },
    );
    const body = fc.oneof(
      fc.string(),
      fc
        .array(fc.constantFrom('- [ ] ', '{{a}}', '{{#b}}', '{{/b}}', '{{> p}}', '{{', '\n', '# T\n'), {
          maxLength: 12,
        })
        .map((p) => p.join('')),
    );
    const input = fc.oneof(
      fc.anything(),
      fc.record({
        id: fc.oneof(fc.constant('t'), fc.string()),
        kind: fc.constantFrom('plan', 'task', 'other'),
        title: fc.string(),
        body,
        variables: fc.array(variable, { maxLength: 4 }),
      }),
    );
    fc.assert(
      fc.property(input, (value) => {
        try {
          parseWith(TemplateReplaceSchema.or(TemplateInputSchema), value, '');
        } catch (err) {
          expect(err).toBeInstanceOf(ValidationError);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('valuesFor', () => {
  const template = parseWith(TemplateInputSchema, planInput(), '') as unknown as Template;

  it('fills defaults (and empty optional values)', () => {
    expect(valuesFor(template, { project: 'Atlas' })).toEqual({
      project: 'Atlas',
      owner: 'the product lead',
      beta: '',
    });
  });

  it('names missing required and unknown variables', () => {
    const err = (() => {
      try {
        valuesFor(template, { owner: 'Ann', colour: 'red' });
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect(err!.issues).toEqual([
      {
        field: 'variables.colour',
        reason: 'is not a variable of template "launch" (it declares: project, owner, beta)',
      },
      { field: 'variables.project', reason: 'is required' },
    ]);
  });
});

describe('TemplateService', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let server: QdrantServer;
  let qdrant: QdrantClient;
  let bus: RecordingBus;
  let indexed: Array<{ planId: string; markdown: string; by: string }>;
  let service: TemplateService;
  const embedder = createEmbedder({
    provider: 'local',
    model: LOCAL_EMBEDDING_MODEL,
    dimensions: LOCAL_EMBEDDING_DIMENSIONS,
  });

  beforeAll(async () => {
    dir = await tempDir('vp-templates-unit-');
    server = await startQdrantServer({ dataDir: `${dir.path}/qdrant`, port: 0 });
    qdrant = getQdrantClient({ url: server.url });
  });

  afterAll(async () => {
    await server?.close();
    await dir.cleanup();
  });

  beforeEach(async () => {
    await qdrant.deleteCollection(TEMPLATES_COLLECTION).catch(() => undefined);
    bus = new RecordingBus();
    indexed = [];
    const state = fileStore(`${dir.path}/state-${Math.random()}`);
    service = new TemplateService({
      state: () => state,
      collection: () =>
        new TextCollection({
          name: TEMPLATES_COLLECTION,
          vectors: () =>
            new VectorService({ qdrant, embedder: () => embedder, defaultCollection: 'vectors' }),
          qdrant: () => qdrant,
        }),
      publisher: () => bus.publisher(),
      roadmap: () => ({
        async index(input, by): Promise<IndexedPlan> {
          indexed.push({ ...input, by });
          return {
            planId: input.planId,
            created: true,
            tasks: { total: 3, added: 3, changed: 0, removed: 0, unchanged: 0 },
          };
        },
      }),
      options: async () => ({ minSuggestScore: 0.05 }),
    });
  });

  const create = (over: Record<string, unknown> = {}) =>
    service.create(parseWith(TemplateInputSchema, planInput(over), ''));

  it('creates, reads, lists by kind and tag, replaces (version 2) and deletes, publishing each', async () => {
    const created = await create();
    expect(created).toMatchObject({ id: 'launch', version: 1, kind: 'plan' });
    await create({
      id: 'bug-task',
      kind: 'task',
      title: 'Bug fix task',
      description: 'Reproduce, fix and test a reported bug',
      tags: ['bug'],
      body: '- [ ] Fix {{bug}}\n',
      variables: [{ name: 'bug', required: true }],
    });
    await expect(create()).rejects.toThrow(ConflictError);
    expect(await service.get('launch')).toEqual(created);
    expect((await service.list({ kind: 'task' })).map((t) => t.id)).toEqual(['bug-task']);
    expect((await service.list({ tag: 'release' })).map((t) => t.id)).toEqual(['launch']);
    expect(await service.list()).not.toContainEqual(expect.objectContaining({ body: expect.anything() }));

    const { id: _id, ...fields } = planInput({ title: 'Launch, revised' });
    const replaced = await service.replace('launch', parseWith(TemplateReplaceSchema, fields, ''));
    expect(replaced).toMatchObject({ version: 2, title: 'Launch, revised', createdAt: created.createdAt });
    await expect(service.replace('nope', parseWith(TemplateReplaceSchema, fields, ''))).rejects.toThrow(
      NotFoundError,
    );

    await service.delete('bug-task');
    await expect(service.get('bug-task')).rejects.toThrow(NotFoundError);
    await expect(service.delete('bug-task')).rejects.toThrow(NotFoundError);
    expect(bus.ofType('TemplateSaved')).toEqual([
      { schemaVersion: 1, templateId: 'launch', kind: 'plan', version: 1, created: true },
      { schemaVersion: 1, templateId: 'bug-task', kind: 'task', version: 1, created: true },
      { schemaVersion: 1, templateId: 'launch', kind: 'plan', version: 2, created: false },
    ]);
    expect(bus.ofType('TemplateDeleted')).toEqual([{ schemaVersion: 1, templateId: 'bug-task' }]);
  });

  it('suggests the closest templates first, by kind, and forgets deleted ones', async () => {
    expect(await service.suggest({ description: 'anything', limit: 5 })).toEqual([]);
    await create();
    await create({
      id: 'incident',
      title: 'Incident postmortem',
      description: 'Timeline, root cause and follow-up actions after an outage',
      tags: ['incident', 'outage'],
    });
    await create({
      id: 'bug-task',
      kind: 'task',
      title: 'Bug fix',
      description: 'Reproduce and fix a bug',
      tags: ['bug'],
      body: '- [ ] Fix {{bug}}\n',
      variables: [{ name: 'bug', required: true }],
    });
    const found = await service.suggest({ description: 'postmortem of the outage root cause', limit: 5 });
    expect(found[0]).toMatchObject({ id: 'incident', kind: 'plan', title: 'Incident postmortem' });
    expect(found[0]!.score).toBeGreaterThan(found[1]?.score ?? 0);
    const tasks = await service.suggest({ description: 'fix a bug', kind: 'task', limit: 5 });
    expect(tasks.map((t) => t.id)).toEqual(['bug-task']);

    await service.delete('incident');
    const after = await service.suggest({ description: 'postmortem of the outage root cause', limit: 5 });
    expect(after.map((t) => t.id)).not.toContain('incident');
  });

  it('reindex embeds every stored template again', async () => {
    await create();
    await qdrant.deleteCollection(TEMPLATES_COLLECTION);
    expect(await service.suggest({ description: 'product launch', limit: 5 })).toEqual([]);
    expect(await service.reindex()).toEqual({ indexed: 1 });
    expect((await service.suggest({ description: 'product launch', limit: 5 }))[0]?.id).toBe('launch');
  });

  it('answers 409 naming the collection when it holds another embedding model', async () => {
    await qdrant.createCollection(TEMPLATES_COLLECTION, {
      vectors: { size: LOCAL_EMBEDDING_DIMENSIONS, distance: 'Cosine' },
      metadata: { embedding: { model: 'another-model', dimensions: LOCAL_EMBEDDING_DIMENSIONS } },
    });
    const refused = create().catch((err: unknown) => err);
    expect(await refused).toBeInstanceOf(ConflictError);
    expect(((await refused) as ConflictError).issues[0]!.field).toBe('collection');
    await expect(service.suggest({ description: 'launch', limit: 5 })).rejects.toThrow(
      /holds embeddings of model "another-model".*run the templates manager's reindex action/,
    );
  });

  it('instantiates a plan template through the roadmap indexer and publishes TemplateInstantiated', async () => {
    await create();
    const result = await service.instantiate(
      'launch',
      { planId: 'plans/atlas.md', variables: { project: 'Atlas', beta: 'ten customers' } },
      'ann',
    );
    expect(result).toEqual({
      templateId: 'launch',
      plan: expect.objectContaining({ planId: 'plans/atlas.md', created: true }),
    });
    expect(indexed).toEqual([
      {
        planId: 'plans/atlas.md',
        markdown: expect.stringContaining('- [ ] Book the launch review with the product lead'),
        by: 'ann',
      },
    ]);
    expect(indexed[0]!.markdown).toContain('- [ ] Open the beta to ten customers');
    expect(bus.ofType('TemplateInstantiated')).toEqual([
      { schemaVersion: 1, templateId: 'launch', planId: 'plans/atlas.md', tasks: 3 },
    ]);
  });

  it('refuses to instantiate a task template, missing values, and an output over the plan limit', async () => {
    await create({
      id: 'bug-task',
      kind: 'task',
      body: '- [ ] Fix {{bug}}\n',
      variables: [{ name: 'bug', required: true }],
    });
    await expect(
      service.instantiate('bug-task', { planId: 'p.md', variables: { bug: 'x' } }, 'ann'),
    ).rejects.toThrow(/only plan templates instantiate/);
    expect(await service.render('bug-task', { bug: '#12 <crash>' })).toBe('- [ ] Fix #12 <crash>\n');

    await create({ body: `${PLAN_BODY}${'{{owner}}'.repeat(400)}` });
    await expect(service.instantiate('launch', { planId: 'p.md', variables: {} }, 'ann')).rejects.toThrow(
      /variables.project is required/,
    );
    await expect(
      service.instantiate(
        'launch',
        { planId: 'p.md', variables: { project: 'A', owner: 'o'.repeat(20_000) } },
        'ann',
      ),
    ).rejects.toThrow(PayloadTooLargeError);
    expect(indexed).toEqual([]);
  });
});
