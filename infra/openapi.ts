import * as z from 'zod';
import packageJson from '../package.json' with { type: 'json' };
import type { NamedSchema, OperationSpec } from '../shared/api/operations.ts';
import { OPERATIONS, operationFor, stoppedResponse } from '../shared/api/operations.ts';
import { ErrorBodySchema, FrontMatterValueSchema, GatewayMessageSchema } from '../shared/api/responses.ts';
import { type Role, rolesGranting } from '../shared/auth/roles.ts';
import { RATE_LIMIT_RETRY_AFTER_SECONDS, RATE_LIMITED_BODY } from '../shared/edge.ts';
import { ManagerIdSchema } from '../shared/managers/specs.ts';
import { managedResourcesOf } from './function-environment.ts';
import { type Manifest, manifest as platformManifest, type RouteDecl } from './manifest.ts';

/**
 * The OpenAPI 3.1 document of the HTTP API, from the one declaration: every manifest route with
 * its role and throttle, joined with its operation (`shared/api/operations.ts`: summary, the
 * request schemas the handlers parse with, the response schemas). `npm run openapi` writes it to
 * `docs/openapi.json`, which the `openapi` function serves; a test fails when that file is stale.
 */

export const OPENAPI_FILE = 'docs/openapi.json';
export const BEARER_SCHEME = 'bearerAuth';

type Json = Record<string, unknown>;
type Io = 'input' | 'output';

const SCHEMA_REF = '#/components/schemas/';
const ref = (name: string) => ({ $ref: `${SCHEMA_REF}${name}` });

/** JSON Schema (2020-12, OpenAPI 3.1's dialect) of each named schema, sharing components. */
class Components {
  readonly #named = new Map<string, { schema: z.ZodType; io: Io }>();

  use(named: NamedSchema, io: Io): Json {
    const seen = this.#named.get(named.name);
    if (seen && (seen.schema !== named.schema || seen.io !== io)) {
      throw new Error(`Two schemas are named ${named.name}`);
    }
    this.#named.set(named.name, { schema: named.schema, io });
    return ref(named.name);
  }

  schemas(): Record<string, Json> {
    const out: Record<string, Json> = {};
    for (const io of ['input', 'output'] as const) {
      const registry = z.registry<{ id: string }>();
      for (const [name, { schema, io: schemaIo }] of this.#named) {
        if (schemaIo === io) registry.add(schema, { id: name });
      }
      if (io === 'output') registry.add(FrontMatterValueSchema, { id: 'FrontMatterValue' });
      const { schemas } = z.toJSONSchema(registry, {
        target: 'draft-2020-12',
        io,
        unrepresentable: 'any',
        uri: (id) => `${SCHEMA_REF}${id}`,
      });
      for (const [name, schema] of Object.entries(schemas)) {
        if (name === '__shared') {
          for (const [def, sub] of Object.entries((schema.$defs ?? {}) as Record<string, Json>)) {
            out[sharedName(io, def)] = sub;
          }
          continue;
        }
        const { $schema: _s, $id: _i, ...rest } = schema as Json;
        out[name] = rest;
      }
      rewriteSharedRefs(out, io);
    }
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }
}

const sharedName = (io: Io, def: string) => `Shared${io === 'input' ? 'Input' : 'Output'}_${def}`;

/** `#/components/schemas/__shared#/$defs/schema0` → a component of its own. */
function rewriteSharedRefs(value: unknown, io: Io): void {
  if (Array.isArray(value)) {
    for (const v of value) rewriteSharedRefs(v, io);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const obj = value as Json;
  const target = obj.$ref;
  if (typeof target === 'string') {
    const m = /^#\/components\/schemas\/__shared#\/\$defs\/(.+)$/.exec(target);
    if (m) obj.$ref = `${SCHEMA_REF}${sharedName(io, m[1]!)}`;
  }
  for (const v of Object.values(obj)) rewriteSharedRefs(v, io);
}

/** An inline JSON Schema of a parameter object's properties (input side: what a caller sends). */
function parameters(where: 'path' | 'query', schema: z.ZodObject | undefined, path: string): Json[] {
  const names = where === 'path' ? [...path.matchAll(/\{([^}+]+)\+?\}/g)].map((m) => m[1]!) : [];
  if (!schema) {
    if (names.length > 0) throw new Error(`${path}: path parameters ${names.join(', ')} have no schema`);
    return [];
  }
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as Json;
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  if (where === 'path') {
    const declared = Object.keys(properties).sort();
    if (JSON.stringify(declared) !== JSON.stringify([...names].sort())) {
      throw new Error(`${path}: path schema has ${declared.join(', ')}, the route ${names.join(', ')}`);
    }
  }
  return Object.entries(properties).map(([name, { description, ...rest }]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    ...(typeof description === 'string' ? { description } : {}),
    schema: rest,
  }));
}

const errorContent = (schema: Json, example?: unknown) => ({
  'application/json': { schema, ...(example ? { example } : {}) },
});

