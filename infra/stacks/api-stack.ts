import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  type IHttpApi,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpUserPoolAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, LogGroup, SubscriptionFilter } from 'aws-cdk-lib/aws-logs';
import { LambdaDestination } from 'aws-cdk-lib/aws-logs-destinations';
import type { Construct } from 'constructs';
import { accessLogFilterPattern, accessLogFormat } from '../../shared/access-log/format.ts';
import type { Identity } from '../constructs/identity.ts';
import { liveAliasOf } from '../function-environment.ts';
import type { Manifest } from '../manifest.ts';
import { deployedName, functionArn, pascalCase } from './naming.ts';
import type { StageSettings } from './settings.ts';

/** The HTTP API's one stage: functions read its name (`api:metrics`) before it exists. */
export const API_STAGE_NAME = '$default';

export interface ApiStackProps extends StackProps {
  manifest: Manifest;
  settings: StageSettings;
  /** The HTTP API (stateless stack), whose stage and routes this stack holds. */
  api: IHttpApi;
  /** The user pool and its clients (stateful stack): the JWT authorizer's issuer and audiences. */
  identity: Identity;
}

/**
 * The HTTP API's stage, authorizer and one route per manifest route, each integrated with its
 * function's `live` alias, named by its fixed ARN: the functions are the stateless stack's, which
 * this stack follows. Apart from the stateless stack, because routes cost CloudFormation about two
 * and a half resources each (route, integration, permission) and one stack holds at most 500.
 */
export class ApiStack extends Stack {
  readonly apiStage: HttpStage;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { manifest, settings } = props;
    // Imported, so that what routes create on it (the authorizer, the integrations) is this stack's.
    const api = HttpApi.fromHttpApiAttributes(this, 'HttpApi', {
      httpApiId: props.api.apiId,
      apiEndpoint: props.api.apiEndpoint,
    });

    const accessLogs = new LogGroup(this, 'HttpApiAccessLogs', {
      retention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
    });
    // Created by hand because HttpApi's own default stage takes no access-log settings. Limits
    // come from the manifest, as the local gateway's do.
    this.apiStage = new HttpStage(this, 'HttpApiDefaultStage', {
      httpApi: api,
      stageName: API_STAGE_NAME,
      autoDeploy: true,
      throttle: {
        rateLimit: manifest.limits.stage.ratePerSecond,
        burstLimit: manifest.limits.stage.burst,
      },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(accessLogFormat()),
      },
      // Per-route metrics (`ApiId`, `Stage`, `Method`, `Resource`), which the API gateway manager reads.
      detailedMetricsEnabled: true,
    });

    // Each function's alias by its ARN (`<function>:live`): a reference would name the stateless
    // stack's resources, which the operations stack and this one only follow.
    const aliases = new Map<string, ReturnType<typeof LambdaFunction.fromFunctionAttributes>>();
    const aliasOf = (name: string, usedBy: string) => {
      if (!(name in manifest.functions)) {
        throw new Error(`${usedBy} names function "${name}", which the manifest does not declare`);
      }
      let alias = aliases.get(name);
      if (!alias) {
        alias = LambdaFunction.fromFunctionAttributes(this, `${pascalCase(name)}Live`, {
          functionArn: liveAliasOf(
            functionArn(this, deployedName(manifest.service, settings.stage, name, 'Function')),
          ),
          sameEnvironment: true,
        });
        aliases.set(name, alias);
      }
      return alias;
    };

    // One JWT authorizer for every non-public route: API Gateway checks the access or ID token's
    // signature, issuer (the user pool), audience or client_id (either client) and expiry, and
    // answers 401 itself when a token is missing or invalid. No `authorizationScopes`: a route's
    // role is granted by a person's groups (`cognito:groups`) or a machine's scopes, and API
    // Gateway can only require scopes, not groups. The function wrapper checks the role from the
    // claims (`authorize()` in shared/auth/roles.ts, against ROUTE_ROLES written from this
    // manifest), in AWS and locally alike.
    const { identity } = props;
    const jwt = new HttpUserPoolAuthorizer('UserPoolAuthorizer', identity.userPool, {
      authorizerName: 'user-pool',
      userPoolClients: [identity.userClient, identity.machineClient],
      userPoolRegion: Stack.of(identity).region,
    });
    const cfnStage = this.apiStage.node.defaultChild as CfnStage;
    const routeSettings: Record<
      string,
      { ThrottlingRateLimit: number; ThrottlingBurstLimit: number; DetailedMetricsEnabled: boolean }
    > = {};

    const integrations = new Map<string, HttpLambdaIntegration>();
    for (const route of manifest.routes) {
      const routeKey = `${route.method} ${route.path}`;
      let integration = integrations.get(route.function);
      if (!integration) {
        integration = new HttpLambdaIntegration(
          `${pascalCase(route.function)}Integration`,
          aliasOf(route.function, `Route ${routeKey}`),
        );
        integrations.set(route.function, integration);
      }
      const isPublic = route.role === 'public';
      const created = new HttpRoute(this, `${pascalCase(route.method)}${pascalCase(route.path)}Route`, {
        httpApi: api,
        routeKey: HttpRouteKey.with(route.path, HttpMethod[route.method]),
        integration,
        ...(isPublic ? {} : { authorizer: jwt }),
      });
      if (route.throttle) {
        routeSettings[routeKey] = {
          ThrottlingRateLimit: route.throttle.ratePerSecond,
          ThrottlingBurstLimit: route.throttle.burst,
          // Explicit: a route's own settings are not documented to inherit the stage's defaults.
          DetailedMetricsEnabled: true,
        };
        // Route settings name routes by key: the stage must be updated after they exist.
        cfnStage.node.addDependency(created);
      }
      if (isPublic) {
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'The manifest declares this route public (role "public"): it must answer without credentials.',
        });
      }
    }

    if (Object.keys(routeSettings).length > 0) cfnStage.routeSettings = routeSettings;

    // Requests no route takes: the platform's 404/405 instead of API Gateway's bare 404.
    if (manifest.defaultRoute) {
      const route = new HttpRoute(this, 'DefaultRoute', {
        httpApi: api,
        routeKey: HttpRouteKey.DEFAULT,
        integration: new HttpLambdaIntegration(
          `${pascalCase(manifest.defaultRoute)}Integration`,
          aliasOf(manifest.defaultRoute, 'The default route'),
        ),
      });
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The default route only answers that no route matches (404/405); it reads and returns no data.',
      });
    }

    // The answers the platform reports (5xx, 401, 403) go to the access-log consumer's alias. Here
    // and not beside the function: the log group is this stack's, which follows the stateless one.
    if (manifest.apiAccessLogConsumer) {
      new SubscriptionFilter(this, 'ApiAccessLogSubscription', {
        logGroup: accessLogs,
        destination: new LambdaDestination(aliasOf(manifest.apiAccessLogConsumer, 'The API access log')),
        filterPattern: FilterPattern.literal(accessLogFilterPattern()),
      });
    }

    // The edge stack's origin; callers use the edge's URL (its `ApiUrl` output).
    new CfnOutput(this, 'DirectApiUrl', {
      value: this.apiStage.url,
      description: 'The HTTP API without the edge (no WAF rate limits, no edge headers): for diagnosis',
    });
  }
}
