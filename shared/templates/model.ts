import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { parsePlan } from '../plans/parser.ts';
import { PlanIdSchema } from '../plans/plan-id.ts';
import { MAX_PLAN_BYTES } from '../plans/schemas.ts';
import { renderBody, renderedBytesAtMost, VARIABLE_NAME, variablesOf } from './mustache.ts';

/** Plan and task templates: markdown bodies with declared variables, as the API takes and answers them. */

export const TEMPLATE_KINDS = ['plan', 'task'] as const;
export type TemplateKind = (typeof TEMPLATE_KINDS)[number];

/** A body's UTF-8 bytes at most: a template is one state item, and DynamoDB items hold 400 KB. */
export const MAX_BODY_BYTES = 200_000;
/** A value given to a variable, UTF-8 bytes at most. */
export const MAX_VALUE_BYTES = 20_000;
export const MAX_VARIABLES = 50;

export const TemplateIdSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,63}$/,
    'must be 1-64 lowercase letters, digits or "-", starting with a letter or digit',
  );

const VariableSchema = z.strictObject({
  name: z.string().regex(VARIABLE_NAME, 'must be letters, digits and _, not starting with a digit').max(64),
  description: z.string().max(500).default(''),
  required: z.boolean().default(false),
  /** Used when an instantiation gives no value. */
  default: z.string().max(MAX_VALUE_BYTES).optional(),
});
export type Variable = z.output<typeof VariableSchema>;

const bytes = (max: number) =>
  z.string().refine((s) => Buffer.byteLength(s, 'utf8') <= max, `must be at most ${max} bytes (UTF-8)`);

const TemplateFields = {
  kind: z.enum(TEMPLATE_KINDS),
  title: z.string().trim().min(1).max(200),
  description: z.string().max(2_000).default(''),
  tags: z.array(z.string().trim().min(1).max(50)).max(20).default([]),
  body: z.string().min(1).pipe(bytes(MAX_BODY_BYTES)),
  variables: z.array(VariableSchema).max(MAX_VARIABLES).default([]),
};

/** What a template's text must satisfy beyond its fields' shapes (issues relative to the template). */
function checkTemplate(
  template: { kind: TemplateKind; body: string; variables: Variable[] },
  ctx: z.RefinementCtx,
): void {
  const names = template.variables.map((v) => v.name);
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) {
      ctx.addIssue({
        code: 'custom',
        path: ['variables', i, 'name'],
        message: `"${name}" is declared twice`,
      });
    }
  });
  template.variables.forEach((v, i) => {
    if (v.required && v.default !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['variables', i, 'default'],
        message: 'a required variable takes no default (remove it, or make the variable optional)',
      });
    }
  });
  let uses: Map<string, number>;
  try {
    uses = variablesOf(template.body);
  } catch (err) {
    ctx.addIssue({ code: 'custom', path: ['body'], message: (err as ValidationError).issues[0]!.reason });
    return;
  }
  const used = [...uses.keys()];
  const undeclared = used.filter((name) => !names.includes(name));
  if (undeclared.length > 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['body'],
      message: `uses undeclared variables: ${undeclared.join(', ')} (declare them in variables)`,
    });
  }
  names.forEach((name, i) => {
    if (!used.includes(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['variables', i, 'name'],
        message: `"${name}" is not used by the body`,
      });
    }
  });
  if (undeclared.length > 0) return;
  // Rendered with sample values (defaults, else the variable's name), the body must hold a task
  // the roadmap's parser reads: a plan's tasks are what indexing it makes searchable.
  const sample = Object.fromEntries(template.variables.map((v) => [v.name, v.default || v.name]));
  if (renderedBytesAtMost(template.body, uses, sample) > MAX_PLAN_BYTES) {
    ctx.addIssue({
      code: 'custom',
      path: ['body'],
      message: `rendered with its defaults it would exceed the ${MAX_PLAN_BYTES} bytes a plan may hold`,
    });
    return;
  }
  if (tasksIn(renderBody(template.body, sample)) === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['body'],
      message:
        'rendered with sample values (defaults, else the names) it holds no task the plan parser reads (e.g. a "- [ ] …" line)',
    });
  }
}

/** Tasks the roadmap's parser finds in rendered markdown. */
export function tasksIn(markdown: string): number {
  return parsePlan(markdown, { planId: 'template' }).tasks.length;
}

export const TemplateInputSchema = z
  .strictObject({ id: TemplateIdSchema, ...TemplateFields })
  .superRefine(checkTemplate);
