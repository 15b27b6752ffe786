import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { REFRESH_TOKEN_DAYS } from '../../infra/constructs/identity.ts';
import { manifest } from '../../infra/manifest.ts';
import {
  ACCESS_TOKEN_SECONDS,
  DEFAULT_ROUTE_KEY,
  GROUPS,
  RESOURCE_SERVER,
  SCOPE_ROLES,
  scopeOf,
} from '../../shared/auth/roles.ts';
import { logicalIdOf, type Synthesized, synthPlatform, TEST_REGION } from './support.ts';

/** A template resource as `Template.toJSON()` gives it. */
type Resource = ReturnType<Template['toJSON']>;

const resourcesOf = (template: Template, type: string): Resource[] =>
  Object.values(template.findResources(type)) as Resource[];

/**
 * What a value read from another stack (`Fn::GetStackOutput`) is in its own stack: the output's
 * value, so a test can say which resource a reference names.
 */
function producedValue(consumer: unknown, producer: Template): unknown {
  const ref = (consumer as { 'Fn::GetStackOutput'?: { OutputName: string } })['Fn::GetStackOutput'];
  if (!ref) return consumer;
  const output = producer.toJSON().Outputs[ref.OutputName];
  expect(output, ref.OutputName).toBeDefined();
  return output.Value;
}

const secondsOf = (value: number, unit: string): number =>
  value * ({ seconds: 1, minutes: 60, hours: 3600, days: 86400 } as Record<string, number>)[unit]!;

describe('identity: the user pool and its clients', () => {
  let s: Synthesized;
  let pool: Resource;
  let userClient: Resource;
  let machineClient: Resource;
  beforeAll(() => {
    s = synthPlatform();
    const pools = resourcesOf(s.statefulTemplate, 'AWS::Cognito::UserPool');
    expect(pools).toHaveLength(1);
    pool = pools[0]!;
    const clients = resourcesOf(s.statefulTemplate, 'AWS::Cognito::UserPoolClient');
    expect(clients.map((c) => c.Properties.ClientName).sort()).toEqual(['machines', 'people']);
    userClient = clients.find((c) => c.Properties.ClientName === 'people')!;
    machineClient = clients.find((c) => c.Properties.ClientName === 'machines')!;
  });

  it('lets only administrators create users, who sign in by email with a strong password and TOTP', () => {
    expect(pool.Properties).toMatchObject({
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      UsernameAttributes: ['email'],
      UsernameConfiguration: { CaseSensitive: false },
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      Policies: {
        PasswordPolicy: {
          MinimumLength: expect.any(Number),
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        },
      },
      UserPoolTier: 'PLUS',
      UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
    });
    expect(pool.Properties.Policies.PasswordPolicy.MinimumLength).toBeGreaterThanOrEqual(12);
  });

  it('retains the users and protects the pool from deletion by default', () => {
    expect(pool.DeletionPolicy).toBe('Retain');
    expect(pool.Properties.DeletionProtection).toBe('ACTIVE');
  });

  it('has exactly the groups of shared/auth/roles.ts', () => {
    const groups = resourcesOf(s.statefulTemplate, 'AWS::Cognito::UserPoolGroup');
    expect(groups.map((g) => g.Properties.GroupName).sort()).toEqual([...GROUPS].sort());
    for (const g of groups)
      expect(g.Properties.UserPoolId).toEqual({ Ref: logicalIdOf(s.stateful.identity.userPool) });
  });

  it('declares the resource server with the scopes of SCOPE_ROLES', () => {
    const [server, ...others] = resourcesOf(s.statefulTemplate, 'AWS::Cognito::UserPoolResourceServer');
    expect(others).toEqual([]);
    expect(server!.Properties.Identifier).toBe(RESOURCE_SERVER);
    expect(server!.Properties.Scopes.map((sc: { ScopeName: string }) => sc.ScopeName).sort()).toEqual(
      Object.keys(SCOPE_ROLES).sort(),
    );
  });

  it('has a domain derived from service and stage', () => {
    s.statefulTemplate.hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      Domain: 'vector-platform-dev',
    });
  });

  it.each([
    ['people', () => userClient],
    ['machines', () => machineClient],
  ])(
    '%s: access and ID tokens last ACCESS_TOKEN_SECONDS, refresh tokens %s days; no user-existence errors',
    (_n, client) => {
      const p = client().Properties;
      const units = p.TokenValidityUnits ?? {};
      expect(secondsOf(p.AccessTokenValidity, units.AccessToken ?? 'minutes')).toBe(ACCESS_TOKEN_SECONDS);
      expect(secondsOf(p.IdTokenValidity, units.IdToken ?? 'minutes')).toBe(ACCESS_TOKEN_SECONDS);
      expect(secondsOf(p.RefreshTokenValidity, units.RefreshToken ?? 'days')).toBe(
        REFRESH_TOKEN_DAYS * 86400,
      );
      expect(p.PreventUserExistenceErrors).toBe('ENABLED');
      expect(p.EnableTokenRevocation).toBe(true);
    },
  );

  it('people: no secret, SRP and refresh-token sign-in, and never a resource server scope', () => {
    const p = userClient.Properties;
    expect(p.GenerateSecret).toBe(false);
    expect([...p.ExplicitAuthFlows].sort()).toEqual(['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH']);
    expect(p.AllowedOAuthFlows ?? []).not.toContain('client_credentials');
    expect(p.AllowedOAuthFlows ?? []).not.toContain('implicit');
    // Roles come from groups: a person asking for a scope must get nothing from it.
    for (const scope of p.AllowedOAuthScopes ?? []) {
      expect(typeof scope, JSON.stringify(scope)).toBe('string');
      expect(scope).not.toContain('/');
    }
  });

  it('machines: a generated secret, client credentials only, scopes read and write but not admin', () => {
    const p = machineClient.Properties;
    expect(p.GenerateSecret).toBe(true);
    expect(p.AllowedOAuthFlows).toEqual(['client_credentials']);
    expect(p.AllowedOAuthFlowsUserPoolClient).toBe(true);
    expect([...p.AllowedOAuthScopes].sort()).toEqual([scopeOf('read'), scopeOf('write')].sort());
    expect(p.AllowedOAuthScopes).not.toContain(scopeOf('admin'));
    expect(p.ExplicitAuthFlows ?? []).not.toContain('ALLOW_USER_SRP_AUTH');
    expect(p.ExplicitAuthFlows ?? []).not.toContain('ALLOW_USER_PASSWORD_AUTH');
    // Created after the resource server, whose scopes it names.
    const machineId = logicalIdOf(s.stateful.identity.machineClient);
    expect(s.statefulTemplate.toJSON().Resources[machineId].DependsOn).toContain(
      logicalIdOf(s.stateful.identity.resourceServer),
    );
  });

  it('outputs the pool id, both client ids and the token endpoint', () => {
    const outputs = s.statefulTemplate.toJSON().Outputs;
    expect(outputs.UserPoolId.Value).toEqual({ Ref: logicalIdOf(s.stateful.identity.userPool) });
    expect(outputs.UserClientId.Value).toEqual({ Ref: logicalIdOf(s.stateful.identity.userClient) });
    expect(outputs.MachineClientId.Value).toEqual({ Ref: logicalIdOf(s.stateful.identity.machineClient) });
    expect(JSON.stringify(outputs.TokenEndpoint.Value)).toMatch(
      /\.auth\.eu-west-1\.amazoncognito\.com\/oauth2\/token/,
    );
  });
});

