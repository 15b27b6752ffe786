import { dependencyService } from '#shared/dependencies/clients.ts';
import { IndexRequestSchema, ProjectPathSchema, ReportQuerySchema } from '#shared/dependencies/model.ts';
import { NotFoundError } from '#shared/errors.ts';
import { HttpResult, httpHandler, readJsonBody } from '#shared/http.ts';
import { parseWith } from '#shared/validation.ts';

/** Dependency manifests under `/api/v1/dependencies`: index, list, report, delete. Each route is one case. */
export const handler = httpHandler({ path: ProjectPathSchema }, async ({ path, event, config }) => {
  const service = dependencyService(config);
  switch (event.routeKey) {
    case 'POST /api/v1/dependencies':
      return service.index(parseWith(IndexRequestSchema, readJsonBody(event, config.maxBodyBytes), ''));
    case 'GET /api/v1/dependencies':
      return { projects: await service.list() };
    case 'GET /api/v1/dependencies/report': {
      const query = parseWith(ReportQuerySchema, event.queryStringParameters ?? {}, 'query');
      return service.report(query.project);
    }
    case 'DELETE /api/v1/dependencies/{project}':
      await service.delete(path.project ?? '');
      return new HttpResult(204, undefined);
    default:
      // The manifest routes nothing else here (ROUTE_ROLES refuses undeclared routes before this).
      throw new NotFoundError(`no route ${event.routeKey}`);
  }
});
