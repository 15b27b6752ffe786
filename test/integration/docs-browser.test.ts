import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest } from '#infra/manifest.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { findChromium } from './chromium.ts';

/**
 * The documentation page in a real browser (Debian's chromium, driven by playwright-core): it
 * renders every manifest route from /api/v1/openapi.json, loads nothing its content security
 * policy refuses, and "Try it out" on GET /api/v1/status answers 200 once authorized with a token
 * of the runtime's issuer. Without chromium the test is skipped locally, and fails in CI.
 */

const CHROMIUM = findChromium('docs-browser.test.ts');

describe.skipIf(!CHROMIUM)('the API documentation page in chromium', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  let browser: Browser;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-docs-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true });
    browser = await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('renders every route, authorizes with a token and runs "Try it out" on GET /status', async () => {
    const page = await browser.newPage();
    // Every violation of the page's content security policy, as the browser reports it to the page.
    await page.addInitScript({
      content: `window.cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(
          e.effectiveDirective + ' refused ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')'));`,
    });
    const refused: string[] = [];
    const external: string[] = [];
    page.on('console', (msg) => {
      if (/content security policy|Refused to/i.test(msg.text())) refused.push(msg.text());
    });
    page.on('request', (req) => {
      if (!req.url().startsWith(rt.apiUrl) && !req.url().startsWith('data:')) external.push(req.url());
    });
    const res = await page.goto(`${rt.apiUrl}/api/v1/docs`);
    expect(res?.status()).toBe(200);
    await page.locator('.opblock').first().waitFor({ timeout: 20_000 });

    const rendered = await page.$$eval('.opblock', (blocks) =>
      blocks.map((b) => {
        const method = b.querySelector('.opblock-summary-method')?.textContent ?? '';
        const path = b.querySelector('[data-path]')?.getAttribute('data-path') ?? '';
        return `${method.toUpperCase()} ${path}`;
      }),
    );
    expect(rendered.sort()).toEqual(manifest.routes.map((r) => `${r.method} ${r.path}`).sort());

    // Authorize: the bearer scheme's dialog takes a token of the runtime's issuer (a reader).
    const token = await rt.issueToken({ groups: ['readonly'] });
    await page.locator('.auth-wrapper .authorize').click();
    await page.locator('.modal-ux input[type="text"]').fill(token);
    await page.locator('.modal-ux .auth-btn-wrapper .authorize').click();
    await page.locator('.modal-ux .btn-done').click();

    const status = page.locator('#operations-platform-status');
    await status.locator('.opblock-summary').click();
    await status.locator('.try-out__btn').click();
    await status.locator('.execute').click();
    const code = status.locator('.live-responses-table tbody .response-col_status').first();
    await expect.poll(async () => (await code.textContent())?.trim(), { timeout: 15_000 }).toBe('200');
    expect(await status.locator('.live-responses-table .microlight').first().textContent()).toContain(
      '"status"',
    );

    expect(refused, 'content security policy violations (console)').toEqual([]);
    const violations = (await page.evaluate('window.cspViolations')) as string[];
    expect(violations, 'content security policy violations').toEqual([]);
    expect(external, 'requests leaving the API (a CDN, a validator)').toEqual([]);
    await page.close();
  });
});
