import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  type IAMClient,
  NoSuchEntityException,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import type { ExecutionRoles } from '../workflows/ports.ts';
import { awsCall } from './aws-errors.ts';

/** The one inline policy of a workflow's execution role. */
export const EXECUTION_ROLE_POLICY = 'invoke-managers';

const TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/**
 * Workflows' execution roles through IAM (`@aws-sdk/client-iam`; locally `local/iam-roles.ts`):
 * each trusts Step Functions, carries the stage's permissions boundary and one policy naming the
 * manager functions its workflow's tasks invoke.
 */
export class IamExecutionRoles implements ExecutionRoles {
  readonly #client: IAMClient;

  constructor(client: IAMClient) {
    this.#client = client;
  }

  async put(role: { name: string; path: string; boundaryArn: string; functionArns: readonly string[] }) {
    const arn = await awsCall('IAM CreateRole', async () => {
      try {
        const out = await this.#client.send(
          new CreateRoleCommand({
            RoleName: role.name,
            Path: role.path,
            AssumeRolePolicyDocument: TRUST,
            PermissionsBoundary: role.boundaryArn,
            Description: 'Runs one workflow: invokes the manager functions its tasks name',
          }),
        );
        return out.Role!.Arn!;
      } catch (err) {
        if (!(err instanceof EntityAlreadyExistsException)) throw err;
        const out = await this.#client.send(new GetRoleCommand({ RoleName: role.name }));
        return out.Role!.Arn!;
      }
    });
    // A workflow of no tasks invokes nothing: no policy at all (IAM wants a statement in one).
    if (role.functionArns.length === 0) await this.#deletePolicy(role.name);
    else {
      const document = {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: [...role.functionArns] }],
      };
      await awsCall('IAM PutRolePolicy', () =>
        this.#client.send(
          new PutRolePolicyCommand({
            RoleName: role.name,
            PolicyName: EXECUTION_ROLE_POLICY,
            PolicyDocument: JSON.stringify(document),
          }),
        ),
      );
    }
    return arn;
  }

  async remove(name: string): Promise<void> {
    await this.#deletePolicy(name);
    await awsCall('IAM DeleteRole', async () => {
      try {
        await this.#client.send(new DeleteRoleCommand({ RoleName: name }));
      } catch (err) {
        if (!(err instanceof NoSuchEntityException)) throw err;
      }
    });
  }

  async #deletePolicy(name: string): Promise<void> {
    await awsCall('IAM DeleteRolePolicy', async () => {
      try {
        await this.#client.send(
          new DeleteRolePolicyCommand({ RoleName: name, PolicyName: EXECUTION_ROLE_POLICY }),
        );
      } catch (err) {
        if (!(err instanceof NoSuchEntityException)) throw err;
      }
    });
  }
}
