import { managerDeclaration } from '#infra/managers.ts';
import { manifest } from '#infra/manifest.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { apiGateway } from '#shared/managers/impl/api-gateway.ts';

/** The API gateway manager's contract calls; its figures are per declared route. */
export const handler = managerHandler(
  { ...managerDeclaration('api-gateway'), id: 'api-gateway' },
  apiGateway(manifest.routes.map((r) => ({ method: r.method, resource: r.path }))),
);