const ERROR_BODY = ref('ErrorBody');
const GATEWAY_MESSAGE = ref('GatewayMessage');

/** Every error a route can give, by status: its own (`errors`), and those of its declaration. */
function errorResponses(route: RouteDecl, op: OperationSpec): Record<string, Json> {
  const out: Record<string, Json> = {};
  const platform = (status: number, description: string) => {
    out[status] = { description, content: errorContent(ERROR_BODY) };
  };
  const validation = [
    op.path || op.query
      ? 'a path or query parameter is invalid (issue field `path.<name>`, `query.<name>`)'
      : '',
    op.body?.json ? 'the body is invalid or not JSON (issue fields name the field: `points.2.vector`)' : '',
    op.errors?.[400] ?? '',
  ].filter(Boolean);
  if (validation.length > 0) platform(400, `VALIDATION_ERROR: ${validation.join('; ')}`);
  if (route.role !== 'public') {
    out[401] = {
      description:
        'No bearer token, or one the gateway cannot verify (signature, issuer, audience, expiry): API Gateway’s own answer, with a `www-authenticate` header.',
      headers: { 'www-authenticate': { schema: { type: 'string' }, description: 'Bearer …' } },
      content: errorContent(GATEWAY_MESSAGE, { message: 'Unauthorized' }),
    };
    const beyondRole = op.errors?.[403] ? `; or ${op.errors[403]}` : '';
    platform(
      403,
      `FORBIDDEN: the token does not grant the ${route.role} role (${rolesGranting(route.role)})${beyondRole}`,
    );
  } else if (op.errors?.[403]) {
    throw new Error(`${route.method} ${route.path}: a public route cannot answer 403`);
  }
  if (op.errors?.[404]) platform(404, `NOT_FOUND: ${op.errors[404]}`);
  if (op.errors?.[409]) platform(409, `CONFLICT: ${op.errors[409]}`);
  if (op.body?.json) {
    out[413] = {
      description:
        'PAYLOAD_TOO_LARGE: the body is over the limit (API Gateway’s own `{"message"}` past 10 MB)',
      content: errorContent({ anyOf: [ERROR_BODY, GATEWAY_MESSAGE] }),
    };
    platform(415, 'UNSUPPORTED_MEDIA_TYPE: a content type other than JSON');
  }
  out[429] = {
    description: `Over a rate limit: the edge’s per-client or overall limit (\`TOO_MANY_REQUESTS\`, with \`Retry-After: ${RATE_LIMIT_RETRY_AFTER_SECONDS}\`), or API Gateway’s throttle (\`{"message":"Too Many Requests"}\`)`,
    headers: { 'retry-after': { schema: { type: 'integer' }, description: 'Seconds to wait (edge limits)' } },
    content: errorContent({ anyOf: [ERROR_BODY, GATEWAY_MESSAGE] }, RATE_LIMITED_BODY),
  };
  out[500] = {
    description:
      'INTERNAL_ERROR (a bug: only the `requestId` is answered), or API Gateway’s `{"message":"Internal Server Error"}` for a function that crashed',
    content: errorContent({ anyOf: [ERROR_BODY, GATEWAY_MESSAGE] }),
  };
  if (op.errors?.[502]) platform(502, `UPSTREAM_ERROR: ${op.errors[502]}`);
  if (!op.responses[503]) {
    out[503] = {
      description: 'The function ran past its timeout: API Gateway’s `{"message":"Service Unavailable"}`',
      content: errorContent(GATEWAY_MESSAGE, { message: 'Service Unavailable' }),
    };
  }
  return out;
}

function roleText(role: Role, route: RouteDecl): string {
  const throttle = route.throttle
    ? ` Throttled at ${route.throttle.ratePerSecond} requests/s (burst ${route.throttle.burst}).`
    : '';
  return role === 'public'
    ? `**Public**: no token needed.${throttle}`
    : `**Requires the \`${role}\` role**: ${rolesGranting(role)}.${throttle}`;
}

