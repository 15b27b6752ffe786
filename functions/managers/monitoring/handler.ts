import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { monitoring } from '#shared/managers/impl/monitoring.ts';

/** The monitoring manager's contract calls. */
export const handler = managerHandler({ ...managerDeclaration('monitoring'), id: 'monitoring' }, monitoring);
