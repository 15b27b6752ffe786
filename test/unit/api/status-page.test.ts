import { Script } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { handler } from '#functions/platform/status-page/handler.ts';
import { manifest } from '#infra/manifest.ts';
import {
  STATUS_PAGE_ASSET_CACHE,
  STATUS_PAGE_ASSETS,
  STATUS_PAGE_CONTENT_SECURITY_POLICY,
  STATUS_PAGE_PATH,
} from '#shared/api/status-page.ts';
import { STATUS_PAGE_SCRIPT } from '#shared/api/status-page-script.ts';
import { ROUTE_ROLES_ENV } from '#shared/auth/roles.ts';
import { httpEvent, lambdaContext } from '../http/support.ts';

/** The status page function as the gateway calls it: public routes, no claims. */
async function get(file?: string) {
  const path = file === undefined ? STATUS_PAGE_PATH : `${STATUS_PAGE_PATH}/${file}`;
  process.env[ROUTE_ROLES_ENV] = JSON.stringify(
    Object.fromEntries(
      manifest.routes
        .filter((r) => r.function === 'statusPage')
        .map((r) => [`${r.method} ${r.path}`, r.role]),
    ),
  );
  const event = httpEvent({
    path,
    claims: null,
    ...(file === undefined ? {} : { pathParameters: { file } }),
  });
  event.routeKey = file === undefined ? `GET ${STATUS_PAGE_PATH}` : `GET ${STATUS_PAGE_PATH}/{file}`;
  const res = await handler(event, lambdaContext());
  return { status: res.statusCode, headers: res.headers ?? {}, body: String(res.body) };
}

describe('the status page function', () => {
  it('answers the page with its own policy, never cached, linking every asset and no inline code', async () => {
    const page = await get();
    expect(page.status).toBe(200);
    expect(page.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': STATUS_PAGE_CONTENT_SECURITY_POLICY,
      'cache-control': 'no-store',
    });
    for (const file of Object.keys(STATUS_PAGE_ASSETS)) {
      expect(page.body).toContain(`"${STATUS_PAGE_PATH}/${file}"`);
    }
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/\sstyle=|<style/);
  });

  it('serves each asset with its content type, cached for good under its hashed name', async () => {
    const assets = Object.entries(STATUS_PAGE_ASSETS);
    expect(assets.map(([, a]) => a.contentType.split(';')[0]).sort()).toEqual([
      'application/javascript',
      'text/css',
    ]);
    for (const [file, asset] of assets) {
      expect(file).toMatch(/^status-page\.[0-9a-f]{12}\.(js|css)$/);
      const res = await get(file);
      expect(res.status, file).toBe(200);
      expect(res.headers, file).toMatchObject({
        'content-type': asset.contentType,
        'cache-control': STATUS_PAGE_ASSET_CACHE,
      });
      expect(res.body, file).toBe(asset.text);
    }
  });

  it('answers an unknown file with a 404 in the API error shape', async () => {
    const res = await get('status-page.000000000000.js');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.body)).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'no status page asset "status-page.000000000000.js"',
        issues: [{ field: 'path.file', reason: 'no such asset' }],
        requestId: 'req-123',
      },
    });
  });

  it('has a script that parses and puts API data in as text, never as markup', () => {
    expect(() => new Script(STATUS_PAGE_SCRIPT)).not.toThrow();
    expect(STATUS_PAGE_SCRIPT).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  });
});
