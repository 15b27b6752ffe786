import type { ManagerId } from './specs.ts';

/**
 * A manager as its declaration in the manifest makes it, with what it owns resolved (its
 * functions' routes, queues, rules and schedules): what `describe` reports and the coordinator
 * drives. Built from the manifest by `infra/managers.ts`; domain code only sees this shape.
 */
export interface ManagerDeclaration {
  id: ManagerId;
  name: string;
  description: string;
  stoppable: boolean;
  /** Its contract function's manifest key. */
  function: string;
  /** Its contract function and the capability functions it owns. */
  functions: readonly string[];
  routes: readonly string[];
  queues: readonly string[];
  rules: readonly string[];
  schedules: readonly string[];
  emits: readonly string[];
  consumes: readonly string[];
}