describe('the JWT authorizer on the HTTP API', () => {
  let s: Synthesized;
  let authorizerId: string;
  beforeAll(() => {
    s = synthPlatform();
    const authorizers = s.apiTemplate.findResources('AWS::ApiGatewayV2::Authorizer');
    expect(Object.keys(authorizers)).toHaveLength(1);
    authorizerId = Object.keys(authorizers)[0]!;
  });

  it('trusts the user pool as issuer and both clients as audiences', () => {
    const authorizer = s.apiTemplate.toJSON().Resources[authorizerId].Properties;
    expect(authorizer.AuthorizerType).toBe('JWT');
    expect(authorizer.IdentitySource).toEqual(['$request.header.Authorization']);
    const issuer = authorizer.JwtConfiguration.Issuer['Fn::Join'][1];
    expect(issuer[0]).toBe(`https://cognito-idp.${TEST_REGION}.amazonaws.com/`);
    expect(producedValue(issuer[1], s.statefulTemplate)).toEqual({
      Ref: logicalIdOf(s.stateful.identity.userPool),
    });
    const audiences = authorizer.JwtConfiguration.Audience.map((a: unknown) =>
      producedValue(a, s.statefulTemplate),
    );
    expect(audiences).toEqual([
      { Ref: logicalIdOf(s.stateful.identity.userClient) },
      { Ref: logicalIdOf(s.stateful.identity.machineClient) },
    ]);
  });

  it.each(manifest.routes.map((r) => [`${r.method} ${r.path}`, r.role] as const))(
    '%s (%s): the authorizer exactly when the route is not public, never scopes',
    (routeKey, role) => {
      const routes = Object.values(
        s.apiTemplate.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: routeKey } }),
      ) as Resource[];
      expect(routes).toHaveLength(1);
      const props = routes[0]!.Properties;
      if (role === 'public') {
        expect(props.AuthorizationType ?? 'NONE').toBe('NONE');
        expect(props.AuthorizerId).toBeUndefined();
      } else {
        expect(props.AuthorizationType).toBe('JWT');
        expect(props.AuthorizerId).toEqual({ Ref: authorizerId });
      }
      // Roles are checked by the function wrapper from groups or scopes (ROUTE_ROLES).
      expect(props.AuthorizationScopes).toBeUndefined();
    },
  );

  it('leaves the default route public: it only answers 404 or 405', () => {
    const [fallback] = Object.values(
      s.apiTemplate.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { RouteKey: DEFAULT_ROUTE_KEY },
      }),
    ) as Resource[];
    expect(fallback!.Properties.AuthorizationType ?? 'NONE').toBe('NONE');
    expect(fallback!.Properties.AuthorizerId).toBeUndefined();
  });

  it('gives each function the role of each route it serves, for the wrapper to check', () => {
    for (const route of manifest.routes) {
      const fn =
        s.statelessTemplate.toJSON().Resources[logicalIdOf(s.stateless.functions[route.function]!.fn)];
      const roles = JSON.parse(fn.Properties.Environment.Variables.ROUTE_ROLES);
      expect(roles[`${route.method} ${route.path}`], `${route.method} ${route.path}`).toBe(route.role);
    }
  });
});

describe('identity settings from context', () => {
  it('takes a domain prefix override and deletes the pool with a throwaway stage', () => {
    const s = synthPlatform({
      context: { stage: 'tmp', authDomainPrefix: 'acme-vp-tmp', destroyOnRemoval: 'true' },
    });
    s.statefulTemplate.hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: 'acme-vp-tmp' });
    const [pool] = resourcesOf(s.statefulTemplate, 'AWS::Cognito::UserPool');
    expect(pool!.DeletionPolicy).toBe('Delete');
    expect(pool!.Properties.DeletionProtection).toBe('INACTIVE');
  });
});
