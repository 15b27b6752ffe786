import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import type { Grant } from '../infra/function-environment.ts';
import { LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import { closeNow, listen } from './listen.ts';

/**
 * Local IAM roles: the role calls `@aws-sdk/client-iam` makes (CreateRole, GetRole, DeleteRole,
 * PutRolePolicy, GetRolePolicy, DeleteRolePolicy, ListRolePolicies) over IAM's query protocol
 * (POST / with a form body, XML answers and errors in IAM's shapes), each allowed by the caller's
 * grants (`iam:<Action>` on the role's ARN; CreateRole and PutRolePolicy with the condition key
 * `iam:PermissionsBoundary`, the role's boundary). Roles and their inline policies persist in
 * `<dataDir>/roles.json` (written whole, tmp + rename). A call on a role that does not exist is
 * answered NoSuchEntity before it is authorized: its ARN (with the role's path) is not known, and
 * the local IAM does not hide which roles exist.
 *
 * The local Step Functions runs a state machine's tasks as its role: `statementsOf` gives the
 * role's inline Allow statements as grants and `boundaryOf` its permissions boundary's (a managed
 * policy the runtime registers by ARN with `registerManagedPolicy`; a boundary not registered
 * allows nothing). Policies the local IAM cannot evaluate are refused as MalformedPolicyDocument
 * rather than half-enforced: Deny statements, NotAction/NotResource, and conditions other than
 * `StringEquals`. Documents are answered URL-encoded, as IAM answers them.
 */

const XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';
const API_VERSION = '2010-05-08';
const MAX_REQUEST_BYTES = 64 * 1024;
/** IAM's quotas: an inline role policy's size, a trust policy's, tags per role, list page. */
const MAX_INLINE_POLICY_CHARS = 10_240;
const MAX_TRUST_POLICY_CHARS = 2_048;
const MAX_TAGS = 50;
const MAX_ITEMS = 1000;

export const ROLE_OPERATIONS = [
  'CreateRole',
  'GetRole',
  'DeleteRole',
  'PutRolePolicy',
  'GetRolePolicy',
  'DeleteRolePolicy',
  'ListRolePolicies',
] as const;
type Operation = (typeof ROLE_OPERATIONS)[number];

/** An answer in IAM's error shape (`<ErrorResponse><Error><Type><Code><Message>`). */
export class IamError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const validation = (message: string) => new IamError('ValidationError', 400, message);
const malformed = (message: string) => new IamError('MalformedPolicyDocument', 400, message);
const noSuchEntity = (message: string) => new IamError('NoSuchEntity', 404, message);

// ---------------------------------------------------------------------------------------------
// The query protocol's form: URLSearchParams decodes it; lists are `<Name>.member.<n>.<Field>`.

/**
 * A list member of a query-protocol form (`Tags.member.1.Key=k&Tags.member.1.Value=v`) as
 * objects in their index order; the indexes must be 1..n without gaps (the SDK sends them so).
 * Hand-written: the query protocol's list encoding has no maintained parser on the server side.
 */
export function formMembers(form: URLSearchParams, name: string, fields: readonly string[]) {
  const prefix = `${name}.member.`;
  const byIndex = new Map<number, Record<string, string>>();
  for (const [key, value] of form) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const dot = rest.indexOf('.');
    const index = dot > 0 ? rest.slice(0, dot) : '';
    const field = rest.slice(dot + 1);
    if (!/^[1-9]\d{0,3}$/.test(index) || !fields.includes(field)) {
      throw validation(`Unknown parameter ${key}: expected ${name}.member.<n>.(${fields.join('|')})`);
    }
    const member = byIndex.get(Number(index)) ?? {};
    member[field] = value;
    byIndex.set(Number(index), member);
  }
  const members: Record<string, string>[] = [];
  for (let i = 1; i <= byIndex.size; i++) {
    const member = byIndex.get(i);
    if (!member) throw validation(`${name}.member indexes must run from 1 without gaps`);
    members.push(member);
  }
  return members;
}

// ---------------------------------------------------------------------------------------------
// XML answers: a tiny writer (elements and escaped text only, all IAM's answers need).

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

type XmlValue = string | number | boolean | undefined | XmlValue[] | { [name: string]: XmlValue };

/** `{A: 'x', B: ['y']}` → `<A>x</A><B><member>y</member></B>`; undefined members are left out. */
export function toXml(value: XmlValue): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => `<member>${toXml(v)}</member>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([name, v]) => `<${name}>${toXml(v)}</${name}>`)
      .join('');
  }
  return escapeXml(String(value));
}

function answerXml(operation: string, result: Record<string, XmlValue> | undefined, requestId: string) {
  const body = result ? `<${operation}Result>${toXml(result)}</${operation}Result>` : '';
  return (
    `<${operation}Response xmlns="${XMLNS}">${body}` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${operation}Response>`
  );
}

