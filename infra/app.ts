import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { z } from 'zod';
import { PROJECT_ROOT } from './constructs/service-function.ts';
import { type Manifest, manifest as platformManifest } from './manifest.ts';
import { ApiStack } from './stacks/api-stack.ts';
import { DeployAccessStack } from './stacks/deploy-access-stack.ts';
import { EDGE_REGION, EdgeStack } from './stacks/edge-stack.ts';
import { OperationsStack } from './stacks/operations-stack.ts';
import { readSettings, type StageSettings } from './stacks/settings.ts';
import { StatefulStack } from './stacks/stateful-stack.ts';
import { RULE_TARGETS_DEAD_LETTERS, StatelessStack } from './stacks/stateless-stack.ts';

export interface BuildAppOptions {
  /** CDK context (the CLI passes its own through the environment; tests pass it here). */
  context?: Record<string, unknown>;
  /** Defaults to the platform manifest; tests pass variants. */
  manifest?: Manifest;
  /** Run the cdk-nag AwsSolutions checks at synth (default true): any finding makes synth throw. */
  nag?: boolean;
  /**
   * The region of the stateful and stateless stacks. Defaults to the CLI's (`CDK_DEFAULT_REGION`,
   * which `cdk` sets to the profile's region, or us-east-1 when none is configured); tests pass one.
   */
  region?: string;
}

export interface PlatformApp {
  app: App;
  settings: StageSettings;
  stateful: StatefulStack;
  stateless: StatelessStack;
  api: ApiStack;
  operations: OperationsStack;
  edge: EdgeStack;
  /** Only with context `githubRepository`. */
  deployAccess?: DeployAccessStack;
}

const PackageJson = z.object({ version: z.string().min(1) });

/**
 * Builds the five stacks of one stage: stateful, stateless (functions), API (stage and routes),
 * operations (releases, alarms, the dashboard) and edge. Nothing is synthesized until `app.synth()`.
 *
 * The stateful and stateless stacks name their region (the edge stack in us-east-1 reads the API's
 * endpoint from the stateless stack's outputs, which needs both regions known at synth).
 */
export function buildApp(options: BuildAppOptions = {}): PlatformApp {
  const manifest = options.manifest ?? platformManifest;
  const app = new App(options.context ? { context: options.context } : {});
  const settings = readSettings(app.node);
  const { version } = PackageJson.parse(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')));
  const prefix = `VectorPlatform-${settings.stage}`;
  const region = options.region ?? process.env.CDK_DEFAULT_REGION;
  if (!region) {
    throw new Error(
      'The deployment region is unknown: run through `cdk` (it sets CDK_DEFAULT_REGION) or pass one',
    );
  }
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const env = { region, ...(account ? { account } : {}) };

  const stateful = new StatefulStack(app, `${prefix}-Stateful`, {
    description: `${manifest.service} (${settings.stage}): bucket, queues, event bus, state table, user pool`,
    env,
    manifest,
    settings,
  });
  const stateless = new StatelessStack(app, `${prefix}-Stateless`, {
    description: `${manifest.service} (${settings.stage}): functions and their live aliases, HTTP API, consumers, rules`,
    env,
    manifest,
    settings,
    version,
    resources: stateful.resources,
    statefulStackName: stateful.stackName,
    alarmTopic: stateful.alarmTopic,
  });
  // Explicit: the stateless stack also reads a stateful output by name (Fn.getStackOutput).
  stateless.addStackDependency(stateful);
  const api = new ApiStack(app, `${prefix}-Api`, {
    description: `${manifest.service} (${settings.stage}): the HTTP API's stage, authorizer and routes to the functions' aliases`,
    env,
    manifest,
    settings,
    api: stateless.api,
    identity: stateful.identity,
  });
  // Explicit: the routes name the functions' aliases by ARN, not by reference.
  api.addStackDependency(stateless);
  const operations = new OperationsStack(app, `${prefix}-Operations`, {
    description: `${manifest.service} (${settings.stage}): blue/green releases of the functions, alarms, dashboard`,
    env,
    manifest,
    settings,
    alarmTopic: stateful.alarmTopic,
    queues: stateful.resources.queues,
    deadLetterQueues: {
      ...stateful.resources.deadLetterQueues,
      ...(stateless.ruleTargetDeadLetterQueue ? { 'rule targets': stateless.ruleTargetDeadLetterQueue } : {}),
    },
    deadLetterAlarmKeys: [
      ...Object.keys(manifest.queues),
      ...(stateless.ruleTargetDeadLetterQueue ? [RULE_TARGETS_DEAD_LETTERS] : []),
    ],
    apiStage: api.apiStage,
  });
  // After the functions: their alarms and the dashboard name them, and a function's first
  // deployment group is created once its alias exists (an alias is created without a shift).
  operations.addStackDependency(stateless);
  const edge = new EdgeStack(app, `${prefix}-Edge`, {
    description: `${manifest.service} (${settings.stage}): CloudFront, WAF rate limits and edge headers before the HTTP API`,
    env: { region: EDGE_REGION, ...(account ? { account } : {}) },
    manifest,
    settings,
    apiEndpoint: stateless.api.apiEndpoint,
  });
  edge.addStackDependency(api);
  // Opt-in, so that CI's `cdk deploy --all` never includes the role it deploys with: an
  // administrator deploys this stack once per account (docs/deploying.md).
  const deployAccess = settings.deployAccess
    ? new DeployAccessStack(app, 'VectorPlatform-DeployAccess', {
        description: `${manifest.service}: GitHub Actions OIDC provider and deploy role for ${settings.deployAccess.repository}`,
        env,
        repository: settings.deployAccess.repository,
        ...(settings.deployAccess.oidcProviderArn
          ? { oidcProviderArn: settings.deployAccess.oidcProviderArn }
          : {}),
        deployRegions: [region, EDGE_REGION],
      })
    : undefined;

  Tags.of(app).add('service', manifest.service);
  // Not on the deploy access stack: it serves every stage of the account.
  for (const stack of [stateful, stateless, api, operations, edge])
    Tags.of(stack).add('stage', settings.stage);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return {
    app,
    settings,
    stateful,
    stateless,
    api,
    operations,
    edge,
    ...(deployAccess ? { deployAccess } : {}),
  };
}

if (import.meta.main) {
  buildApp().app.synth();
}
