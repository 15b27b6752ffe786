import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { STATUS_PAGE_CONTENT_SECURITY_POLICY, STATUS_PAGE_PATH } from '#shared/api/status-page.ts';
import { MANAGER_IDS } from '#shared/managers/specs.ts';
import type { PublicJob } from '#shared/migrations/service.ts';
import { findChromium } from './chromium.ts';
import { apiCaller, tokenFor } from './support.ts';

/**
 * The status page in a real browser on a local runtime: it asks for a token and says when the API
 * refuses one (401) or a role is too low (403); with a token it shows every manager's state and
 * health, a plan's declared vs computed progress, the latest events, a migration in progress and
 * a running workflow execution (gone once stopped; a stopped workflow manager's 503 said in its
 * section only); Stop and Start change a manager's state through the API. Nothing its content security policy
 * refuses, no script error, no request leaving the API.
 */

const CHROMIUM = findChromium('status-page-browser.test.ts');

const MANAGERS = MANAGER_IDS;

const PLAN = `# Status page rollout
Progression: 50%

- [x] Serve the page offline
- [ ] Test it in chromium
- [ ] Document it
- [ ] Announce it
`;

/** Long enough for the first health sweep, whose contract calls start cold. */
const SLOW = { timeout: 20_000 };

// Tests outlast their waits, so a wait that fails says what it waited for.
describe.skipIf(!CHROMIUM)('the status page in chromium', { timeout: 60_000 }, () => {
  let dataDir: string;
  let rt: LocalRuntime;
  let browser: Browser;
  let page: Page;
  const refused: string[] = [];
  const external: string[] = [];
  const errors: string[] = [];
  const call = apiCaller(
    () => `${rt.apiUrl}/api/v1`,
    tokenFor(() => rt),
  );

  const row = (id: string) => page.locator(`#managers-body tr[data-manager="${id}"]`);
  const text = async (selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();
  const indexPlan = () =>
    call('POST', '/plans?planId=plans%2Frollout.md', PLAN, { 'content-type': 'text/markdown' });
  const useToken = async (token: string) => {
    await page.getByLabel('Bearer token').fill(token);
    await page.getByRole('button', { name: 'Use token' }).click();
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-status-page-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true });
    expect((await indexPlan()).status).toBe(201);
    browser = await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage();
    // Every violation of the page's content security policy, as the browser reports it to the page.
    await page.addInitScript({
      content: `window.cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(
          e.effectiveDirective + ' refused ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')'));`,
    });
    page.on('console', (msg) => {
      if (/content security policy|Refused to/i.test(msg.text())) refused.push(msg.text());
    });
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('request', (req) => {
      if (!req.url().startsWith(rt.apiUrl)) external.push(req.url());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is served with its policy and asks for a token; a refused token is a clear 401', async () => {
    const res = await page.goto(`${rt.apiUrl}${STATUS_PAGE_PATH}`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toBe(STATUS_PAGE_CONTENT_SECURITY_POLICY);
    await expect.poll(() => text('#updated')).toBe('Enter a token to load the status.');

    await useToken('not-a-token');
    await expect.poll(() => text('#auth-message'), SLOW).toMatch(/refused the token \(401/);
    expect(await text('#auth-message')).toContain('npm run token -- --role admin');
    expect(await page.locator('#managers-body tr').count()).toBe(0);
    expect(await text('#updated')).toBe('Not refreshing: no usable token.');
  });

  it('shows every manager with its state and health, the plan and the events to a reader', async () => {
    await useToken(await rt.issueToken({ groups: ['readonly'] }));
    await expect.poll(() => page.locator('#managers-body tr').count(), SLOW).toBe(MANAGERS.length);
    expect(await page.locator('#auth-message').textContent()).toBe('');
    for (const id of MANAGERS) {
      expect(await row(id).locator('.state').textContent(), id).toMatch(
        /^(running|stopped|starting|stopping|failed)$/,
      );
      expect(await row(id).locator('.health').textContent(), id).toMatch(/^(healthy|degraded|unhealthy)$/);
      expect(await row(id).locator('ul.checks li').count(), id).toBeGreaterThan(0);
    }
    expect(await row('monitoring').locator('td').nth(1).textContent()).toBe('runningsince deployment');
    // Start and Stop for the managers that may be stopped only.
    await expect.poll(() => row('monitoring').getByRole('button').textContent()).toBe('Stop');
    expect(await row('central-coordinator').getByRole('button').count()).toBe(0);
    expect(await row('api-gateway').getByRole('button').count()).toBe(0);

    const plan = page.locator('#plans-body tr[data-plan="plans/rollout.md"]');
    expect((await plan.locator('td').allTextContents()).map((t) => t.trim())).toEqual([
      'Status page rolloutplans/rollout.md',
      '1 / 4',
      '25%',
      '50%',
      '-25 pts',
    ]);
    expect(await text('#migrations-body')).toBe('No migration in progress.');
    expect(await text('#executions-body')).toBe('No workflow execution running.');
    // Indexed again now: on a busy machine the first health sweep's events (two per manager when
    // their cold starts time out) push the first PlanIndexed out of the latest 20.
    expect((await indexPlan()).status).toBe(200);
    await expect.poll(() => text('#events-body'), SLOW).toContain('PlanIndexed');
  });

  it('tells a reader that stopping a manager needs an administrator (403)', async () => {
    await row('monitoring').getByRole('button', { name: 'Stop Monitoring' }).click();
    await expect
      .poll(() => text('#action-message'), SLOW)
      .toMatch(/^Stopping Monitoring needs an administrator \(403\)/);
    expect((await call('GET', '/managers/monitoring/status')).body.state).toBe('running');
  });

  it('stops and starts a manager for an administrator, through the API', async () => {
    await useToken(await rt.issueToken({ groups: ['admin'] }));
    await row('monitoring').getByRole('button', { name: 'Stop Monitoring' }).click();
    await expect.poll(() => row('monitoring').locator('.state').textContent(), SLOW).toBe('stopped');
    expect((await call('GET', '/managers/monitoring/status')).body.state).toBe('stopped');
    expect(await row('monitoring').locator('td').nth(1).textContent()).toMatch(
      /^stoppedsince .+ by local-admin$/,
    );
    expect(await text('#announce')).toBe('Monitoring stopped.');
    expect(await text('#action-message')).toBe('');
    await expect.poll(() => text('#events-body'), SLOW).toContain('ManagerStopped');

    await row('monitoring').getByRole('button', { name: 'Start Monitoring' }).click();
    await expect.poll(() => row('monitoring').locator('.state').textContent(), SLOW).toBe('running');
    expect((await call('GET', '/managers/monitoring/status')).body.state).toBe('running');
    expect(await text('#announce')).toBe('Monitoring started.');
  });

  it('shows a migration in progress with its chunks, the API’s text as text', async () => {
    // A job caught mid-way: the API's answer is replaced (a real one finishes between two refreshes).
    const now = new Date().toISOString();
    const job: PublicJob = {
      id: 'job-1',
      key: 'exports/<img src=x>.json',
      etag: 'e',
      size: 1000,
      target: 'tasks',
      collection: 'tasks__job-1',
      dryRun: false,
      rejectThreshold: 0.01,
      chunkBytes: 100,
      status: 'running',
      plannedRecords: 1200,
      chunks: { total: 10, done: 4, failed: 1 },
      counts: { records: 480, written: 470, rejected: 10 },
      planRejects: [],
      createdAt: now,
      updatedAt: now,
      startedAt: now,
    };
    await page.route(
      (url) => url.pathname === '/api/v1/migrations',
      (route) => route.fulfill({ json: { migrations: [job] } }),
    );
    const cells = page.locator('#migrations-body tr[data-key="job-1"] td');
    await expect.poll(() => cells.count(), SLOW).toBe(6);
    expect(await cells.nth(0).textContent()).toBe('job-1exports/<img src=x>.json');
    expect(await page.locator('#migrations-body img').count()).toBe(0);
    expect(await cells.nth(2).textContent()).toBe('running');
    expect(await cells.nth(3).textContent()).toBe(' 4 / 10, 1 failed');
    const bar = cells.nth(3).locator('progress');
    expect([await bar.getAttribute('value'), await bar.getAttribute('max')]).toEqual(['4', '10']);
    expect(await cells.nth(4).textContent()).toBe('480 read, 470 written, 10 rejected (of 1200 planned)');
    await page.unroute((url) => url.pathname === '/api/v1/migrations');
  });

  it('lists a running workflow execution with how long it has run, and drops it once stopped', async () => {
    // Ten minutes of Wait (this runtime shortens no waits): running until it is stopped.
    const created = await call('POST', '/workflows', {
      name: 'Hold <b>ten</b> minutes',
      definition: { StartAt: 'Hold', States: { Hold: { Type: 'Wait', Seconds: 600, End: true } } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const workflowId: string = created.body.workflow.id;
    const started = await call('POST', `/workflows/${workflowId}/execute`, { input: {} });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const { executionId, startedAt } = started.body.execution as { executionId: string; startedAt: string };

    const cells = page.locator(`#executions-body tr[data-key="${executionId}"] td`);
    await expect.poll(() => cells.count(), SLOW).toBe(4);
    expect(await text('#executions-message')).toBe('');
    expect(await cells.nth(0).textContent()).toBe(`Hold <b>ten</b> minutes${workflowId}`);
    expect(await page.locator('#executions-body b').count()).toBe(0);
    expect(await cells.nth(1).textContent()).toBe(executionId);
    expect(await cells.nth(2).textContent()).toBe(
      await page.evaluate((iso) => new Date(iso).toLocaleString(), startedAt),
    );
    // How long it has run, counted again at each refresh.
    const ran = (await cells.nth(3).textContent()) ?? '';
    expect(ran).toMatch(/^(\d+ min )?\d+ s$/);
    await expect.poll(() => cells.nth(3).textContent(), SLOW).not.toBe(ran);

    const stopped = await call('POST', `/executions/${executionId}/stop`);
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    expect(stopped.body.execution.status).toBe('ABORTED');
    await expect.poll(() => text('#executions-body'), SLOW).toBe('No workflow execution running.');
  });

  it('says in its section only that the workflow manager is stopped (503)', async () => {
    await row('workflows').getByRole('button', { name: 'Stop Workflows' }).click();
    await expect
      .poll(() => text('#executions-message'), SLOW)
      .toMatch(/^Could not load the workflow executions \(HTTP 503: the workflows manager is stopp(ing|ed)/);
    // The other sections still load: the managers' table shows the stop.
    await expect.poll(() => row('workflows').locator('.state').textContent(), SLOW).toBe('stopped');
    for (const other of ['managers', 'migrations', 'plans', 'events']) {
      expect(await text(`#${other}-message`), other).toBe('');
    }
    expect(await text('#updated')).toMatch(/^Updated /);

    await row('workflows').getByRole('button', { name: 'Start Workflows' }).click();
    await expect.poll(() => text('#executions-message'), SLOW).toBe('');
    expect(await text('#executions-body')).toBe('No workflow execution running.');
  });

  it('keeps the token in the tab only, and loaded nothing its policy refuses', async () => {
    expect(page.url()).toBe(`${rt.apiUrl}${STATUS_PAGE_PATH}`);
    expect(await page.evaluate('Object.keys(sessionStorage)')).toEqual(['vector-platform.status-page.token']);
    expect(await page.evaluate('Object.keys(localStorage)')).toEqual([]);
    expect(refused, 'content security policy violations (console)').toEqual([]);
    expect(await page.evaluate('window.cspViolations'), 'content security policy violations').toEqual([]);
    expect(errors, 'script errors').toEqual([]);
    expect(external, 'requests leaving the API').toEqual([]);
  });
});
