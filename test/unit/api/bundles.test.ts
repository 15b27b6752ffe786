import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledFilesCommands, handlerBuildOptions, handlerBundle } from '#infra/constructs/bundling.ts';
import { manifest } from '#infra/manifest.ts';
import { DOCS_ASSETS, DOCS_CONTENT_SECURITY_POLICY } from '#shared/api/docs-page.ts';
import { ROUTE_ROLES_ENV } from '#shared/auth/roles.ts';

/**
 * The docs and openapi functions bundled as Lambda gets them: esbuild with the `handlerBundle`
 * options `ServiceFunction` passes to NodejsFunction, then the `afterBundling` commands that copy
 * the manifest's `files` beside the bundle. Each bundle runs in a Node process of its own, from a
 * directory outside the repository (no node_modules to fall back on), and must serve every asset.
 */

const ROOT = join(import.meta.dirname, '../../..');
const run = promisify(execFile);
let outDir: string;

async function bundleFunction(name: 'docs' | 'openapi'): Promise<string> {
  const decl = manifest.functions[name];
  const dir = join(outDir, name);
  await build({ ...handlerBuildOptions(join(ROOT, decl.entry), dir), logLevel: 'error' });
  const files = 'files' in decl ? decl.files : [];
  for (const command of bundledFilesCommands(files, ROOT, dir)) await run('sh', ['-c', command]);
  return dir;
}

/** Invokes the bundled handler with API Gateway events for `paths`, in a fresh Node process. */
async function invoke(dir: string, requests: Array<{ routeKey: string; rawPath: string; file?: string }>) {
  const routeRoles = Object.fromEntries(manifest.routes.map((r) => [`${r.method} ${r.path}`, r.role]));
  const script = `
    const { handler } = await import(${JSON.stringify(join(dir, handlerBundle.outFile))});
    const out = [];
    for (const r of ${JSON.stringify(requests)}) {
      const event = { version: '2.0', routeKey: r.routeKey, rawPath: r.rawPath, rawQueryString: '', headers: {},
        requestContext: { http: { method: 'GET', path: r.rawPath }, requestId: 'r' },
        ...(r.file ? { pathParameters: { file: r.file } } : {}), isBase64Encoded: false };
      out.push(await handler(event, { awsRequestId: 'req-1', functionName: 'f', getRemainingTimeInMillis: () => 5000 }));
    }
    process.stdout.write(JSON.stringify(out));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      [ROUTE_ROLES_ENV]: JSON.stringify(routeRoles),
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Array<{
    statusCode: number;
    headers: Record<string, string>;
    body: string;
    isBase64Encoded?: boolean;
  }>;
}

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'vp-bundles-'));
});
afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('the docs function bundle', () => {
  it('carries the page and every asset, served with its content type; an unknown one is a 404', async () => {
    const dir = await bundleFunction('docs');
    const names = Object.keys(DOCS_ASSETS);
    const [page, unknown, ...assets] = await invoke(dir, [
      { routeKey: 'GET /api/v1/docs', rawPath: '/api/v1/docs' },
      { routeKey: 'GET /api/v1/docs/{file}', rawPath: '/api/v1/docs/nope.js', file: 'nope.js' },
      ...names.map((file) => ({
        routeKey: 'GET /api/v1/docs/{file}',
        rawPath: `/api/v1/docs/${file}`,
        file,
      })),
    ]);
    expect(page).toMatchObject({ statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8' } });
    expect(page!.headers['content-security-policy']).toBe(DOCS_CONTENT_SECURITY_POLICY);
    expect(page!.body).toContain('/api/v1/docs/swagger-ui-bundle.js');
    expect(unknown!.statusCode).toBe(404);
    expect(JSON.parse(unknown!.body)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    for (const [i, file] of names.entries()) {
      const asset = DOCS_ASSETS[file]!;
      const res = assets[i]!;
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['content-type'], file).toBe(asset.contentType);
      const bytes = Buffer.from(res.body, res.isBase64Encoded ? 'base64' : 'utf8');
      const expected =
        'text' in asset.source
          ? Buffer.from(asset.source.text)
          : await readFile(join(ROOT, 'node_modules', asset.source.package));
      expect(bytes.equals(expected), `${file}: the package's bytes`).toBe(true);
    }
  });
});

describe('the openapi function bundle', () => {
  it('answers the committed document', async () => {
    const dir = await bundleFunction('openapi');
    const [res] = await invoke(dir, [
      { routeKey: 'GET /api/v1/openapi.json', rawPath: '/api/v1/openapi.json' },
    ]);
    expect(res!.statusCode).toBe(200);
    expect(res!.headers['content-type']).toMatch(/^application\/json/);
    const committed = JSON.parse(await readFile(join(ROOT, 'docs/openapi.json'), 'utf8'));
    expect(JSON.parse(res!.body)).toEqual(committed);
  });
});
