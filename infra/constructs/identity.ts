import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  OAuthScope,
  ResourceServerScope,
  StandardThreatProtectionMode,
  UserPool,
  type UserPoolClient,
  UserPoolClientIdentityProvider,
  type UserPoolDomain,
  type UserPoolResourceServer,
  VerificationEmailStyle,
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import {
  ACCESS_TOKEN_SECONDS,
  GROUP_ROLES,
  GROUPS,
  RESOURCE_SERVER,
  ROLES,
  SCOPE_ROLES,
  type ScopeName,
  scopeOf,
} from '../../shared/auth/roles.ts';

export interface IdentityProps {
  service: string;
  stage: string;
  /** `<prefix>.auth.<region>.amazoncognito.com`: globally unique across AWS accounts. */
  domainPrefix: string;
  /** Where the user client's authorization code grant may return. */
  callbackUrls: readonly string[];
  /** People are data: the pool follows the stage's removal policy. */
  removalPolicy: RemovalPolicy;
}

/** Refresh tokens of people last this long; access and ID tokens last `ACCESS_TOKEN_SECONDS`. */
export const REFRESH_TOKEN_DAYS = 30;

/** The scopes a machine client may ask for: `admin` stays with people (the `admin` group). */
export const MACHINE_SCOPES: readonly ScopeName[] = ['read', 'write'];

/**
 * Who may call the API: a Cognito user pool whose users an administrator creates (no sign-up),
 * signing in by email with a strong password and a TOTP second factor; the groups of
 * `shared/auth/roles.ts` (a person's role), a resource server with its scopes (a machine's role),
 * a client for people and one for machines (client credentials).
 *
 * People get roles from groups only: the user client may not ask for the resource server's
 * scopes, so no person can grant themselves a role by asking for a scope.
 */
export class Identity extends Construct {
  readonly userPool: UserPool;
  readonly resourceServer: UserPoolResourceServer;
  readonly domain: UserPoolDomain;
  /** People: SRP sign-in from an app, or the authorization code grant through the managed login. */
  readonly userClient: UserPoolClient;
  /** Machines: client credentials (a generated secret), scopes `read` and `write`. */
  readonly machineClient: UserPoolClient;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    this.userPool = new UserPool(this, 'UserPool', {
      userPoolName: `${props.service}-${props.stage}`,
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      passwordPolicy: {
        minLength: 14,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      // Required, as cdk-nag asks (AwsSolutions-COG2): an administrator-created user sets up an
      // authenticator app at first sign-in; no SMS (SIM swap, cost).
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      // Plus (AwsSolutions-COG8): blocks sign-ins with credentials known to have leaked and
      // challenges risky ones. Priced per monthly active user; people here are few.
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      userVerification: { emailStyle: VerificationEmailStyle.CODE },
      userInvitation: {
        emailSubject: `Your ${props.service} (${props.stage}) account`,
        emailBody: `Your ${props.service} (${props.stage}) account: user {username}, temporary password {####}. You will choose a password and set up an authenticator app at first sign-in.`,
      },
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy,
    });

    // Precedence: the group granting the highest role wins where Cognito must pick one.
    for (const group of GROUPS) {
      this.userPool.addGroup(`${pascal(group)}Group`, {
        groupName: group,
        description: `Grants the ${GROUP_ROLES[group]} role`,
        precedence: ROLES.length - ROLES.indexOf(GROUP_ROLES[group]),
      });
    }

    this.resourceServer = this.userPool.addResourceServer('ResourceServer', {
      identifier: RESOURCE_SERVER,
      userPoolResourceServerName: `${props.service} API`,
      scopes: (Object.keys(SCOPE_ROLES) as ScopeName[]).map(
        (name) =>
          new ResourceServerScope({
            scopeName: name,
            scopeDescription: `Grants the ${SCOPE_ROLES[name]} role`,
          }),
      ),
    });

    this.domain = this.userPool.addDomain('Domain', { cognitoDomain: { domainPrefix: props.domainPrefix } });

    const tokenValidity = {
      accessTokenValidity: Duration.seconds(ACCESS_TOKEN_SECONDS),
      idTokenValidity: Duration.seconds(ACCESS_TOKEN_SECONDS),
      refreshTokenValidity: Duration.days(REFRESH_TOKEN_DAYS),
    };
    this.userClient = this.userPool.addClient('UserClient', {
      userPoolClientName: 'people',
      generateSecret: false,
      authFlows: { userSrp: true },
      ...tokenValidity,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      oAuth: {
        // The managed login walks a person through a new password and the authenticator app.
        flows: { authorizationCodeGrant: true },
        // Identity scopes only, never the resource server's: roles come from groups.
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE],
        callbackUrls: [...props.callbackUrls],
      },
    });
    this.machineClient = this.userPool.addClient('MachineClient', {
      userPoolClientName: 'machines',
      generateSecret: true,
      // Client credentials only: no user sign-in flow.
      authFlows: {},
      ...tokenValidity,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      oAuth: {
        flows: { clientCredentials: true },
        // As tokens carry them (`vector-platform/read`), the same strings `authorize()` reads.
        scopes: MACHINE_SCOPES.map((name) => OAuthScope.custom(scopeOf(name))),
      },
    });
    // Cognito refuses a client whose scopes its resource server does not declare yet.
    this.machineClient.node.addDependency(this.resourceServer);
  }

  /** Where clients exchange credentials or codes for tokens. */
  get tokenEndpoint(): string {
    return `${this.domain.baseUrl()}/oauth2/token`;
  }

  /** The JWT issuer of the pool's tokens (what API Gateway's JWT authorizer checks). */
  get issuer(): string {
    return `https://cognito-idp.${Stack.of(this).region}.amazonaws.com/${this.userPool.userPoolId}`;
  }
}

const pascal = (name: string): string => name[0]!.toUpperCase() + name.slice(1);
