import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../infra/stacks/settings.ts';
import {
  actionsOf,
  cfnString,
  logicalIdOf,
  platform,
  resourcesOf,
  statementsOfRole,
  TEST_REGION,
} from './support.ts';

const REPOSITORY = 'example-org/vector-platform';
const EXISTING_PROVIDER = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';

function deployAccess(context: Record<string, unknown> = {}) {
  const built = platform({ context: { githubRepository: REPOSITORY, ...context } });
  if (!built.deployAccess) throw new Error('no deploy access stack');
  return { ...built, deployAccess: built.deployAccess, template: Template.fromStack(built.deployAccess) };
}

describe('the deploy access stack', () => {
  it('exists only when githubRepository is given, so `cdk deploy --all` in CI never includes it', () => {
    const { app, deployAccess: absent } = platform();
    expect(absent).toBeUndefined();
    expect(app.node.children.map((c) => c.node.id)).not.toContain('VectorPlatform-DeployAccess');
    expect(deployAccess().deployAccess.stackName).toBe('VectorPlatform-DeployAccess');
  });

  it("creates GitHub's OIDC provider with the STS audience as its only client id", () => {
    const { template } = deployAccess();
    template.resourceCountIs('AWS::IAM::OIDCProvider', 1);
    expect(Object.values(template.findResources('AWS::IAM::OIDCProvider'))[0]?.Properties).toEqual({
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
      Tags: [{ Key: 'service', Value: 'vector-platform' }],
    });
  });

  it('lets only web identities of the repository’s main branch and prod environment, for STS, assume the role', () => {
    const { template, deployAccess: stack } = deployAccess();
    const role = template.toJSON().Resources[logicalIdOf(stack.role)];
    expect(role.Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'sts:AssumeRoleWithWebIdentity',
          Principal: { Federated: { Ref: logicalIdOf(stack.provider) } },
          Condition: {
            StringEquals: {
              'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
              'token.actions.githubusercontent.com:sub': [
                `repo:${REPOSITORY}:ref:refs/heads/main`,
                `repo:${REPOSITORY}:environment:prod`,
              ],
            },
          },
        },
      ],
    });
  });

  it('may only assume the CDK bootstrap roles of its account in the stage region and us-east-1', () => {
    const { template, deployAccess: stack } = deployAccess();
    const role = template.toJSON().Resources[logicalIdOf(stack.role)];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    expect(Object.keys(template.findResources('AWS::IAM::Policy'))).toHaveLength(1);
    const statements = statementsOfRole(template, logicalIdOf(stack.role));
    expect(statements.map((s) => [s.Effect, actionsOf(s)])).toEqual([['Allow', ['sts:AssumeRole']]]);
    const expected = [TEST_REGION, 'us-east-1'].flatMap((region) =>
      ['deploy', 'file-publishing', 'image-publishing', 'lookup'].map(
        (name) => `arn:aws:iam::<AWS::AccountId>:role/cdk-hnb659fds-${name}-role-<AWS::AccountId>-${region}`,
      ),
    );
    expect(resourcesOf(statements[0]!).map(cfnString).sort()).toEqual(expected.sort());
  });

  it('trusts the account’s existing provider instead of creating a second one when given its ARN', () => {
    const { template, deployAccess: stack } = deployAccess({ githubOidcProviderArn: EXISTING_PROVIDER });
    template.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    const role = template.toJSON().Resources[logicalIdOf(stack.role)];
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({
      Federated: EXISTING_PROVIDER,
    });
  });

  it('passes cdk-nag with no acknowledgement', () => {
    const { app, deployAccess: stack } = platform({ nag: true, context: { githubRepository: REPOSITORY } });
    expect(() => app.synth()).not.toThrow();
    const acknowledged = stack!.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
    expect(acknowledged).toEqual([]);
  });

  it('is checked by cdk-nag: a wildcard grant on the role fails the synth', () => {
    const { app, deployAccess: stack } = platform({ nag: true, context: { githubRepository: REPOSITORY } });
    stack!.role.addToPolicy(new PolicyStatement({ actions: ['sts:AssumeRole'], resources: ['*'] }));
    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5/);
  });
});

describe('deploy access context', () => {
  it.each([
    ['example', 'githubRepository'],
    ['example/*', 'githubRepository'],
    ['-owner/repo', 'githubRepository'],
    ['owner/repo/extra', 'githubRepository'],
  ])('refuses githubRepository %j, naming the field', (value, field) => {
    expect(() => parseSettings({ githubRepository: value })).toThrow(new RegExp(`${field}: owner/name`));
  });

  it('refuses a provider ARN for another issuer, and one without a repository', () => {
    expect(() =>
      parseSettings({
        githubRepository: REPOSITORY,
        githubOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/accounts.google.com',
      }),
    ).toThrow(/githubOidcProviderArn/);
    expect(() => parseSettings({ githubOidcProviderArn: EXISTING_PROVIDER })).toThrow(
      /githubOidcProviderArn: needs githubRepository/,
    );
  });

  it('reads the repository and an existing provider', () => {
    expect(parseSettings({}).deployAccess).toBeUndefined();
    expect(
      parseSettings({ githubRepository: REPOSITORY, githubOidcProviderArn: EXISTING_PROVIDER }).deployAccess,
    ).toEqual({ repository: REPOSITORY, oidcProviderArn: EXISTING_PROVIDER });
  });
});
