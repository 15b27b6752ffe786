import { createExecutionRoles, createStateMachines, createStateStore } from '../adapters/index.ts';
import type { Role } from '../auth/roles.ts';
import type { Config } from '../config.ts';
import { once } from '../lazy.ts';
import { MANAGER_ACTIONS } from '../managers/specs.ts';
import { RESOURCE_ENV } from '../resource-env.ts';
import { WorkflowService, type WorkflowSettings } from './service.ts';

/** Manager id → action → the role it needs, from the managers' one declaration of their actions. */
const ACTION_ROLES: WorkflowSettings['actionRoles'] = Object.fromEntries(
  Object.entries(MANAGER_ACTIONS).map(([id, actions]) => [
    id,
    Object.fromEntries(
      Object.entries(actions as Record<string, { role: Role }>).map(([name, spec]) => [name, spec.role]),
    ),
  ]),
);

/** The workflow service as a function's configuration builds it (edges built on first use). */
export function workflowService(config: Config): WorkflowService {
  return new WorkflowService({
    state: () => createStateStore(config),
    machines: once(createStateMachines),
    roles: once(createExecutionRoles),
    settings: () => {
      const w = config.workflows;
      if (!w) throw new Error(`Invalid configuration: ${RESOURCE_ENV.workflowStateMachinePrefix} is not set`);
      return { ...w, actionRoles: ACTION_ROLES };
    },
  });
}
