import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allows, LocalIam } from '#local/iam.ts';
import { LocalIamRoles, startIamRolesEndpoint } from '#local/iam-roles.ts';

/**
 * The local IAM roles endpoint through `@aws-sdk/client-iam`: the role calls and IAM's errors,
 * grants with conditions (the workflow manager may create only roles that carry the boundary),
 * the roles' grants for the local Step Functions, and persistence.
 */

const ADMIN = { accessKeyId: 'local', secretAccessKey: 'local' };
const BOUNDARY = 'arn:aws:iam::000000000000:policy/svc-local-workflow-task-boundary';
const PATH = '/svc/local/workflows/';
const ROLES = `arn:aws:iam::000000000000:role${PATH}wf-*`;
const TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});
const policy = (statement: object) => JSON.stringify({ Version: '2012-10-17', Statement: [statement] });
const INVOKE = policy({
  Effect: 'Allow',
  Action: 'lambda:InvokeFunction',
  Resource: 'arn:aws:lambda:*:*:function:a:live',
});

let dataDir: string;
let iam: LocalIam;
let roles: LocalIamRoles;
let endpoint: { url: string; close(): Promise<void> };

async function start(): Promise<void> {
  roles = await LocalIamRoles.open(dataDir);
  roles.registerManagedPolicy(
    BOUNDARY,
    policy({ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: '*:live' }),
  );
  endpoint = await startIamRolesEndpoint({ iam, roles, log: () => undefined });
}
const client = (credentials = ADMIN) =>
  new IAMClient({ region: 'us-east-1', endpoint: endpoint.url, credentials, maxAttempts: 1 });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-iam-roles-'));
  iam = new LocalIam();
  await start();
});
afterAll(async () => {
  await endpoint?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('role calls', () => {
  it('creates, reads, lists and deletes a role and its inline policies', async () => {
    const admin = client();
    const created = await admin.send(
      new CreateRoleCommand({
        RoleName: 'wf-0123456789',
        Path: PATH,
        AssumeRolePolicyDocument: TRUST,
        PermissionsBoundary: BOUNDARY,
        Description: 'a <workflow> & its "role"',
        Tags: [{ Key: 'workflow', Value: 'wf-0123456789' }],
      }),
    );
    expect(created.Role).toMatchObject({
      RoleName: 'wf-0123456789',
      Path: PATH,
      Arn: `arn:aws:iam::000000000000:role${PATH}wf-0123456789`,
      Description: 'a <workflow> & its "role"',
      PermissionsBoundary: { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: BOUNDARY },
      Tags: [{ Key: 'workflow', Value: 'wf-0123456789' }],
    });
    expect(created.Role?.RoleId).toMatch(/^AROA[0-9A-F]{17}$/);
    expect(created.Role?.CreateDate).toBeInstanceOf(Date);

    const got = await admin.send(new GetRoleCommand({ RoleName: 'wf-0123456789' }));
    // IAM answers policy documents URL-encoded.
    expect(decodeURIComponent(got.Role!.AssumeRolePolicyDocument!)).toBe(TRUST);

    await admin.send(
      new PutRolePolicyCommand({
        RoleName: 'wf-0123456789',
        PolicyName: 'invoke-managers',
        PolicyDocument: INVOKE,
      }),
    );
    await admin.send(
      new PutRolePolicyCommand({ RoleName: 'wf-0123456789', PolicyName: 'second', PolicyDocument: INVOKE }),
    );
    const page1 = await admin.send(new ListRolePoliciesCommand({ RoleName: 'wf-0123456789', MaxItems: 1 }));
    expect(page1).toMatchObject({ PolicyNames: ['invoke-managers'], IsTruncated: true });
    const page2 = await admin.send(
      new ListRolePoliciesCommand({ RoleName: 'wf-0123456789', Marker: page1.Marker! }),
    );
    expect(page2).toMatchObject({ PolicyNames: ['second'], IsTruncated: false });
    const document = await admin.send(
      new GetRolePolicyCommand({ RoleName: 'wf-0123456789', PolicyName: 'invoke-managers' }),
    );
    expect(decodeURIComponent(document.PolicyDocument!)).toBe(INVOKE);

    // The local Step Functions' view: the inline statements, the boundary's, the trust.
    const arn = created.Role!.Arn!;
    expect(roles.statementsOf(arn)).toEqual([
      { actions: ['lambda:InvokeFunction'], resources: ['arn:aws:lambda:*:*:function:a:live'] },
      { actions: ['lambda:InvokeFunction'], resources: ['arn:aws:lambda:*:*:function:a:live'] },
    ]);
    expect(roles.boundaryOf(arn)).toEqual([{ actions: ['lambda:InvokeFunction'], resources: ['*:live'] }]);
    expect(roles.trusts(arn, 'states.amazonaws.com')).toBe(true);
    expect(roles.trusts(arn, 'lambda.amazonaws.com')).toBe(false);

    await expect(admin.send(new DeleteRoleCommand({ RoleName: 'wf-0123456789' }))).rejects.toMatchObject({
      name: 'DeleteConflictException',
      $metadata: { httpStatusCode: 409 },
    });
    await admin.send(
      new DeleteRolePolicyCommand({ RoleName: 'wf-0123456789', PolicyName: 'invoke-managers' }),
    );
    await admin.send(new DeleteRolePolicyCommand({ RoleName: 'wf-0123456789', PolicyName: 'second' }));
    await admin.send(new DeleteRoleCommand({ RoleName: 'wf-0123456789' }));
    await expect(admin.send(new GetRoleCommand({ RoleName: 'wf-0123456789' }))).rejects.toMatchObject({
      name: 'NoSuchEntityException',
      message: 'The role with name wf-0123456789 cannot be found.',
      $metadata: { httpStatusCode: 404 },
    });
    expect(roles.statementsOf(arn)).toBeUndefined();
  });

  it('answers IAM’s errors for bad or conflicting input', async () => {
    const admin = client();
    const create = (input: Partial<ConstructorParameters<typeof CreateRoleCommand>[0]>) =>
      admin.send(
        new CreateRoleCommand({
          RoleName: 'wf-errors',
          Path: PATH,
          AssumeRolePolicyDocument: TRUST,
          ...input,
        }),
      );
    await expect(create({ RoleName: 'bad name!' })).rejects.toMatchObject({
      name: 'ValidationError',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(create({ Path: 'no-slashes' })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(create({ AssumeRolePolicyDocument: '{nope' })).rejects.toMatchObject({
      name: 'MalformedPolicyDocumentException',
    });
    await expect(
      create({ PermissionsBoundary: 'arn:aws:iam::000000000000:policy/unknown' }),
    ).rejects.toMatchObject({
      name: 'NoSuchEntityException',
    });
    await create({});
    await expect(create({})).rejects.toMatchObject({
      name: 'EntityAlreadyExistsException',
      $metadata: { httpStatusCode: 409 },
    });
    const put = (document: string) =>
      admin.send(
        new PutRolePolicyCommand({ RoleName: 'wf-errors', PolicyName: 'p', PolicyDocument: document }),
      );
    await expect(put(policy({ Effect: 'Deny', Action: '*', Resource: '*' }))).rejects.toMatchObject({
      name: 'MalformedPolicyDocumentException',
      message: expect.stringContaining('Deny'),
    });
    await expect(
      put(
        policy({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringLike: { 'aws:x': 'y' } } }),
      ),
    ).rejects.toMatchObject({
      name: 'MalformedPolicyDocumentException',
      message: expect.stringContaining('StringLike'),
    });
    await expect(put('[]')).rejects.toMatchObject({ name: 'MalformedPolicyDocumentException' });
    await expect(
      admin.send(new GetRolePolicyCommand({ RoleName: 'wf-errors', PolicyName: 'p' })),
    ).rejects.toMatchObject({ name: 'NoSuchEntityException' });
    await admin.send(new DeleteRoleCommand({ RoleName: 'wf-errors' }));
  });
});

describe('grants with conditions', () => {
  it('lets the workflow manager create and change only roles that carry the boundary', async () => {
    const manager = client(
      iam.register('workflowManager', [
        {
          actions: ['iam:CreateRole', 'iam:PutRolePolicy'],
          resources: [ROLES],
          conditions: { StringEquals: { 'iam:PermissionsBoundary': BOUNDARY } },
        },
        { actions: ['iam:GetRole', 'iam:DeleteRolePolicy', 'iam:DeleteRole'], resources: [ROLES] },
      ]),
    );
    const create = (name: string, boundary?: string) =>
      manager.send(
        new CreateRoleCommand({
          RoleName: name,
          Path: PATH,
          AssumeRolePolicyDocument: TRUST,
          ...(boundary ? { PermissionsBoundary: boundary } : {}),
        }),
      );
    await expect(create('wf-unbounded')).rejects.toMatchObject({
      name: 'AccessDenied',
      message: expect.stringMatching(/workflowManager.*iam:CreateRole on resource: .*wf-unbounded/),
      $metadata: { httpStatusCode: 403 },
    });
    await create('wf-bounded', BOUNDARY);
    await manager.send(
      new PutRolePolicyCommand({ RoleName: 'wf-bounded', PolicyName: 'p', PolicyDocument: INVOKE }),
    );
    await expect(
      manager.send(
        new CreateRoleCommand({
          RoleName: 'other',
          Path: '/',
          AssumeRolePolicyDocument: TRUST,
          PermissionsBoundary: BOUNDARY,
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDenied' });

    // A role made without the boundary (by an administrator) cannot be given a policy by the manager.
    await client().send(
      new CreateRoleCommand({ RoleName: 'wf-admins', Path: PATH, AssumeRolePolicyDocument: TRUST }),
    );
    await expect(
      manager.send(
        new PutRolePolicyCommand({ RoleName: 'wf-admins', PolicyName: 'p', PolicyDocument: INVOKE }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('matches StringEquals against the request context only (a missing key does not match)', () => {
    const grant = {
      actions: ['iam:PassRole'],
      resources: ['*'],
      conditions: { StringEquals: { 'iam:PassedToService': ['states.amazonaws.com', 'x'] } },
    };
    expect(allows([grant], 'iam:PassRole', 'r', { 'iam:PassedToService': 'states.amazonaws.com' })).toBe(
      true,
    );
    expect(allows([grant], 'iam:PassRole', 'r', { 'iam:PassedToService': 'lambda.amazonaws.com' })).toBe(
      false,
    );
    expect(allows([grant], 'iam:PassRole', 'r', {})).toBe(false);
    expect(allows([{ ...grant, conditions: undefined }], 'iam:PassRole', 'r')).toBe(true);
  });
});

describe('persistence', () => {
  it('keeps roles and their policies across a restart', async () => {
    await endpoint.close();
    await start();
    const got = await client().send(new GetRoleCommand({ RoleName: 'wf-bounded' }));
    expect(got.Role?.PermissionsBoundary?.PermissionsBoundaryArn).toBe(BOUNDARY);
    expect(roles.statementsOf(got.Role!.Arn!)).toHaveLength(1);
  });
});
