import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { roadmap } from '#shared/managers/impl/roadmap.ts';

/** The roadmap manager's contract calls. */
export const handler = managerHandler({ ...managerDeclaration('roadmap'), id: 'roadmap' }, roadmap);
