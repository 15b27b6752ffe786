import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import {
  type IOidcProvider,
  OidcProviderNative,
  OpenIdConnectPrincipal,
  PolicyStatement,
  Role,
} from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/** GitHub Actions' OIDC issuer, and the audience `aws-actions/configure-aws-credentials` asks for. */
export const GITHUB_OIDC_URL = 'https://token.actions.githubusercontent.com';
export const GITHUB_OIDC_AUDIENCE = 'sts.amazonaws.com';
const CLAIM_PREFIX = 'token.actions.githubusercontent.com';

/**
 * The roles `cdk bootstrap` creates (default qualifier) that the CDK CLI itself assumes: deploy
 * (CloudFormation, which then acts through the bootstrap's execution role), file and image asset
 * publishing, and context lookups.
 */
export const CDK_BOOTSTRAP_QUALIFIER = 'hnb659fds';
export const CDK_BOOTSTRAP_ROLES = ['deploy', 'file-publishing', 'image-publishing', 'lookup'] as const;

/**
 * The workflow runs allowed to deploy (`.github/workflows/deploy.yml`): a job on `main` without an
 * environment (dev) and a job in the `prod` environment. An environment's token carries no branch,
 * so the `prod` environment's deployment-branch rule in GitHub limits it to `main`.
 */
export function deploySubjects(repository: string): string[] {
  return [`repo:${repository}:ref:refs/heads/main`, `repo:${repository}:environment:prod`];
}

export interface DeployAccessStackProps extends StackProps {
  /** `owner/name` of the GitHub repository whose workflows may deploy. */
  repository: string;
  /** The account's existing GitHub OIDC provider; without it, this stack creates one. */
  oidcProviderArn?: string;
  /** Every region the stage stacks deploy to (their region and the edge's us-east-1). */
  deployRegions: string[];
}

/**
 * What lets GitHub Actions deploy without long-lived keys: the account's GitHub OIDC provider and a
 * role that only the repository's `main` branch and `prod` environment can assume, and whose only
 * permission is to assume the CDK bootstrap roles. What a deploy may change is therefore decided
 * by the bootstrap (its execution role), not here. Deployed once per account by an administrator,
 * never by the role itself (`cdk deploy --all` in CI does not include it: see `infra/app.ts`).
 */
export class DeployAccessStack extends Stack {
  readonly provider: IOidcProvider;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: DeployAccessStackProps) {
    super(scope, id, props);
    this.provider = props.oidcProviderArn
      ? OidcProviderNative.fromOidcProviderArn(this, 'GitHubOidc', props.oidcProviderArn)
      : new OidcProviderNative(this, 'GitHubOidc', {
          url: GITHUB_OIDC_URL,
          clientIds: [GITHUB_OIDC_AUDIENCE],
        });

    this.role = new Role(this, 'DeployRole', {
      description: `GitHub Actions deploys of ${props.repository} (main, environment prod) through the CDK bootstrap roles`,
      assumedBy: new OpenIdConnectPrincipal(this.provider, {
        StringEquals: {
          [`${CLAIM_PREFIX}:aud`]: GITHUB_OIDC_AUDIENCE,
          [`${CLAIM_PREFIX}:sub`]: deploySubjects(props.repository),
        },
      }),
      maxSessionDuration: Duration.hours(1),
    });
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: [...new Set(props.deployRegions)].flatMap((region) =>
          CDK_BOOTSTRAP_ROLES.map(
            (name) =>
              `arn:${this.partition}:iam::${this.account}:role/cdk-${CDK_BOOTSTRAP_QUALIFIER}-${name}-role-${this.account}-${region}`,
          ),
        ),
      }),
    );

    new CfnOutput(this, 'DeployRoleArn', {
      value: this.role.roleArn,
      description: 'The GitHub variable AWS_DEPLOY_ROLE_ARN (docs/deploying.md)',
    });
  }
}
