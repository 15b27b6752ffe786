import type { ExecutionStatus, HistoryEvent } from './model.ts';

/**
 * The engines' edges, as the workflow service needs them: Step Functions (AWS's, or the local
 * runtime's, which speaks the same API) and IAM's roles.
 */

export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  input?: string;
  output?: string;
  error?: string;
  cause?: string;
}

export interface StateMachines {
  create(name: string, definition: string, roleArn: string): Promise<string>;
  update(stateMachineArn: string, definition: string, roleArn: string): Promise<void>;
  delete(stateMachineArn: string): Promise<void>;
  start(
    stateMachineArn: string,
    name: string,
    input: string,
  ): Promise<{ executionArn: string; startDate: Date }>;
  /** Undefined when there is no such execution. */
  describe(executionArn: string): Promise<ExecutionDescription | undefined>;
  list(
    stateMachineArn: string,
    options: { status?: ExecutionStatus; limit: number; nextToken?: string },
  ): Promise<{ executions: ExecutionDescription[]; nextToken?: string }>;
  /** The first `limit` events, oldest first; `truncated` when there were more. */
  history(executionArn: string, limit: number): Promise<{ events: HistoryEvent[]; truncated: boolean }>;
  stop(executionArn: string, error?: string, cause?: string): Promise<void>;
}

export interface ExecutionRoles {
  /**
   * Creates the role (trusting Step Functions, bounded by `boundaryArn`) if it is missing, and
   * sets its one policy to invoking exactly `functionArns`; answers its ARN.
   */
  put(role: {
    name: string;
    path: string;
    boundaryArn: string;
    functionArns: readonly string[];
  }): Promise<string>;
  /** Deletes the role and its policy; nothing when it is already gone. */
  remove(name: string): Promise<void>;
}
