import { managerDeclaration } from '#infra/managers.ts';
import { NotFoundError } from '#shared/errors.ts';
import { callerOf, HttpResult, httpHandler, readJsonBody } from '#shared/http.ts';
import { planPath } from '#shared/plans/plan-id.ts';
import { templateService } from '#shared/templates/clients.ts';
import {
  InstantiateRequestSchema,
  ListQuerySchema,
  RenderRequestSchema,
  SuggestRequestSchema,
  TemplateInputSchema,
  TemplatePathSchema,
  TemplateReplaceSchema,
} from '#shared/templates/model.ts';
import { parseWith } from '#shared/validation.ts';

/** Templates under `/api/v1/templates`. Each route is one case below. */
export const handler = httpHandler({ path: TemplatePathSchema }, async ({ path, event, config }) => {
  const service = templateService(config, managerDeclaration('roadmap'));
  const id = path.id ?? '';
  const body = <S extends Parameters<typeof parseWith>[0]>(schema: S) =>
    parseWith(schema, readJsonBody(event, config.maxBodyBytes), '');
  switch (event.routeKey) {
    case 'POST /api/v1/templates':
      return new HttpResult(201, { template: await service.create(body(TemplateInputSchema)) });
    case 'GET /api/v1/templates': {
      const query = parseWith(ListQuerySchema, event.queryStringParameters ?? {}, 'query');
      return { templates: await service.list(query) };
    }
    case 'POST /api/v1/templates/suggest':
      return { templates: await service.suggest(body(SuggestRequestSchema)) };
    case 'GET /api/v1/templates/{id}':
      return { template: await service.get(id) };
    case 'PUT /api/v1/templates/{id}':
      return { template: await service.replace(id, body(TemplateReplaceSchema)) };
    case 'DELETE /api/v1/templates/{id}':
      await service.delete(id);
      return new HttpResult(204, undefined);
    case 'POST /api/v1/templates/{id}/render':
      return { templateId: id, markdown: await service.render(id, body(RenderRequestSchema).variables) };
    case 'POST /api/v1/templates/{id}/instantiate': {
      const result = await service.instantiate(id, body(InstantiateRequestSchema), callerOf(event));
      return new HttpResult(result.plan.created ? 201 : 200, result, {
        location: planPath(result.plan.planId),
      });
    }
    default:
      // The manifest routes nothing else here (ROUTE_ROLES refuses undeclared routes before this).
      throw new NotFoundError(`no route ${event.routeKey}`);
  }
});