function errorXml(error: IamError, requestId: string): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return (
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${escapeXml(error.code)}</Code>` +
    `<Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

// ---------------------------------------------------------------------------------------------
// Policy documents.

const OneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const ConditionValues = z.record(z.string(), z.union([z.string(), z.array(z.string())]));
const Statement = z
  .object({
    Sid: z.string().optional(),
    Effect: z.enum(['Allow', 'Deny']),
    Action: OneOrMany.optional(),
    Resource: OneOrMany.optional(),
    NotAction: z.unknown().optional(),
    NotResource: z.unknown().optional(),
    Principal: z.unknown().optional(),
    Condition: z.record(z.string(), ConditionValues).optional(),
  })
  .strict();
const PolicyDocument = z.object({
  Version: z.enum(['2012-10-17', '2008-10-17']).optional(),
  Id: z.string().optional(),
  Statement: z.union([Statement, z.array(Statement).min(1)]),
});

const list = (v: string | string[]): string[] => (typeof v === 'string' ? [v] : v);

function parsePolicy(document: string): z.infer<typeof PolicyDocument> {
  let json: unknown;
  try {
    json = JSON.parse(document);
  } catch {
    throw malformed('Syntax errors in policy.');
  }
  const parsed = PolicyDocument.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw malformed(`Syntax errors in policy: ${issue?.path.join('.') || 'document'}: ${issue?.message}`);
  }
  return parsed.data;
}

/** A permissions policy's statements as the grants the local IAM enforces (Allow only, see above). */
export function policyGrants(document: string): Grant[] {
  const statements = parsePolicy(document).Statement;
  return (Array.isArray(statements) ? statements : [statements]).map((s, i) => {
    const where = `Statement ${i + 1}`;
    if (s.Effect === 'Deny') throw malformed(`${where}: the local IAM does not evaluate Deny statements`);
    if (s.NotAction !== undefined || s.NotResource !== undefined) {
      throw malformed(`${where}: the local IAM does not evaluate NotAction or NotResource`);
    }
    if (s.Principal !== undefined)
      throw malformed(`${where}: Principal is not allowed in a permissions policy`);
    if (!s.Action || !s.Resource) throw malformed(`${where}: Action and Resource are required`);
    const operators = Object.keys(s.Condition ?? {});
    const other = operators.find((o) => o !== 'StringEquals');
    if (other !== undefined) {
      throw malformed(
        `${where}: the local IAM evaluates the StringEquals condition operator only, not ${other}`,
      );
    }
    return {
      actions: list(s.Action),
      resources: list(s.Resource),
      ...(s.Condition?.StringEquals ? { conditions: { StringEquals: s.Condition.StringEquals } } : {}),
    };
  });
}

