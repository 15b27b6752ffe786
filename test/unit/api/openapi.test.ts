import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { managerDeclarations } from '#infra/managers.ts';
import { manifest } from '#infra/manifest.ts';
import { BEARER_SCHEME, buildOpenApiDocument, OPENAPI_FILE, openApiJson } from '#infra/openapi.ts';
import { OPERATIONS } from '#shared/api/operations.ts';

/** The OpenAPI document: complete, exact, valid, and the committed file up to date. */

const ROOT = join(import.meta.dirname, '../../..');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

type Operation = {
  operationId: string;
  security: Array<Record<string, string[]>>;
  'x-required-role': string;
  description: string;
  responses: Record<string, unknown>;
  parameters?: Array<{ in: string; name: string }>;
};
type Doc = { paths: Record<string, Record<string, Operation>> };

const doc = buildOpenApiDocument() as unknown as Doc;
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
);

describe('the OpenAPI document', () => {
  it('has every manifest route and nothing else', () => {
    expect(operations.map((o) => o.key).sort()).toEqual(
      manifest.routes.map((r) => `${r.method} ${r.path}`).sort(),
    );
  });

  it('declares security and the required role of each route as the manifest does', () => {
    for (const route of manifest.routes) {
      const op = doc.paths[route.path]![route.method.toLowerCase()]!;
      expect(op['x-required-role'], route.path).toBe(route.role);
      expect(op.security, route.path).toEqual(route.role === 'public' ? [] : [{ [BEARER_SCHEME]: [] }]);
      if (route.role === 'public') expect(op.description).toContain('**Public**');
      else {
        expect(op.description).toContain(`\`${route.role}\` role`);
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      }
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['429', '500']));
      // Path parameters: exactly the route's.
      const declared = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const documented = (op.parameters ?? [])
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort();
      expect(documented, route.path).toEqual(declared);
    }
  });

  it('describes only functions the manifest routes, with unique operation ids', () => {
    const routed = new Set<string>(manifest.routes.map((r) => r.function));
    expect(Object.keys(OPERATIONS).filter((name) => !routed.has(name))).toEqual([]);
    const ids = operations.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('documents the 503 of a stopped manager on exactly the routes of the managers that can be stopped', () => {
    const stoppable = managerDeclarations()
      .filter((m) => m.stoppable)
      .flatMap((m) => m.routes.map((route) => [route, m.id] as const));
    const documented = operations.flatMap(({ key, op }) => {
      const res = op.responses['503'] as
        | { description: string; headers?: Record<string, unknown> }
        | undefined;
      const m = /^SERVICE_UNAVAILABLE: the (\S+) manager is stopped/.exec(res?.description ?? '');
      if (!m) return [];
      expect(res!.headers, key).toHaveProperty('retry-after');
      return [[key, m[1]] as const];
    });
    expect(documented.sort()).toEqual(stoppable.sort());
  });

  it('is valid OpenAPI 3.1 (swagger-parser)', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it(`is committed up to date in ${OPENAPI_FILE} (else: npm run openapi)`, async () => {
    const committed = await readFile(join(ROOT, OPENAPI_FILE), 'utf8');
    expect(committed === openApiJson(), `${OPENAPI_FILE} is stale: run npm run openapi`).toBe(true);
  });
});
