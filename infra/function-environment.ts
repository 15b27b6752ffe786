import { DEFAULT_ROUTE_KEY, ROUTE_ROLES_ENV, type Role } from '../shared/auth/roles.ts';
import { MANAGER_ENV } from '../shared/managers/environment.ts';
import { deadLetterUrlVariable, queueUrlVariable, RESOURCE_ENV } from '../shared/resource-env.ts';
import type { Access, FunctionDecl, Manifest } from './manifest.ts';

/**
 * The one place a manifest function declaration becomes its environment and its permissions.
 * CDK calls it with CloudFormation references (`ServiceFunction`), the local runtime with its
 * local resources (`local/runtime.ts`), so the two cannot give a function different variables or
 * grants; the local runtime then enforces the grants in its S3, SQS, EventBridge, parameter and
 * secret endpoints and state store.
 */

/**
 * The alias every function is invoked through, in AWS and locally: API routes, queue event
 * sources, rules, schedules, bucket notifications and other functions all name it, so that a
 * release shifts traffic by moving it (CodeDeploy, `infra/constructs/releases.ts`).
 */
export const LIVE_ALIAS = 'live';

/** `name` or `arn` qualified with the live alias (`…:live`). */
export function liveAliasOf(nameOrArn: string): string {
  return `${nameOrArn}:${LIVE_ALIAS}`;
}

/** A resource's name (what the function's code is given) and ARN (what its grants name). */
export interface ResourceRef {
  name: string;
  arn: string;
}

export interface QueueRef {
  url: string;
  arn: string;
}

/** The resources a manifest `access` entry can name. */
export interface ResourceRefs {
  exportsBucket: ResourceRef;
  stateTable: ResourceRef;
  eventBus: ResourceRef;
  queues: Readonly<Record<string, QueueRef>>;
  deadLetterQueues: Readonly<Record<string, QueueRef>>;
  qdrantUrlParameter: ResourceRef;
  qdrantApiKeySecret: ResourceRef;
  openaiApiKeySecret: ResourceRef;
  /**
   * The webhook signing secrets: their name prefix (`vector-platform/<stage>/notifications/webhooks/`)
   * and that prefix's partial ARN (each secret's ARN starts with it).
   */
  webhookSecrets: ResourceRef;
  /** The SES identity notifications are sent from: the sender address and its domain's identity ARN. */
  emailIdentity: ResourceRef;
  /** Every manifest function by its manifest key: its deployed name and ARN (unqualified). */
  functions: Readonly<Record<string, ResourceRef>>;
  /** Each consumed queue's event source mapping, by queue name: its UUID (`name`) and ARN. */
  eventSourceMappings: Readonly<Record<string, ResourceRef>>;
  /** The Cognito user pool `users:read` lists: its id (`name`) and ARN. */
  userPool: ResourceRef;
  /** The HTTP API whose CloudWatch metrics `api:metrics` reads: its id and stage. */
  httpApi: { id: string; stage: string };
  /** What `workflows:manage` creates at run time and is limited to (`workflowRefs`). */
  workflows: WorkflowRefs;
}

/**
 * The workflows' state machines (`<stateMachinePrefix><workflowId>`, ids `wf-…`) and their execution
 * roles (under `rolePath`, each bounded by `boundaryPolicyArn`), by ARN patterns of one account and
 * region.
 */
export interface WorkflowRefs {
  stateMachinePrefix: string;
  stateMachineArnPrefix: string;
  executionArnPrefix: string;
  rolePath: string;
  roleArnPrefix: string;
  boundaryPolicyArn: string;
}

