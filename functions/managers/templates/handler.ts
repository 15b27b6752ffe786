import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { templates } from '#shared/managers/impl/templates.ts';

/** The template manager's contract calls. */
export const handler = managerHandler({ ...managerDeclaration('templates'), id: 'templates' }, templates);
