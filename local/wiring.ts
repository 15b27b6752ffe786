import { rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  functionEnvironment,
  type Grant,
  managedResourcesOf,
  type PlatformSettings,
  type ResourceRefs,
  routeRolesOf,
} from '../infra/function-environment.ts';
import type { Manifest } from '../infra/manifest.ts';
import { RESOURCE_ENV } from '../shared/resource-env.ts';
import type { LocalIam } from './iam.ts';
import { deployedFunctionName } from './lambda.ts';

/**
 * Each manifest function's environment in the local runtime: what `functionEnvironment` gives it
 * in AWS (with local resources), the local endpoint settings AWS has no equivalent of, and what
 * Lambda's runtime sets (region, name, memory, credentials of its own, registered with the local
 * IAM with the function's grants). Also what `<dataDir>/runtime.json` says of it.
 */

/** What the runtime wired, as written to `<dataDir>/runtime.json` (names, never values). */
export interface RuntimeTopology {
  service: string;
  endpoints: Record<string, string>;
  functions: Record<
    string,
    {
      /** The variables the function's declaration gives it, as in the synthesized template. */
      environment: string[];
      /** Local endpoint settings AWS has no equivalent of. */
      localEnvironment: string[];
      grants: Grant[];
      routes: string[];
      queues: string[];
      rules: string[];
      schedules: string[];
      notifications: string[];
    }
  >;
}

/**
 * Every trigger of a function: `[description, function]`. A rule that targets a queue triggers no
 * function itself: the queue's consumer is triggered by the queue.
 */
export function triggers(manifest: Manifest): Array<readonly [string, string]> {
  return [
    ...manifest.routes.map((r) => [`route ${r.method} ${r.path}`, r.function] as const),
    ...manifest.notifications.map((n) => [`notification ${n.prefix}*${n.suffix ?? ''}`, n.function] as const),
    ...(manifest.apiAccessLogConsumer ? [['API access log', manifest.apiAccessLogConsumer] as const] : []),
    ...Object.entries(manifest.rules).flatMap(([name, r]) =>
      r.function === undefined ? [] : [[`rule ${name}`, r.function] as const],
    ),
    ...Object.entries(manifest.schedules ?? {}).map(([name, r]) => [`schedule ${name}`, r.function] as const),
    ...Object.entries(manifest.queues).flatMap(([name, q]) =>
      q.consumer ? [[`queue ${name}`, q.consumer] as const] : [],
    ),
  ];
}

/** Variables of the runtime's own environment passed on to functions as local settings. */
const PASSED_THROUGH = ['POWERTOOLS_TRACE_ENABLED', 'PATH', 'TMPDIR', 'HOME'] as const;

export interface WiringOptions {
  manifest: Manifest;
  iam: LocalIam;
  region: string;
  stage: string;
  /** The settings a stage's context gives in AWS, from the `npm start` environment here. */
  settings: PlatformSettings;
  /** The file state store's folder, standing for the state table. */
  stateDir: string;
  quiet: boolean;
  /** `AWS_ENDPOINT_URL_<SERVICE>` of the local services. */
  endpoints: Record<string, string>;
  /** Settings of the local runtime alone, which no stage has (`WEBHOOK_ALLOW_LOOPBACK`). */
  localSettings?: Record<string, string>;
  refs: ResourceRefs;
}

/** The version CDK gives the functions: the package's. */
const VERSION = (
  JSON.parse(await readFileText(new URL('../package.json', import.meta.url))) as { version: string }
).version;

async function readFileText(url: URL): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(url, 'utf8');
}

export function wireFunctions(opts: WiringOptions): {
  environments: Map<string, Record<string, string>>;
  functions: RuntimeTopology['functions'];
} {
  const { manifest, iam, region, stage, settings, endpoints, refs, quiet } = opts;
  const environments = new Map<string, Record<string, string>>();
  const functions: RuntimeTopology['functions'] = {};
  const allTriggers = triggers(manifest);
  const managers = managedResourcesOf(manifest);
  for (const [fnName, decl] of Object.entries(manifest.functions)) {
    const declared = functionEnvironment(decl, refs, {
      name: fnName,
      service: manifest.service,
      stage,
      version: VERSION,
      settings,
      routeRoles: routeRolesOf(manifest, fnName),
      managers,
    });
    const stateActions = declared.grants
      .filter((g) => g.resources.includes(refs.stateTable.arn))
      .flatMap((g) => g.actions);
    const local: Record<string, string> = {
      ...endpoints,
      ...opts.localSettings,
      S3_FORCE_PATH_STYLE: 'true',
      ...(declared.environment[RESOURCE_ENV.stateTable]
        ? { STATE_DIR: opts.stateDir, STATE_DIR_ACTIONS: stateActions.join(',') }
        : {}),
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? (quiet ? 'SILENT' : 'WARN'),
      ...Object.fromEntries(
        PASSED_THROUGH.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])),
      ),
    };
    const deployedName = deployedFunctionName(manifest.service, fnName);
    const credentials = iam.register(deployedName, declared.grants);
    // What Lambda's runtime sets in every function (reserved variables).
    const lambda = {
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_LAMBDA_FUNCTION_NAME: deployedName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(decl.memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    };
    environments.set(fnName, { ...local, ...declared.environment, ...lambda });
    const triggersOf = (kind: string) =>
      allTriggers
        .filter(([what, fn]) => fn === fnName && what.startsWith(kind))
        .map(([what]) => what.slice(kind.length + 1));
    functions[fnName] = {
      environment: Object.keys(declared.environment).sort(),
      localEnvironment: Object.keys(local).sort(),
      grants: declared.grants,
      routes: triggersOf('route'),
      queues: triggersOf('queue'),
      rules: triggersOf('rule'),
      schedules: triggersOf('schedule'),
      notifications: triggersOf('notification'),
    };
  }

  return { environments, functions };
}

/** `<dataDir>/runtime.json`, replaced atomically: readers never see half of it. */
export async function writeTopology(dataDir: string, topology: RuntimeTopology): Promise<void> {
  const file = resolve(dataDir, 'runtime.json');
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(topology, null, 2)}\n`);
  await rename(temp, file);
}
