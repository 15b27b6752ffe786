import type { Grant } from '../infra/function-environment.ts';

/**
 * The local runtime's IAM: each function calls the local S3, SQS, EventBridge, parameter and
 * secret endpoints with credentials of its own, and a call its grants (the same statements CDK
 * puts in its role's policy) do not allow is refused as AWS refuses it. Any other credentials
 * (a developer's CLI, the runtime's own queue pollers) stand for the account's administrator.
 *
 * Signatures are not verified: this catches a missing grant before deployment, it does not
 * defend against code that forges another function's access key.
 */

export const LOCAL_ACCOUNT_ID = '000000000000';

export interface Principal {
  functionName: string;
  /** The function's role as AWS names the caller in an access-denied message. */
  arn: string;
  grants: readonly Grant[];
}

export interface Denial {
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

export class LocalIam {
  readonly #principals = new Map<string, Principal>();

  /** Registers a function's credentials; returns the access key id to give it. */
  register(functionName: string, grants: readonly Grant[]): string {
    const accessKeyId = `LOCAL${functionName.replace(/[^A-Za-z0-9]/g, '').toUpperCase()}`;
    this.#principals.set(accessKeyId, {
      functionName,
      arn: `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/${functionName}-role/${functionName}`,
      grants,
    });
    return accessKeyId;
  }

  /** The function behind a SigV4 `Authorization` header (or presigned `X-Amz-Credential`), if any. */
  principalOf(credential: string | undefined): Principal | undefined {
    const accessKeyId = /Credential=([^/,\s]+)\//.exec(credential ?? '')?.[1] ?? credential?.split('/')[0];
    return accessKeyId ? this.#principals.get(accessKeyId) : undefined;
  }

  /** Undefined when the call is allowed, else why it is not. */
  authorize(credential: string | undefined, action: string, resource: string): Denial | undefined {
    const principal = this.principalOf(credential);
    if (!principal) return undefined;
    const allowed = principal.grants.some(
      (grant) =>
        grant.actions.some((a) => wildcard(a, 'i').test(action)) &&
        grant.resources.some((r) => wildcard(r).test(resource)),
    );
    if (allowed) return undefined;
    return {
      principal,
      action,
      resource,
      message: `User: ${principal.arn} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
    };
  }
}

/** The credential part of a request: its `Authorization` header or a presigned URL's `X-Amz-Credential`. */
export function requestCredential(
  headers: Record<string, string | string[] | undefined>,
  url: string,
): string {
  const header = headers.authorization;
  if (typeof header === 'string' && header !== '') return header;
  return new URL(url, 'http://local').searchParams.get('X-Amz-Credential') ?? '';
}
