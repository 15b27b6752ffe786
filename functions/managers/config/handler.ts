import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { config } from '#shared/managers/impl/config.ts';

/** The config manager's contract calls. */
export const handler = managerHandler({ ...managerDeclaration('config'), id: 'config' }, config);
