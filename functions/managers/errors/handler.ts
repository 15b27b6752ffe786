import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { errors } from '#shared/managers/impl/errors.ts';

/** The error manager's contract calls. */
export const handler = managerHandler({ ...managerDeclaration('errors'), id: 'errors' }, errors);
