import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { migration } from '#shared/managers/impl/migration.ts';

/** The migration manager's contract calls. */
export const handler = managerHandler({ ...managerDeclaration('migration'), id: 'migration' }, migration);