export function workflowRefs(p: {
  service: string;
  stage: string;
  partition: string;
  region: string;
  account: string;
}): WorkflowRefs {
  const stateMachinePrefix = `${p.service}-${p.stage}-`;
  const rolePath = `/${p.service}/${p.stage}/workflows/`;
  const states = `arn:${p.partition}:states:${p.region}:${p.account}`;
  return {
    stateMachinePrefix,
    stateMachineArnPrefix: `${states}:stateMachine:${stateMachinePrefix}`,
    executionArnPrefix: `${states}:execution:${stateMachinePrefix}`,
    rolePath,
    roleArnPrefix: `arn:${p.partition}:iam::${p.account}:role${rolePath}`,
    boundaryPolicyArn: `arn:${p.partition}:iam::${p.account}:policy/${workflowBoundaryPolicyName(p.service, p.stage)}`,
  };
}

/** The fixed name of the managed policy bounding every workflow execution role. */
export function workflowBoundaryPolicyName(service: string, stage: string): string {
  return `${service}-${stage}-workflow-task-boundary`;
}

/**
 * The most a workflow's execution role may ever do (its permissions boundary): invoke the managers'
 * contract functions through their live aliases. Each role's own policy names only the managers its
 * tasks call.
 */
export function workflowBoundaryGrant(
  refs: Pick<ResourceRefs, 'functions'>,
  managers: Readonly<Record<string, ManagedResources>>,
): Grant {
  return {
    actions: ['lambda:InvokeFunction'],
    resources: Object.values(managers).map((m) => liveAliasOf(refOf(refs, m.function).arn)),
  };
}

function refOf(refs: Pick<ResourceRefs, 'functions'>, fnName: string): ResourceRef {
  const ref = refs.functions[fnName];
  if (!ref) throw new Error(`function "${fnName}" has no deployed name`);
  return ref;
}

/**
 * The settings functions read, the same in both runtimes: stage settings (CDK context) in AWS, the
 * `npm start` environment locally. A setting the stage cannot have is one the local runtime cannot
 * give either, so nothing works locally that could not be deployed.
 */
export interface PlatformSettings {
  embedder: 'local' | 'openai';
  embeddingModel?: string;
  embeddingDimensions?: string;
  /** Any OpenAI-compatible endpoint (OpenAI embedder only). */
  openaiBaseUrl?: string;
  defaultCollection?: string;
}

export interface EnvironmentContext {
  /** The function's key in the manifest, for error messages. */
  name: string;
  /** `manifest.service`: Powertools service name. */
  service: string;
  stage: string;
  /** Reported by the version endpoint. */
  version: string;
  settings: PlatformSettings;
  /** The role each route served by the function needs, by route key (see `routeRolesOf`). */
  routeRoles: Readonly<Record<string, Role>>;
  /** The managers and what each runs (`managedResourcesOf`). */
  managers: Readonly<Record<string, ManagedResources>>;
}

/** What a manager runs: its contract function, the functions it owns, the queues they consume. */
export interface ManagedResources {
  function: string;
  /** Its contract function and the capability functions it owns. */
  functions: readonly string[];
  queues: readonly string[];
  stoppable: boolean;
}

export function managedResourcesOf(
  manifest: Pick<Manifest, 'managers' | 'queues'>,
): Record<string, ManagedResources> {
  return Object.fromEntries(
    Object.entries(manifest.managers ?? {}).map(([id, m]) => {
      const functions = [m.function, ...m.functions];
      const queues = Object.entries(manifest.queues)
        .filter(([, q]) => q.consumer !== undefined && functions.includes(q.consumer))
        .map(([name]) => name);
      return [id, { function: m.function, functions, queues, stoppable: m.stoppable }];
    }),
  );
}

/** The manager a function belongs to (its contract function or one it owns), if any. */
export function managerOf(
  managers: Readonly<Record<string, ManagedResources>>,
  fnName: string,
): string | undefined {
  return Object.entries(managers).find(([, m]) => m.functions.includes(fnName))?.[0];
}

/**
 * The routes a function serves and the role each needs, by route key; the API's `$default`
 * route is public (it only says 404 or 405). Empty for functions no route invokes.
 */