/** Whether a trust policy lets `service` (`states.amazonaws.com`) assume the role. */
function trustsService(document: string, service: string): boolean {
  let statements: z.infer<typeof Statement>[];
  try {
    const parsed = parsePolicy(document).Statement;
    statements = Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    return false;
  }
  return statements.some((s) => {
    const principal = s.Principal as { Service?: unknown } | undefined;
    const services = principal?.Service;
    const named = typeof services === 'string' ? [services] : Array.isArray(services) ? services : [];
    const actions = s.Action ? list(s.Action) : [];
    return (
      s.Effect === 'Allow' &&
      named.includes(service) &&
      actions.some((a) => a === '*' || a.toLowerCase() === 'sts:assumerole' || a.toLowerCase() === 'sts:*')
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The roles and their persistence.

interface Role {
  path: string;
  roleName: string;
  roleId: string;
  arn: string;
  createDate: string;
  assumeRolePolicyDocument: string;
  description?: string;
  permissionsBoundary?: string;
  tags: { Key: string; Value: string }[];
  /** Inline policies by name: their documents as given. */
  policies: Record<string, string>;
}

const StoredRoles = z.record(
  z.string(),
  z.object({
    path: z.string(),
    roleName: z.string(),
    roleId: z.string(),
    arn: z.string(),
    createDate: z.string(),
    assumeRolePolicyDocument: z.string(),
    description: z.string().optional(),
    permissionsBoundary: z.string().optional(),
    tags: z.array(z.object({ Key: z.string(), Value: z.string() })),
    policies: z.record(z.string(), z.string()),
  }),
);

export function roleArnOf(path: string, roleName: string): string {
  return `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role${path}${roleName}`;
}

export class LocalIamRoles {
  readonly #file: string;
  /** By role name (unique in an account, whatever the path). */
  readonly #roles: Map<string, Role>;
  readonly #managed = new Map<string, Grant[]>();
  #saving: Promise<void> = Promise.resolve();

  private constructor(file: string, roles: Map<string, Role>) {
    this.#file = file;
    this.#roles = roles;
  }

  /** The roles kept in `<dataDir>/roles.json` (none when the file does not exist yet). */
  static async open(dataDir: string): Promise<LocalIamRoles> {
    const file = join(dataDir, 'roles.json');
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const stored = text === undefined ? {} : StoredRoles.parse(JSON.parse(text));
    return new LocalIamRoles(file, new Map(Object.entries(stored)));
  }

  /** A managed policy a role's boundary may name (CDK's, in AWS); the document as IAM takes it. */
  registerManagedPolicy(arn: string, document: string | object): void {
    this.#managed.set(arn, policyGrants(typeof document === 'string' ? document : JSON.stringify(document)));
  }

  #byArn(roleArn: string): Role | undefined {
    const name = roleArn.slice(roleArn.lastIndexOf('/') + 1);
    const role = this.#roles.get(name);
    return role?.arn === roleArn ? role : undefined;
  }

  /** The role's inline policies' statements as grants; undefined when there is no such role. */
  statementsOf(roleArn: string): Grant[] | undefined {
    const role = this.#byArn(roleArn);
    return role ? Object.values(role.policies).flatMap(policyGrants) : undefined;
  }

  /** Its permissions boundary's grants (none allowed when the policy is not registered); undefined without one. */
  boundaryOf(roleArn: string): Grant[] | undefined {
    const boundary = this.#byArn(roleArn)?.permissionsBoundary;
    return boundary === undefined ? undefined : (this.#managed.get(boundary) ?? []);
  }

  /** Whether the role exists and its trust policy lets `service` assume it. */
  trusts(roleArn: string, service: string): boolean {
    const role = this.#byArn(roleArn);
    return role !== undefined && trustsService(role.assumeRolePolicyDocument, service);
  }

  get(roleName: string): Role | undefined {
    return this.#roles.get(roleName);
  }

  isManagedPolicy(arn: string): boolean {
    return this.#managed.has(arn);
  }

  async put(role: Role): Promise<void> {
    this.#roles.set(role.roleName, role);
    await this.#save();
  }

  async delete(roleName: string): Promise<void> {
    this.#roles.delete(roleName);
    await this.#save();
  }

  #save(): Promise<void> {
    const content = `${JSON.stringify(Object.fromEntries(this.#roles), null, 2)}\n`;
    const save = this.#saving.then(async () => {
      await mkdir(join(this.#file, '..'), { recursive: true });
      const temp = `${this.#file}.${process.pid}.tmp`;
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(content);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.#file);
    });
    this.#saving = save.catch(() => undefined);
    return save;
  }
}

// ---------------------------------------------------------------------------------------------
// The endpoint.

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
const PATH = /^(\/|\/[\u0021-\u007E]{0,510}\/)$/;
const POLICY_ARN = /^arn:aws:iam::(\d{12}|aws):policy\/[\u0021-\u007E]{1,2000}$/;

function required(form: URLSearchParams, name: string, member: string, pattern?: RegExp): string {
  const value = form.get(name);
  if (value === null) {
    throw validation(
      `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
    );
  }
  if (pattern && !pattern.test(value)) {
    throw validation(
      `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern.source}`,
    );
  }
  return value;
}

function roleXml(role: Role): Record<string, XmlValue> {
  return {
    Path: role.path,
    RoleName: role.roleName,
    RoleId: role.roleId,
    Arn: role.arn,
    CreateDate: role.createDate,
    AssumeRolePolicyDocument: encodeURIComponent(role.assumeRolePolicyDocument),
    Description: role.description,
    MaxSessionDuration: 3600,
    PermissionsBoundary: role.permissionsBoundary
      ? { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: role.permissionsBoundary }
      : undefined,
    Tags: role.tags.length > 0 ? role.tags : undefined,
  };
}

export async function startIamRolesEndpoint(opts: {
  iam: LocalIam;
  roles: LocalIamRoles;
  host?: string;
  port?: number;
  log?: (message: string) => void;
}): Promise<{ url: string; close(): Promise<void> }> {
  const { roles } = opts;
  const log = opts.log ?? ((message) => process.stderr.write(`${message}\n`));

  const existing = (roleName: string): Role => {
    const role = roles.get(roleName);
    if (!role) throw noSuchEntity(`The role with name ${roleName} cannot be found.`);
    return role;
  };

  const operations: Record<
    Operation,
    (
      form: URLSearchParams,
      authorize: (action: string, arn: string, context?: Record<string, string>) => Promise<void>,
    ) => Promise<Record<string, XmlValue> | undefined>
  > = {
    CreateRole: async (form, authorize) => {
      const roleName = required(form, 'RoleName', 'roleName', ROLE_NAME);
      const path = form.get('Path') ?? '/';
      if (!PATH.test(path)) {
        throw validation(
          `1 validation error detected: Value '${path}' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)`,
        );
      }
      const trust = required(form, 'AssumeRolePolicyDocument', 'assumeRolePolicyDocument');
      const boundary = form.get('PermissionsBoundary') ?? undefined;
      const description = form.get('Description') ?? undefined;
      const arn = roleArnOf(path, roleName);
      await authorize('iam:CreateRole', arn, boundary ? { 'iam:PermissionsBoundary': boundary } : {});
      if (description !== undefined && description.length > 1000) {
        throw validation(
          "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000",
        );
      }
      const tags = formMembers(form, 'Tags', ['Key', 'Value']).map((t, i) => {
        if (!t.Key || t.Key.length > 128 || (t.Value ?? '').length > 256) {
          throw validation(
            `Tags.member.${i + 1}: a tag needs a Key of 1-128 characters and a Value of at most 256`,
          );
        }
        return { Key: t.Key, Value: t.Value ?? '' };
      });
      if (tags.length > MAX_TAGS)
        throw new IamError('LimitExceeded', 409, `A role can have at most ${MAX_TAGS} tags.`);
      if (trust.length > MAX_TRUST_POLICY_CHARS) {
        throw new IamError(
          'LimitExceeded',
          409,
          `Cannot exceed quota for ACLSizePerRole: ${MAX_TRUST_POLICY_CHARS}`,
        );
      }
      const trustPolicy = parsePolicy(trust).Statement;
      if ((Array.isArray(trustPolicy) ? trustPolicy : [trustPolicy]).some((s) => s.Principal === undefined)) {
        throw malformed(
          'Has prohibited field Resource or missing Principal: a trust policy names its Principal',
        );
      }
      if (boundary !== undefined) {
        if (!POLICY_ARN.test(boundary))
          throw new IamError('InvalidInput', 400, `ARN ${boundary} is not valid.`);
        if (!roles.isManagedPolicy(boundary)) {
          throw noSuchEntity(`Scope ARN: ${boundary} does not exist or is not attachable.`);
        }
      }
      if (roles.get(roleName))
        throw new IamError('EntityAlreadyExists', 409, `Role with name ${roleName} already exists.`);
      const role: Role = {
        path,
        roleName,
        roleId: `AROA${randomBytes(16).toString('hex').toUpperCase().slice(0, 17)}`,
        arn,
        createDate: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        assumeRolePolicyDocument: trust,
        ...(description !== undefined ? { description } : {}),
        ...(boundary !== undefined ? { permissionsBoundary: boundary } : {}),
        tags,
        policies: {},
      };
      await roles.put(role);
      return { Role: roleXml(role) };
    },
    GetRole: async (form, authorize) => {
      const roleName = required(form, 'RoleName', 'roleName', ROLE_NAME);
      const role = existing(roleName);
      await authorize('iam:GetRole', role.arn);
      return { Role: roleXml(role) };
    },
    DeleteRole: async (form, authorize) => {
      const roleName = required(form, 'RoleName', 'roleName', ROLE_NAME);
      const role = existing(roleName);
      await authorize('iam:DeleteRole', role.arn);
      if (Object.keys(role.policies).length > 0) {
        throw new IamError('DeleteConflict', 409, 'Cannot delete entity, must delete policies first.');
      }
      await roles.delete(roleName);
      return undefined;
    },
    PutRolePolicy: async (form, authorize) => {
      const roleName = required(form, 'RoleName', 'roleName', ROLE_NAME);
      const policyName = required(form, 'PolicyName', 'policyName', POLICY_NAME);
      const document = required(form, 'PolicyDocument', 'policyDocument');
      const target = existing(roleName);
      const boundary = target.permissionsBoundary;
      await authorize(
        'iam:PutRolePolicy',
        target.arn,
        boundary ? { 'iam:PermissionsBoundary': boundary } : {},
      );
      if (document.length > MAX_INLINE_POLICY_CHARS) {
        throw new IamError(
          'LimitExceeded',
          409,
          `Maximum policy size of ${MAX_INLINE_POLICY_CHARS} bytes exceeded for role ${roleName}`,
        );
      }
      policyGrants(document);
      await roles.put({ ...target, policies: { ...target.policies, [policyName]: document } });
      return undefined;
    },
    GetRolePolicy: async (form, authorize) => {
      const roleName = required(form, 'RoleName', 'roleName', ROLE_NAME);
      const policyName = required(form, 'PolicyName', 'policyName', POLICY_NAME);
      const role = existing(roleName);
      await authorize('iam:GetRolePolicy', role.arn);
      const document = role.policies[policyName];
      if (document === undefined)
        throw noSuchEntity(`The role policy with name ${policyName} cannot be found.`);
      return { RoleName: roleName, PolicyName: policyName, PolicyDocument: encodeURIComponent(document) };
    },
    DeleteRolePolicy: async (form, authorize) => {
      const roleName = required(form, 'RoleName', 'roleName', ROLE_NAME);
      const policyName = required(form, 'PolicyName', 'policyName', POLICY_NAME);
      const role = existing(roleName);
      await authorize('iam:DeleteRolePolicy', role.arn);
      if (role.policies[policyName] === undefined) {
        throw noSuchEntity(`The role policy with name ${policyName} cannot be found.`);
      }
      const { [policyName]: _deleted, ...rest } = role.policies;
      await roles.put({ ...role, policies: rest });
      return undefined;
    },
    ListRolePolicies: async (form, authorize) => {
      const roleName = required(form, 'RoleName', 'roleName', ROLE_NAME);
      const role = existing(roleName);
      await authorize('iam:ListRolePolicies', role.arn);
      const maxItems = Number(form.get('MaxItems') ?? '100');
      if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > MAX_ITEMS) {
        throw validation(
          `1 validation error detected: Value at 'maxItems' failed to satisfy constraint: Member must be between 1 and ${MAX_ITEMS}`,
        );
      }
      const marker = form.get('Marker');
      const names = Object.keys(role.policies).sort();
      const after = marker === null ? undefined : Buffer.from(marker, 'base64url').toString('utf8');
      if (
        marker !== null &&
        (marker === '' || Buffer.from(after ?? '', 'utf8').toString('base64url') !== marker)
      ) {
        throw validation('Invalid Marker.');
      }
      const rest = after === undefined ? names : names.filter((n) => n > after);
      const page = rest.slice(0, maxItems);
      const truncated = rest.length > page.length;
      return {
        PolicyNames: page,
        IsTruncated: truncated,
        Marker: truncated ? Buffer.from(page.at(-1) ?? '', 'utf8').toString('base64url') : undefined,
      };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string) => {
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://local').pathname !== '/') {
      throw new IamError(
        'InvalidAction',
        400,
        'The local IAM answers POST / with a form body (the query protocol)',
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk as Buffer);
    }
    if (size > MAX_REQUEST_BYTES) throw validation(`The request must be at most ${MAX_REQUEST_BYTES} bytes`);
    const raw = Buffer.concat(chunks).toString('utf8');
    const form = new URLSearchParams(raw);
    const action = form.get('Action') ?? '';
    if (!(ROLE_OPERATIONS as readonly string[]).includes(action)) {
      throw new IamError(
        'InvalidAction',
        400,
        `The local IAM answers ${ROLE_OPERATIONS.join(', ')}, not "${action}"`,
      );
    }
    if (form.get('Version') !== API_VERSION) {
      throw new IamError('InvalidAction', 400, `Version must be ${API_VERSION}`);
    }
    const signed = { method: 'POST', url: req.url ?? '/', headers: req.headers, body: raw };
    const authorize = async (iamAction: string, arn: string, context: Record<string, string> = {}) => {
      const denial = await opts.iam.authorize(signed, iamAction, arn, context);
      if (!denial) return;
      if (denial.reason === 'signature') throw new IamError('SignatureDoesNotMatch', 403, denial.message);
      throw new IamError('AccessDenied', 403, denial.message);
    };
    const result = await operations[action as Operation](form, authorize);
    res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
    res.end(answerXml(action, result, requestId));
  };

  const server = createServer((req, res) => {
    const requestId = randomUUID();
    handle(req, res, requestId).catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      const error =
        err instanceof IamError ? err : new IamError('ServiceFailure', 500, 'The local IAM failed.');
      if (!(err instanceof IamError)) log(`[iam] ${(err as Error).stack ?? err}`);
      res.writeHead(error.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(errorXml(error, requestId));
    });
  });
  return {
    url: await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0),
    close: () => closeNow(server),
  };
}
