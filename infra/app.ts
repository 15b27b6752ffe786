import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { z } from 'zod';
import { PROJECT_ROOT } from './constructs/service-function.ts';
import { type Manifest, manifest as platformManifest } from './manifest.ts';
import { readSettings, type StageSettings } from './stacks/settings.ts';
import { StatefulStack } from './stacks/stateful-stack.ts';
import { StatelessStack } from './stacks/stateless-stack.ts';

export interface BuildAppOptions {
  /** CDK context (the CLI passes its own through the environment; tests pass it here). */
  context?: Record<string, unknown>;
  /** Defaults to the platform manifest; tests pass variants. */
  manifest?: Manifest;
  /** Run the cdk-nag AwsSolutions checks at synth (default true): any finding makes synth throw. */
  nag?: boolean;
}

export interface PlatformApp {
  app: App;
  settings: StageSettings;
  stateful: StatefulStack;
  stateless: StatelessStack;
}

const PackageJson = z.object({ version: z.string().min(1) });

/** Builds the two stacks of one stage. Nothing is synthesized until `app.synth()`. */
export function buildApp(options: BuildAppOptions = {}): PlatformApp {
  const manifest = options.manifest ?? platformManifest;
  const app = new App(options.context ? { context: options.context } : {});
  const settings = readSettings(app.node);
  const { version } = PackageJson.parse(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')));
  const prefix = `VectorPlatform-${settings.stage}`;

  const stateful = new StatefulStack(app, `${prefix}-Stateful`, {
    description: `${manifest.service} (${settings.stage}): bucket, queues, event bus, state table`,
    manifest,
    settings,
  });
  const stateless = new StatelessStack(app, `${prefix}-Stateless`, {
    description: `${manifest.service} (${settings.stage}): functions, HTTP API, consumers, rules, alarms`,
    manifest,
    settings,
    version,
    resources: stateful.resources,
    statefulStackName: stateful.stackName,
    alarmTopic: stateful.alarmTopic,
  });
  // Explicit: the stateless stack also reads a stateful output by name (Fn.getStackOutput).
  stateless.addStackDependency(stateful);

  Tags.of(app).add('service', manifest.service);
  Tags.of(app).add('stage', settings.stage);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, settings, stateful, stateless };
}

if (import.meta.main) {
  buildApp().app.synth();
}
