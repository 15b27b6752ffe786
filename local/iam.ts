import { createHash, createHmac, type Hash, type Hmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Grant } from '../infra/function-environment.ts';

/**
 * The local runtime's IAM: each function calls the local S3, SQS, EventBridge, parameter and
 * secret endpoints with credentials of its own, and a call its grants (the same statements CDK
 * puts in its role's policy) do not allow is refused as AWS refuses it. A call made with a
 * function's access key must carry a valid SigV4 signature of that function's secret key, so no
 * code can borrow another function's grants by its key alone. Any other credentials (a
 * developer's CLI, the runtime's own queue pollers) stand for the account's administrator.
 */

export const LOCAL_ACCOUNT_ID = '000000000000';

export interface Principal {
  functionName: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The function's role as AWS names the caller in an access-denied message. */
  arn: string;
  grants: readonly Grant[];
  /** A permissions boundary: what the grants can allow at most. */
  boundary?: readonly Grant[];
}

export interface Denial {
  /** `signature`: the request is not signed by the principal's secret key; `access`: not granted. */
  reason: 'signature' | 'access';
  principal: Principal;
  action: string;
  resource: string;
  /** AWS's message: who may not do what on which resource. */
  message: string;
}

/** IAM's wildcard match: `*` any run of characters, `?` one; actions compare case-insensitively. */
function wildcard(pattern: string, flags = ''): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, flags);
}

/** Whether one of `grants` allows `action` on `resource` in the request's `context`. */
export function allows(
  grants: readonly Grant[],
  action: string,
  resource: string,
  context: Readonly<Record<string, string>> = {},
): boolean {
  return grants.some(
    (grant) =>
      grant.actions.some((a) => wildcard(a, 'i').test(action)) &&
      grant.resources.some((r) => wildcard(r).test(resource)) &&
      conditionsHold(grant, context),
  );
}

/**
 * IAM's Condition block, `StringEquals` only (a grant with another operator never matches): each
 * key's value in the request context must be one of the grant's values; a key the request does
 * not carry does not match, as in IAM.
 */
function conditionsHold(grant: Grant, context: Readonly<Record<string, string>>): boolean {
  for (const [operator, keys] of Object.entries(grant.conditions ?? {})) {
    if (operator !== 'StringEquals') return false;
    for (const [key, expected] of Object.entries(keys)) {
      const value = Object.hasOwn(context, key) ? context[key] : undefined;
      const values: readonly string[] = typeof expected === 'string' ? [expected] : expected;
      if (value === undefined || !values.includes(value)) return false;
    }
  }
  return true;
}

export class LocalIam {
  readonly #principals = new Map<string, Principal>();

  /**
   * Registers a function's credentials (a new secret key each start); returns them to give it.
   * `options.arn` names the caller otherwise than a function's role (a workflow's role);
   * `options.boundary`, a permissions boundary: a call must then be allowed by both.
   */
  register(
    functionName: string,
    grants: readonly Grant[],
    options: { arn?: string; boundary?: readonly Grant[] } = {},
  ): { accessKeyId: string; secretAccessKey: string } {
    const accessKeyId = `LOCAL${functionName.replace(/[^A-Za-z0-9]/g, '').toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64url');
    this.#principals.set(accessKeyId, {
      functionName,
      accessKeyId,
      secretAccessKey,
      arn:
        options.arn ?? `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/${functionName}-role/${functionName}`,
      grants,
      ...(options.boundary ? { boundary: options.boundary } : {}),
    });
    return { accessKeyId, secretAccessKey };
  }

  /**
   * Undefined when the call is allowed, else why it is not. `context` holds the request's
   * condition keys (`iam:PermissionsBoundary`, `iam:PassedToService`) that grants with
   * conditions are matched against.
   */
  async authorize(
    request: SignedRequest,
    action: string,
    resource: string,
    context: Readonly<Record<string, string>> = {},
  ): Promise<Denial | undefined> {
    const credential = requestCredential(request.headers, request.url);
    const accessKeyId = /Credential=([^/,\s]+)\//.exec(credential)?.[1] ?? credential.split('/')[0];
    const principal = accessKeyId ? this.#principals.get(accessKeyId) : undefined;
    if (!principal) return undefined;
    if (!(await signedBy(request, principal))) {
      return {
        reason: 'signature',
        principal,
        action,
        resource,
        message:
          'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      };
    }
    const allowed =
      allows(principal.grants, action, resource, context) &&
      (principal.boundary === undefined || allows(principal.boundary, action, resource, context));
    if (allowed) return undefined;
    return {
      reason: 'access',
      principal,
      action,
      resource,
      message: `User: ${principal.arn} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
    };
  }
}

/** A request as it reached a local endpoint: the body only where its hash is not a header (not S3). */
export interface SignedRequest {
  method: string;
  /** The raw request target: path and query, still percent-encoded. */
  url: string;
  headers: IncomingHttpHeaders;
  body?: string | Buffer;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

/** SHA-256 and HMAC-SHA-256 for the signer, from Node's crypto. */
export class NodeSha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: SourceData): void {
    this.#hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

function toBytes(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * Whether the request's SigV4 `Authorization` header was made with the principal's secret key:
 * the request is signed again over the headers it names (SignedHeaders), its date, region and
 * service, and the two signatures compared. A query-signed (presigned) request is not checked
 * here and is refused: no function presigns today.
 */
async function signedBy(request: SignedRequest, principal: Principal): Promise<boolean> {
  const header = request.headers.authorization;
  const parts = typeof header === 'string' ? /^AWS4-HMAC-SHA256 (.+)$/.exec(header)?.[1] : undefined;
  if (!parts) return false;
  const fields = Object.fromEntries(parts.split(/,\s*/).map((p) => p.split('=', 2) as [string, string]));
  const [, , region, service] = (fields.Credential ?? '').split('/');
  const signedHeaders = (fields.SignedHeaders ?? '').split(';');
  const date = request.headers['x-amz-date'];
  if (!region || !service || !fields.Signature || typeof date !== 'string') return false;
  const signingDate = new Date(
    date.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  if (Number.isNaN(signingDate.getTime())) return false;

  // A body hash given as a header (S3's, or the SDK's) is signed in its place: it must be the body's.
  const claimedHash = request.headers['x-amz-content-sha256'];
  if (
    request.body !== undefined &&
    typeof claimedHash === 'string' &&
    claimedHash !== createHash('sha256').update(request.body).digest('hex')
  ) {
    return false;
  }

  const url = new URL(request.url, 'http://local');
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = request.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey },
    region,
    service,
    sha256: NodeSha256,
    // S3 signs the path as sent; the other services encode it once more.
    uriEscapePath: service !== 's3',
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: String(request.headers.host ?? ''),
      path: url.pathname,
      query,
      headers,
      body: request.body,
    },
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]+)/.exec(String(signed.headers.authorization))?.[1];
  const given = fields.Signature;
  return (
    expected !== undefined &&
    given.length === expected.length &&
    timingSafeEqual(Buffer.from(given), Buffer.from(expected))
  );
}

/** The error type AWS JSON services answer a denial with. */
export const JSON_DENIALS = {
  signature: 'InvalidSignatureException',
  access: 'AccessDeniedException',
} as const satisfies Record<Denial['reason'], string>;

/** The credential part of a request: its `Authorization` header or a presigned URL's `X-Amz-Credential`. */
function requestCredential(headers: Record<string, string | string[] | undefined>, url: string): string {
  const header = headers.authorization;
  if (typeof header === 'string' && header !== '') return header;
  return new URL(url, 'http://local').searchParams.get('X-Amz-Credential') ?? '';
}
