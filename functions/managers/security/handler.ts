import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { security } from '#shared/managers/impl/security.ts';

/** The security manager's contract calls (and the rotation schedule's, which is one of them). */
export const handler = managerHandler({ ...managerDeclaration('security'), id: 'security' }, security);
