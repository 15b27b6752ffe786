import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { workflows } from '#shared/managers/impl/workflows.ts';

/** The workflow manager's contract calls. */
export const handler = managerHandler({ ...managerDeclaration('workflows'), id: 'workflows' }, workflows);
