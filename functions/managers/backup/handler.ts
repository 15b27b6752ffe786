import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { backup } from '#shared/managers/impl/backup.ts';

/** The backup manager's contract calls. */
export const handler = managerHandler({ ...managerDeclaration('backup'), id: 'backup' }, backup);
