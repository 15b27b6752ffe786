import { S3Client } from '@aws-sdk/client-s3';
import type { LocalRuntime } from '#infra/local/runtime.ts';

/**
 * What the integration tests share: calls to a local runtime's HTTP API, and an S3 client on its
 * exports bucket (any credentials work locally).
 */

/** `call(method, path, body?, headers?)` against `baseUrl()` (read per call: a test may restart its runtime). */
export function apiCaller(baseUrl: () => string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
}

export function s3ClientOf(runtime: LocalRuntime): S3Client {
  return new S3Client({
    region: runtime.region,
    endpoint: runtime.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}
