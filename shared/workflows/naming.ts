import { randomBytes } from 'node:crypto';

/**
 * How workflows are named outside the platform's records. A workflow's state machine is
 * `<service>-<stage>-<workflowId>` (the prefix comes with the `workflows:manage` access), its
 * execution role `wf-<…>` under the stage's role path, and an execution is addressed in the API as
 * `<workflowId>.<execution name>`, from which its ARN follows.
 */

export const WORKFLOW_ID = /^wf-[0-9a-f]{10}$/;
const EXECUTION_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Every stage's workflow state machines (`vector-platform` is the manifest's service): what the
 * status rule on the default bus selects; each stage's function keeps its own prefix's.
 */
export const WORKFLOW_STATE_MACHINE_ARN_WILDCARD = '*:stateMachine:vector-platform-*-wf-*';

export function newWorkflowId(): string {
  return `wf-${randomBytes(5).toString('hex')}`;
}

export function executionIdOf(workflowId: string, executionName: string): string {
  return `${workflowId}.${executionName}`;
}

/** The workflow and execution name an API execution id stands for, or undefined. */
export function parseExecutionId(id: string): { workflowId: string; name: string } | undefined {
  const dot = id.indexOf('.');
  const workflowId = id.slice(0, dot);
  const name = id.slice(dot + 1);
  return dot > 0 && WORKFLOW_ID.test(workflowId) && EXECUTION_NAME.test(name)
    ? { workflowId, name }
    : undefined;
}

/** `arn:…:stateMachine:<name>` → `arn:…:execution:<name>:<execution name>`. */
export function executionArnOf(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
}

/** The state machine name's workflow id, when it is one of this stage's (`prefix` + id). */
export function workflowIdOfStateMachine(stateMachineArn: string, prefix: string): string | undefined {
  const name = stateMachineArn.slice(stateMachineArn.lastIndexOf(':') + 1);
  if (!name.startsWith(prefix)) return undefined;
  const id = name.slice(prefix.length);
  return WORKFLOW_ID.test(id) ? id : undefined;
}