export type TemplateInput = z.output<typeof TemplateInputSchema>;

/** A replace: the same fields, the id being the path's. */
export const TemplateReplaceSchema = z.strictObject(TemplateFields).superRefine(checkTemplate);
export type TemplateReplace = z.output<typeof TemplateReplaceSchema>;

export const TemplateSchema = z.strictObject({
  id: z.string(),
  kind: z.enum(TEMPLATE_KINDS),
  title: z.string(),
  description: z.string(),
  tags: z.array(z.string()),
  body: z.string(),
  variables: z.array(
    z.strictObject({
      name: z.string(),
      description: z.string(),
      required: z.boolean(),
      default: z.string().optional(),
    }),
  ),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  /** 1 when created, one more at each replace. */
  version: z.int().positive(),
});
export type Template = z.infer<typeof TemplateSchema>;

export const TemplateAnswerSchema = z.strictObject({ template: TemplateSchema });

export const TemplateSummarySchema = TemplateSchema.omit({ body: true, variables: true });
export type TemplateSummary = z.infer<typeof TemplateSummarySchema>;
export const TemplateListSchema = z.strictObject({ templates: z.array(TemplateSummarySchema) });

export const TemplatePathSchema = z.strictObject({ id: TemplateIdSchema.optional() });

export const ListQuerySchema = z.strictObject({
  kind: z.enum(TEMPLATE_KINDS).optional(),
  tag: z.string().min(1).max(50).optional(),
});

export const SuggestRequestSchema = z.strictObject({
  description: z.string().trim().min(1).max(2_000),
  kind: z.enum(TEMPLATE_KINDS).optional(),
  limit: z.int().min(1).max(20).default(5),
});
export type SuggestRequest = z.output<typeof SuggestRequestSchema>;

export const SuggestionSchema = TemplateSummarySchema.pick({
  id: true,
  kind: true,
  title: true,
  description: true,
  tags: true,
}).extend({ score: z.number() });
export const SuggestionsSchema = z.strictObject({ templates: z.array(SuggestionSchema) });
export type Suggestion = z.infer<typeof SuggestionSchema>;

const ValuesSchema = z.record(z.string(), z.string().pipe(bytes(MAX_VALUE_BYTES))).default({});

export const RenderRequestSchema = z.strictObject({ variables: ValuesSchema });
export const RenderedSchema = z.strictObject({ templateId: z.string(), markdown: z.string() });

export const InstantiateRequestSchema = z.strictObject({
  /** The plan's id (its path, e.g. `plans/launch-2027.md`), as `POST /plans` takes it. */
  planId: PlanIdSchema,
  variables: ValuesSchema,
});
export type InstantiateRequest = z.output<typeof InstantiateRequestSchema>;

/** What the roadmap answers of an indexing that an instantiation reports (its other fields dropped). */
export const IndexedPlanSchema = z.object({
  planId: z.string(),
  created: z.boolean(),
  tasks: z.object({
    total: z.int(),
    added: z.int(),
    changed: z.int(),
    removed: z.int(),
    unchanged: z.int(),
  }),
});
export type IndexedPlan = z.infer<typeof IndexedPlanSchema>;

export const InstantiatedSchema = z.strictObject({ templateId: z.string(), plan: IndexedPlanSchema });

/** The values to render a template with: defaults filled in; missing and unknown ones refused. */
export function valuesFor(
  template: Template,
  given: Readonly<Record<string, string>>,
): Record<string, string> {
  const declared = new Map(template.variables.map((v) => [v.name, v]));
  const unknown = Object.keys(given).filter((name) => !declared.has(name));
  const missing = template.variables.filter((v) => v.required && !Object.hasOwn(given, v.name));
  const issues = [
    ...unknown.map((name) => ({
      field: `variables.${name}`,
      reason: `is not a variable of template "${template.id}" (it declares: ${[...declared.keys()].join(', ') || 'none'})`,
    })),
    ...missing.map((v) => ({ field: `variables.${v.name}`, reason: 'is required' })),
  ];
  if (issues.length > 0) {
    throw new ValidationError(`variables: ${issues.map((i) => `${i.field} ${i.reason}`).join('; ')}`, issues);
  }
  return Object.fromEntries(
    template.variables.map((v) => [
      v.name,
      Object.hasOwn(given, v.name) ? given[v.name]! : (v.default ?? ''),
    ]),
  );
}
