import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type BuildAppOptions, buildApp, type PlatformApp } from '../../infra/app.ts';
import { PROJECT_ROOT } from '../../infra/constructs/service-function.ts';
import { type FunctionName, type Manifest, manifest } from '../../infra/manifest.ts';

/** The feature flags and defaults of `cdk.json`, so tests synthesize what `cdk synth` does. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8'),
).context;

export interface Synthesized extends PlatformApp {
  statefulTemplate: Template;
  statelessTemplate: Template;
  apiTemplate: Template;
  operationsTemplate: Template;
  edgeTemplate: Template;
}

/**
 * The tests' deployment region: not us-east-1, so that the edge stack's reference to the API
 * crosses regions as it does for most stages (`npm run synth` offline covers us-east-1).
 */
export const TEST_REGION = 'eu-west-1';

/**
 * The app with bundling skipped (no handler module needs to exist) and, unless asked, without
 * cdk-nag (the nag test runs it on its own).
 */
export function platform(
  options: { context?: Record<string, unknown>; manifest?: Manifest; nag?: boolean; region?: string } = {},
): PlatformApp {
  const build: BuildAppOptions = {
    context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...options.context },
    nag: options.nag ?? false,
    region: options.region ?? TEST_REGION,
    ...(options.manifest ? { manifest: options.manifest } : {}),
  };
  return buildApp(build);
}

export function synthPlatform(options: Parameters<typeof platform>[0] = {}): Synthesized {
  const built = platform(options);
  return {
    ...built,
    statefulTemplate: Template.fromStack(built.stateful),
    statelessTemplate: Template.fromStack(built.stateless),
    apiTemplate: Template.fromStack(built.api),
    operationsTemplate: Template.fromStack(built.operations),
    edgeTemplate: Template.fromStack(built.edge),
  };
}

/** The logical id of a construct's CloudFormation resource (its `defaultChild`). */
export function logicalIdOf(construct: { node: { defaultChild?: unknown } }): string {
  const child = construct.node.defaultChild;
  if (!child || typeof child !== 'object') throw new Error('construct has no CloudFormation resource');
  const cfn = child as Parameters<Stack['getLogicalId']>[0];
  return Stack.of(cfn).resolve(Stack.of(cfn).getLogicalId(cfn)) as string;
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Every statement of every identity policy attached to a role (by the role's logical id). */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) =>
      (p.Properties.Roles as unknown[]).some(
        (r) => JSON.stringify(r) === JSON.stringify({ Ref: roleLogicalId }),
      ),
    )
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

export const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

export const resourcesOf = (s: Statement): unknown[] =>
  Array.isArray(s.Resource) ? s.Resource : [s.Resource];

/** Every statement of a function's role (the stateless stack's). */
export function functionStatements(s: Synthesized, name: FunctionName): Statement[] {
  return statementsOfRole(s.statelessTemplate, logicalIdOf(s.stateless.functions[name]!.role));
}

/** Each action a function's role grants, with the resources it names as strings. */
export function functionGrants(
  s: Synthesized,
  name: FunctionName,
): Array<{ action: string; resources: string[] }> {
  return functionStatements(s, name).flatMap((st) =>
    actionsOf(st).map((action) => ({ action, resources: resourcesOf(st).map(cfnString) })),
  );
}

/**
 * What a function's declaration grants beyond the logs and traces every function writes: sorted
 * `action resource…` lines, each resource as `short` names it.
 */
export function grantedBeyondLogs(
  s: Synthesized,
  name: FunctionName,
  short: (resource: string) => string = (resource) => resource,
): string[] {
  return functionGrants(s, name)
    .filter((g) => !/^(logs|xray):/.test(g.action))
    .map((g) => `${g.action} ${g.resources.map(short).join(' ')}`)
    .sort();
}

/** A template value as one string: `Fn::Join` joined, `Ref` as `<id>`, any other intrinsic as JSON. */
export function cfnString(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as Record<string, unknown> | null;
  if (node?.['Fn::Join']) {
    const [delimiter, items] = node['Fn::Join'] as [string, unknown[]];
    return items.map(cfnString).join(delimiter);
  }
  if (node && typeof node.Ref === 'string') return `<${node.Ref}>`;
  return JSON.stringify(value);
}

/** A manifest that exercises what the platform manifest does not declare yet: a consumer, a rule, a notification. */
export const wiredManifest = {
  ...manifest,
  functions: {
    ...manifest.functions,
    planMigration: {
      entry: 'functions/migrations/plan/handler.ts',
      description: 'Splits an uploaded export into chunks',
      memoryMb: 512,
      timeoutSeconds: 60,
      access: ['exports:read', 'queue:migrations:send', 'state:read', 'state:write'],
    },
    migrateChunk: {
      entry: 'functions/migrations/chunk/handler.ts',
      description: 'Migrates one chunk',
      memoryMb: 1024,
      timeoutSeconds: 120,
      access: ['exports:read', 'qdrant', 'embedder', 'bus:put'],
    },
    auditMigration: {
      entry: 'functions/migrations/audit/handler.ts',
      description: 'Records finished migrations',
      memoryMb: 256,
      timeoutSeconds: 10,
      access: ['state:write'],
    },
  },
  queues: {
    migrations: { ...manifest.queues.migrations, consumer: 'migrateChunk' },
    // The backup manager's contract function sends each backup and restore to its queue.
    backups: manifest.queues.backups,
    // The notifications manager's contract function sends its tests to its delivery queue.
    notificationDeliveries: manifest.queues.notificationDeliveries,
  },
  rules: {
    migrationFinished: {
      description: 'Audit finished migrations',
      pattern: { source: [manifest.eventSource], 'detail-type': ['MigrationCompleted', 'MigrationFailed'] },
      function: 'auditMigration',
      archive: true,
    },
  },
  notifications: [{ prefix: 'uploads/', suffix: '.json', function: 'planMigration' }],
} as const satisfies Manifest;
