import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { vectorization } from '#shared/managers/impl/vectorization.ts';

/** The vectorization manager's contract calls. */
export const handler = managerHandler(
  { ...managerDeclaration('vectorization'), id: 'vectorization' },
  vectorization,
);
