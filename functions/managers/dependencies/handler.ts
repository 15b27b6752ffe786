import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { dependencies } from '#shared/managers/impl/dependencies.ts';

/** The dependency manager's contract calls. */
export const handler = managerHandler(
  { ...managerDeclaration('dependencies'), id: 'dependencies' },
  dependencies,
);
