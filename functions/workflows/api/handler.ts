import { NotFoundError } from '#shared/errors.ts';
import { actorOf, HttpResult, httpHandler, readJsonBody } from '#shared/http.ts';
import { parseWith } from '#shared/validation.ts';
import { workflowService } from '#shared/workflows/clients.ts';
import {
  AllExecutionsQuerySchema,
  ExecuteBodySchema,
  ExecutionsQuerySchema,
  StopBodySchema,
  WorkflowInputSchema,
  WorkflowPathSchema,
} from '#shared/workflows/model.ts';

/** Workflows under `/api/v1/workflows` and their executions under `/api/v1/executions`. */
export const handler = httpHandler({ path: WorkflowPathSchema }, async ({ path, event, config }) => {
  const service = workflowService(config);
  const id = path.id ?? '';
  const executionId = path.executionId ?? '';
  const actor = actorOf(event);
  const body = <S extends Parameters<typeof parseWith>[0]>(schema: S) =>
    parseWith(schema, readJsonBody(event, config.maxBodyBytes), '');
  switch (event.routeKey) {
    case 'GET /api/v1/workflows':
      return { workflows: await service.list() };
    case 'POST /api/v1/workflows': {
      const workflow = await service.create(body(WorkflowInputSchema), actor);
      return new HttpResult(201, { workflow }, { location: `/api/v1/workflows/${workflow.id}` });
    }
    case 'GET /api/v1/workflows/{id}':
      return { workflow: await service.get(id) };
    case 'PUT /api/v1/workflows/{id}':
      return { workflow: await service.replace(id, body(WorkflowInputSchema), actor) };
    case 'DELETE /api/v1/workflows/{id}':
      await service.delete(id, actor);
      return new HttpResult(204, undefined);
    case 'POST /api/v1/workflows/{id}/execute': {
      // An empty body runs it with `{}`, as the console does.
      const input = event.body ? body(ExecuteBodySchema).input : undefined;
      const execution = await service.execute(id, input, actor);
      return new HttpResult(202, { execution }, { location: `/api/v1/executions/${execution.executionId}` });
    }
    case 'GET /api/v1/workflows/{id}/executions': {
      const query = parseWith(ExecutionsQuerySchema, event.queryStringParameters ?? {}, 'query');
      return service.executions(id, query);
    }
    case 'GET /api/v1/executions': {
      const { status, limit } = parseWith(
        AllExecutionsQuerySchema,
        event.queryStringParameters ?? {},
        'query',
      );
      return { executions: await service.allExecutions({ limit, ...(status ? { status } : {}) }) };
    }
    case 'GET /api/v1/executions/{executionId}':
      return { execution: await service.execution(executionId) };
    case 'POST /api/v1/executions/{executionId}/stop': {
      const reason = event.body ? body(StopBodySchema) : {};
      return { execution: await service.stop(executionId, reason, actor) };
    }
    default:
      // The manifest routes nothing else here (ROUTE_ROLES refuses undeclared routes before this).
      throw new NotFoundError(`no route ${event.routeKey}`);
  }
});