export function routeRolesOf(
  manifest: Pick<Manifest, 'routes' | 'defaultRoute'>,
  fnName: string,
): Record<string, Role> {
  const roles: Record<string, Role> = {};
  for (const r of manifest.routes) if (r.function === fnName) roles[`${r.method} ${r.path}`] = r.role;
  if (manifest.defaultRoute === fnName) roles[DEFAULT_ROUTE_KEY] = 'public';
  return roles;
}

/** One IAM allow statement. */
export interface Grant {
  actions: readonly string[];
  resources: readonly string[];
  /** IAM's Condition block (`StringEquals` only: what the platform's grants use). */
  conditions?: Readonly<Record<'StringEquals', Readonly<Record<string, string | readonly string[]>>>>;
}

export interface FunctionEnvironment {
  environment: Record<string, string>;
  grants: Grant[];
}

/** Powertools metrics namespace, the same one `shared/powertools.ts` defaults to locally. */
export const METRICS_NAMESPACE = 'VectorPlatform';

const QUEUE_ACCESS = /^queue:(.+):(send|dead-letters|backoff)$/;
const MANAGER_ACCESS = /^manager:(.+):invoke$/;

/**
 * The environment and grants of one function. Actions cover what the AWS adapters in
 * `shared/adapters/` call, `ping` included; a grant's environment names the resource, never a
 * secret value.
 */
export function functionEnvironment(
  decl: FunctionDecl,
  refs: ResourceRefs,
  ctx: EnvironmentContext,
): FunctionEnvironment {
  const { settings } = ctx;
  const environment: Record<string, string> = {
    STAGE: ctx.stage,
    SERVICE_VERSION: ctx.version,
    EMBEDDER: settings.embedder,
    // Collections record their embedder, and `version` reports it: every function knows it.
    ...(settings.embeddingModel ? { EMBEDDING_MODEL: settings.embeddingModel } : {}),
    ...(settings.embeddingDimensions ? { EMBEDDING_DIMENSIONS: settings.embeddingDimensions } : {}),
    ...(settings.defaultCollection ? { DEFAULT_COLLECTION: settings.defaultCollection } : {}),
    POWERTOOLS_SERVICE_NAME: ctx.service,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    LOG_LEVEL: 'INFO',
    NODE_OPTIONS: '--enable-source-maps',
    // The HTTP wrapper checks each request's role against these (`shared/auth/roles.ts`).
    ...(Object.keys(ctx.routeRoles).length > 0 ? { [ROUTE_ROLES_ENV]: JSON.stringify(ctx.routeRoles) } : {}),
  };
  const grants: Grant[] = [];
  // The function of a manager that can be stopped reads its lifecycle record: while the manager
  // is stopped its routes answer 503 and its schedules skip (`shared/managers/gate.ts`). The
  // others (liveness among them) never read it.
  const manager = managerOf(ctx.managers, ctx.name);
  if (manager !== undefined && ctx.managers[manager]?.stoppable) {
    environment[MANAGER_ENV.id] = manager;
    environment[RESOURCE_ENV.stateTable] = refs.stateTable.name;
    grants.push({ actions: ['dynamodb:GetItem'], resources: [refs.stateTable.arn] });
  }
  const objectActions = new Set<string>();
  for (const access of decl.access) {
    const granted = grantOf(access, refs, ctx, objectActions);
    if (MANAGER_ENV.functions in environment && MANAGER_ENV.functions in granted.environment) {
      throw new Error(`${ctx.name}: declare managers:invoke or one manager:<id>:invoke, not both or several`);
    }
    Object.assign(environment, granted.environment);
    grants.push(...granted.grants);
  }
  // Object actions in one statement: exports are addressed by key, so `<bucket>/*` is the resource.
  if (objectActions.size > 0) {
    grants.push({ actions: [...objectActions], resources: [exportObjectsArn(refs.exportsBucket.arn)] });
  }
  return { environment, grants };
}

function functionRef(refs: ResourceRefs, fnName: string, ctx: EnvironmentContext): ResourceRef {
  const ref = refs.functions[fnName];
  if (!ref) throw new Error(`${ctx.name}: function "${fnName}" has no deployed name`);
  return ref;
}