export function buildOpenApiDocument(
  m: Pick<Manifest, 'service' | 'routes' | 'functions' | 'managers' | 'queues'> = platformManifest,
  version: string = packageJson.version,
): Json {
  const stoppable = Object.entries(managedResourcesOf(m))
    .filter(([, resources]) => resources.stoppable)
    .map(([id, resources]) => ({ id: ManagerIdSchema.parse(id), functions: resources.functions }));
  const operationIds = new Set<string>();
  const components = new Components();
  components.use({ name: 'ErrorBody', schema: ErrorBodySchema }, 'output');
  components.use({ name: 'GatewayMessage', schema: GatewayMessageSchema }, 'output');
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of m.routes) {
    const routeKey = `${route.method} ${route.path}`;
    const declared = operationFor(route.function, routeKey);
    if (!declared)
      throw new Error(`${routeKey}: no operation for function ${route.function} in shared/api/operations.ts`);
    // A route of a manager that can be stopped answers 503 while it is not running.
    const manager = stoppable.find((d) => d.functions.includes(route.function));
    const op = manager
      ? { ...declared, responses: { ...declared.responses, 503: stoppedResponse(manager.id) } }
      : declared;
    const content: Record<string, Json> = {};
    if (op.body?.json) content['application/json'] = { schema: components.use(op.body.json, 'input') };
    for (const type of op.body?.raw?.types ?? []) {
      content[type] = { schema: { type: 'string', description: op.body!.raw!.description } };
    }
    const responses: Record<string, Json> = {};
    for (const [status, res] of Object.entries(op.responses)) {
      responses[status] = {
        description: res.description,
        ...(res.headers
          ? {
              headers: Object.fromEntries(
                Object.entries(res.headers).map(([h, d]) => [
                  h,
                  { schema: { type: 'string' }, description: d },
                ]),
              ),
            }
          : {}),
        ...(res.schema
          ? { content: { 'application/json': { schema: components.use(res.schema, 'output') } } }
          : res.content
            ? {
                content: {
                  [res.content.type]: { schema: { type: 'string', description: res.content.description } },
                },
              }
            : {}),
      };
    }
    Object.assign(responses, errorResponses(route, op));
    const operationId = op.operationId ?? route.function;
    if (operationIds.has(operationId)) throw new Error(`${routeKey}: operationId ${operationId} is taken`);
    operationIds.add(operationId);
    const parameterList = [
      ...parameters('path', op.path, route.path),
      ...parameters('query', op.query, route.path),
    ];
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      operationId,
      summary: op.summary,
      description: `${op.description}\n\n${roleText(route.role, route)}`,
      tags: [op.tag],
      ...(op.deprecated ? { deprecated: true } : {}),
      ...(parameterList.length > 0 ? { parameters: parameterList } : {}),
      ...(Object.keys(content).length > 0 ? { requestBody: { required: !op.body?.optional, content } } : {}),
      responses,
      security: route.role === 'public' ? [] : [{ [BEARER_SCHEME]: [] }],
      'x-required-role': route.role,
      ...(route.throttle ? { 'x-throttle': route.throttle } : {}),
    };
  }
  for (const name of Object.keys(OPERATIONS)) {
    if (!m.functions[name as keyof typeof m.functions]) {
      throw new Error(`shared/api/operations.ts describes ${name}, which the manifest does not declare`);
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: `${m.service} API`,
      version,
      description:
        'Vectors, development plans and tasks, migrations, workflows, and the managers that run them (their lifecycle, health, configuration and metrics, also in the Prometheus format). Generated from `infra/manifest.ts` and the request schemas the handlers validate with (`npm run openapi`). Routes whose role is not public need `Authorization: Bearer <access token>`: a token from Cognito in AWS, `npm run token -- --role admin` locally. A request no route takes is answered `404 NOT_FOUND`, or `405 METHOD_NOT_ALLOWED` with `Allow`, in the ErrorBody shape.',
    },
    servers: [{ url: '/', description: 'This API (the origin serving this document)' }],
    tags: [
      { name: 'platform', description: 'Liveness, version, readiness' },
      { name: 'docs', description: 'This document and its page' },
      { name: 'vectors', description: 'Collections and points' },
      { name: 'plans', description: 'Markdown development plans' },
      { name: 'tasks', description: 'Plan tasks, searched by meaning' },
      { name: 'migrations', description: 'Legacy vector exports migrated into Qdrant' },
      { name: 'events', description: "The platform's events (docs/events.md), as kept by the event log" },
      {
        name: 'managers',
        description:
          'The managers behind one contract: status, health, metrics, start and stop, actions, configuration',
      },
      { name: 'monitoring', description: "Every manager's metrics in the Prometheus text exposition format" },
      {
        name: 'notifications',
        description: 'Subscriptions to platform events (signed webhooks, email) and the delivery log',
      },
      {
        name: 'dependencies',
        description: "Projects' dependency manifests: conflicts and duplicates within and across projects",
      },
      { name: 'security', description: 'The audit log of admin actions and refused requests' },
      {
        name: 'templates',
        description: 'Plan and task templates: suggested by description, instantiated into indexed plans',
      },
      {
        name: 'workflows',
        description:
          'Amazon States Language workflows whose tasks call manager actions (Step Functions in AWS, the same definitions run locally), their executions and history',
      },
    ],
    paths,
    components: {
      securitySchemes: {
        [BEARER_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'An access token (Cognito user pool, or the local runtime’s issuer) whose groups (readonly, user, admin) or scopes (vector-platform/read, write, admin) grant the route’s role.',
        },
      },
      schemas: components.schemas(),
    },
  };
}

/** The file's text: stable (2-space JSON, a final newline), so a regenerated file diffs cleanly. */
export function openApiJson(document: Json = buildOpenApiDocument()): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
