import { managerDeclaration } from '#infra/managers.ts';
import { managerHandler } from '#shared/managers/contract-handler.ts';
import { notifications } from '#shared/managers/impl/notifications.ts';

/** The notifications manager's contract calls. */
export const handler = managerHandler(
  { ...managerDeclaration('notifications'), id: 'notifications' },
  notifications,
);
