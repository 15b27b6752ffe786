import { managerDeclaration, managerDeclarations } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { centralCoordinator } from '#shared/managers/impl/central-coordinator.ts';

/** The central coordinator's contract calls. */
export const handler = managerHandler(
  { ...managerDeclaration('central-coordinator'), id: 'central-coordinator' },
  centralCoordinator(managerDeclarations()),
);