function mappingRef(refs: ResourceRefs, queue: string, ctx: EnvironmentContext): ResourceRef {
  const ref = refs.eventSourceMappings[queue];
  if (!ref) throw new Error(`${ctx.name}: queue "${queue}" has no event source mapping`);
  return ref;
}

/** The ARN of every object in a bucket. */
export function exportObjectsArn(bucketArn: string): string {
  return `${bucketArn}/*`;
}

/** A secret referenced by name: Secrets Manager appends a random 6-character suffix to its ARN. */
export function secretArnPattern(partialArn: string): string {
  return `${partialArn}-??????`;
}

function grantOf(
  access: Access,
  refs: ResourceRefs,
  ctx: EnvironmentContext,
  objectActions: Set<string>,
): FunctionEnvironment {
  switch (access) {
    case 'qdrant':
      return {
        environment: {
          [RESOURCE_ENV.qdrantUrlParameter]: refs.qdrantUrlParameter.name,
          [RESOURCE_ENV.qdrantApiKeySecret]: refs.qdrantApiKeySecret.name,
        },
        grants: [
          { actions: ['ssm:GetParameter'], resources: [refs.qdrantUrlParameter.arn] },
          {
            actions: ['secretsmanager:GetSecretValue'],
            resources: [secretArnPattern(refs.qdrantApiKeySecret.arn)],
          },
        ],
      };
    case 'embedder':
      // The local embedder needs no key, so a stage that uses it gets no access to the OpenAI secret.
      if (ctx.settings.embedder !== 'openai') return { environment: {}, grants: [] };
      return {
        environment: {
          [RESOURCE_ENV.openaiApiKeySecret]: refs.openaiApiKeySecret.name,
          ...(ctx.settings.openaiBaseUrl ? { OPENAI_BASE_URL: ctx.settings.openaiBaseUrl } : {}),
        },
        grants: [
          {
            actions: ['secretsmanager:GetSecretValue'],
            resources: [secretArnPattern(refs.openaiApiKeySecret.arn)],
          },
        ],
      };
    case 'exports:read':
      objectActions.add('s3:GetObject');
      return {
        environment: { [RESOURCE_ENV.exportsBucket]: refs.exportsBucket.name },
        grants: [{ actions: ['s3:ListBucket'], resources: [refs.exportsBucket.arn] }],
      };
    case 'exports:write':
      objectActions.add('s3:PutObject').add('s3:DeleteObject');
      return { environment: { [RESOURCE_ENV.exportsBucket]: refs.exportsBucket.name }, grants: [] };
    case 'exports:upload':
      // A multipart upload's calls are PutObject's, but for its abort.
      objectActions.add('s3:PutObject').add('s3:AbortMultipartUpload');
      return { environment: { [RESOURCE_ENV.exportsBucket]: refs.exportsBucket.name }, grants: [] };
    case 'state:read':
      return {
        environment: { [RESOURCE_ENV.stateTable]: refs.stateTable.name },
        grants: [{ actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: [refs.stateTable.arn] }],
      };
    case 'state:write':
      return {
        environment: { [RESOURCE_ENV.stateTable]: refs.stateTable.name },
        grants: [
          {
            actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
            resources: [refs.stateTable.arn],
          },
        ],
      };
    case 'managers:invoke': {
      const managers = Object.entries(ctx.managers);
      return {
        environment: {
          [MANAGER_ENV.functions]: JSON.stringify(
            Object.fromEntries(
              managers.map(([id, m]) => [id, liveAliasOf(functionRef(refs, m.function, ctx).name)]),
            ),
          ),
        },
        // The alias only: invoking another version (or `$LATEST`) would bypass a release's shift.
        grants: [
          {
            actions: ['lambda:InvokeFunction'],
            resources: managers.map(([, m]) => liveAliasOf(functionRef(refs, m.function, ctx).arn)),
          },
        ],
      };
    }
    case 'managers:control': {
      // Only the managers that can be stopped, and only their queues' mappings.
      const controlled = Object.entries(ctx.managers).filter(([, m]) => m.stoppable && m.queues.length > 0);
      const mappings = controlled.map(
        ([id, m]) => [id, m.queues.map((q) => mappingRef(refs, q, ctx))] as const,
      );
      return {
        environment: {
          [MANAGER_ENV.eventSources]: JSON.stringify(
            Object.fromEntries(mappings.map(([id, refsOf]) => [id, refsOf.map((r) => r.name)])),
          ),
        },
        grants:
          mappings.length === 0
            ? []
            : [
                {
                  actions: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
                  resources: mappings.flatMap(([, refsOf]) => refsOf.map((r) => r.arn)),
                },
              ],
      };
    }
    case 'metrics:read': {
      // The functions of the manager this function belongs to (none: no figures to read).
      const owner = managerOf(ctx.managers, ctx.name);
      const fns = owner === undefined ? [] : (ctx.managers[owner]?.functions ?? []);
      return {
        environment: {
          [MANAGER_ENV.metricFunctions]: JSON.stringify(
            Object.fromEntries(fns.map((f) => [f, functionRef(refs, f, ctx).name])),
          ),
        },
        // CloudWatch's GetMetricData has no resource-level permissions: `*` is the only resource.
        grants: [{ actions: ['cloudwatch:GetMetricData'], resources: ['*'] }],
      };
    }
    case 'users:read':
      // The pool's users and its groups' members: no group or user changes, no other pool.
      return {
        environment: { [RESOURCE_ENV.userPoolId]: refs.userPool.name },
        grants: [
          {
            actions: ['cognito-idp:ListUsers', 'cognito-idp:ListUsersInGroup'],
            resources: [refs.userPool.arn],
          },
        ],
      };
    case 'workflows:manage': {
      const w = refs.workflows;
      const roles = `${w.roleArnPrefix}wf-*`;
      return {
        environment: {
          [RESOURCE_ENV.workflowStateMachinePrefix]: w.stateMachinePrefix,
          [RESOURCE_ENV.workflowRolePath]: w.rolePath,
          [RESOURCE_ENV.workflowRoleBoundary]: w.boundaryPolicyArn,
          [RESOURCE_ENV.workflowTaskFunctions]: JSON.stringify(
            Object.fromEntries(
              Object.entries(ctx.managers).map(([id, m]) => [
                id,
                liveAliasOf(functionRef(refs, m.function, ctx).arn),
              ]),
            ),
          ),
        },
        grants: [
          {
            actions: [
              'states:CreateStateMachine',
              'states:UpdateStateMachine',
              'states:DeleteStateMachine',
              'states:DescribeStateMachine',
              'states:StartExecution',
              'states:ListExecutions',
            ],
            resources: [`${w.stateMachineArnPrefix}wf-*`],
          },
          {
            actions: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
            resources: [`${w.executionArnPrefix}wf-*:*`],
          },
          // Only roles that carry the boundary: no role it makes can do more than invoke managers.
          {
            actions: ['iam:CreateRole', 'iam:PutRolePolicy'],
            resources: [roles],
            conditions: { StringEquals: { 'iam:PermissionsBoundary': w.boundaryPolicyArn } },
          },
          { actions: ['iam:GetRole', 'iam:DeleteRolePolicy', 'iam:DeleteRole'], resources: [roles] },
          {
            actions: ['iam:PassRole'],
            resources: [roles],
            conditions: { StringEquals: { 'iam:PassedToService': 'states.amazonaws.com' } },
          },
        ],
      };
    }
    case 'api:metrics':
      return {
        environment: {
          [MANAGER_ENV.httpApiId]: refs.httpApi.id,
          [MANAGER_ENV.httpApiStage]: refs.httpApi.stage,
        },
        grants: [],
      };
    case 'webhook-secrets:read':
    case 'webhook-secrets:write':
    case 'webhook-secrets:rotate':
      return {
        environment: { [RESOURCE_ENV.webhookSecretsPrefix]: refs.webhookSecrets.name },
        grants: [
          {
            actions:
              access === 'webhook-secrets:read'
                ? ['secretsmanager:GetSecretValue']
                : access === 'webhook-secrets:rotate'
                  ? ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']
                  : [
                      'secretsmanager:CreateSecret',
                      'secretsmanager:PutSecretValue',
                      'secretsmanager:DeleteSecret',
                    ],
            // Under the prefix only: no other secret of the account.
            resources: [`${refs.webhookSecrets.arn}*`],
          },
        ],
      };
    case 'email:send': {
      // The sender's domain identity, and the address's own identity when it is verified alone.
      const domainArn = refs.emailIdentity.arn;
      const addressArn = domainArn.replace(/identity\/[^/]*$/, `identity/${refs.emailIdentity.name}`);
      return {
        environment: { [RESOURCE_ENV.emailFrom]: refs.emailIdentity.name },
        grants: [{ actions: ['ses:SendEmail'], resources: [domainArn, addressArn] }],
      };
    }
    case 'dead-letters:peek': {
      // Every declared queue's dead-letter queue, read only: no DeleteMessage, so nothing is taken.
      const dlqs = Object.entries(refs.deadLetterQueues);
      return {
        environment: {
          [RESOURCE_ENV.deadLetterQueues]: JSON.stringify(
            Object.fromEntries(dlqs.map(([q, r]) => [q, r.url])),
          ),
        },
        grants:
          dlqs.length === 0
            ? []
            : [
                {
                  actions: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility'],
                  resources: dlqs.map(([, r]) => r.arn),
                },
              ],
      };
    }
    case 'bus:put':
      return {
        environment: { [RESOURCE_ENV.eventBus]: refs.eventBus.name },
        grants: [
          { actions: ['events:PutEvents', 'events:DescribeEventBus'], resources: [refs.eventBus.arn] },
        ],
      };
    default: {
      const [, managerId] = MANAGER_ACCESS.exec(access) ?? [];
      if (managerId !== undefined) {
        // One manager's contract function, by its alias: a manager calling another's action.
        const managed = ctx.managers[managerId];
        if (!managed) throw new Error(`${ctx.name}: access "${access}" names no declared manager`);
        const fn = functionRef(refs, managed.function, ctx);
        return {
          environment: { [MANAGER_ENV.functions]: JSON.stringify({ [managerId]: liveAliasOf(fn.name) }) },
          grants: [{ actions: ['lambda:InvokeFunction'], resources: [liveAliasOf(fn.arn)] }],
        };
      }
      const [, queueName, right] = QUEUE_ACCESS.exec(access) ?? [];
      if (queueName === undefined) throw new Error(`${ctx.name}: access "${access}" is not understood`);
      if (right === 'backoff') {
        const queue = refs.queues[queueName];
        if (!queue) throw new Error(`${ctx.name}: access "${access}" names no declared queue`);
        return {
          environment: { [queueUrlVariable(queueName)]: queue.url },
          grants: [{ actions: ['sqs:ChangeMessageVisibility'], resources: [queue.arn] }],
        };
      }
      if (right === 'dead-letters') {
        const dlq = refs.deadLetterQueues[queueName];
        if (!dlq) throw new Error(`${ctx.name}: access "${access}" names no declared queue`);
        return {
          environment: { [deadLetterUrlVariable(queueName)]: dlq.url },
          grants: [
            {
              actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
              resources: [dlq.arn],
            },
          ],
        };
      }
      const queue = refs.queues[queueName];
      if (!queue) throw new Error(`${ctx.name}: access "${access}" names no declared queue`);
      return {
        environment: { [queueUrlVariable(queueName)]: queue.url },
        grants: [{ actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes'], resources: [queue.arn] }],
      };
    }
  }
}
