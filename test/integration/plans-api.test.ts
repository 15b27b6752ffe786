import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { indexPlansFolder } from '../../scripts/plans-index.ts';
import { describeWhere, itWhere, testTarget, whereLocal, whereLocalEmbedder } from './target.ts';

/**
 * The plans API end to end: real manifest, real handlers, embedded Qdrant, over HTTP. Portable:
 * on a deployed stage the plans are the run's own (`target.planId`), and searches and lists are
 * read for the run's plans only (`mine`), as other plans share the stage. Searches name their plan
 * where they can, so that what they find depends on the filters, not on the ranking; which task is
 * nearest to a text is the hashing embedder's notion and checked only with it (`whereLocalEmbedder`).
 */

let dataDir: string;
let runtime: LocalRuntime;

const target = testTarget(() => runtime);
const call = target.caller(target.role, '/api/v1');
/** Plan ids in the run's namespace, as posted and as in URLs. */
const id = target.planId;
const urlId = target.planUrlId;
const NEWSLETTER = id('plans/newsletter.md');
const STORAGE = id('plans/storage.md');
/** Only the run's own search results (all of them locally). */
type Hit = { plan: { planId: string }; task: { explicitId: string; text: string } };
const mine = (results: Hit[]): Hit[] => results.filter((r) => target.ours(r.plan.planId));
const uploads = await target.uploadsUnavailable();

const postMarkdown = (planId: string, markdown: string) =>
  call('POST', `/plans?planId=${encodeURIComponent(planId)}`, markdown, { 'content-type': 'text/markdown' });

const STORAGE_PLAN =
  '# Storage\n- [ ] Schedule nightly backups of the subscriber database\n- [x] Encrypt backups at rest\n';

const ROADMAP = `# Newsletter service roadmap
Progression: 25%

## Phase 1 — Sending
- [x] **1.1** Configure the SMTP relay for outgoing newsletters P1
- [ ] **1.2** Throttle sending to respect provider rate limits P1
  - [ ] **1.2.1** Queue messages per recipient domain
- [ ] **1.3** Track bounces and unsubscribe requests

## Phase 2 — Archive
- [ ] **2.1** Export past campaigns to cold storage P3
- [ ] **2.2** Purge subscriber data after the retention period P0
`;

beforeAll(async () => {
  if (!target.local) return;
  dataDir = await mkdtemp(join(tmpdir(), 'vp-plans-api-'));
  runtime = await startLocalRuntime({ dataDir: join(dataDir, 'runtime'), port: 0, quiet: true });
});

afterAll(async () => {
  if (!target.local) {
    // The plans the run indexed (a writer may delete plans), and the object it uploaded.
    for (const plan of [NEWSLETTER, STORAGE, id('plans/race.md')]) {
      await call('DELETE', `/plans/${encodeURIComponent(plan)}`);
    }
    await target.removeObjects([STORAGE]);
    return;
  }
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe(`plans API over HTTP on ${target.label}`, () => {
  it('indexes a plan posted as raw markdown, then as JSON, and tells new from re-indexed', async () => {
    const created = await postMarkdown(NEWSLETTER, ROADMAP);
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/plans/${urlId('plans/newsletter.md')}`);
    expect(created.body).toMatchObject({
      id: urlId('plans/newsletter.md'),
      planId: NEWSLETTER,
      title: 'Newsletter service roadmap',
      tasks: { total: 6, added: 6, changed: 0, removed: 0, unchanged: 0 },
      embedded: 6,
    });
    const again = await call('POST', '/plans', { planId: NEWSLETTER, markdown: ROADMAP });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ created: false, tasks: { unchanged: 6 }, embedded: 0 });
  });

  itWhere(uploads, 'indexes a plan uploaded to the exports bucket, by its S3 key', async () => {
    await target.upload(STORAGE, STORAGE_PLAN);
    const indexed = await call('POST', '/plans', { planId: STORAGE, s3Key: STORAGE });
    expect(indexed.status).toBe(201);
    expect(indexed.body).toMatchObject({
      source: { kind: 's3', key: STORAGE },
      tasks: { added: 2 },
    });
    const missing = await call('POST', '/plans', { planId: id('plans/x.md'), s3Key: id('plans/absent.md') });
    expect(missing.status).toBe(404);
    expect(missing.body.error.issues).toEqual([
      { field: 's3Key', reason: 'no such object in the exports bucket' },
    ]);
  });

  // Where nothing can be uploaded, the same plan posted as markdown, for the tests that follow.
  if (uploads !== undefined) {
    it('indexes the storage plan posted as markdown instead', async () => {
      expect((await postMarkdown(STORAGE, STORAGE_PLAN)).status).toBe(201);
    });
  }

  it('finds tasks with filters, each with its path and plan', async () => {
    // Every task of the plan, whatever their order: 1.2 with its path and its plan.
    const all = await call('POST', '/tasks/search', {
      text: 'rate limits for sending',
      plan: NEWSLETTER,
      limit: 10,
    });
    expect(all.status).toBe(200);
    expect(mine(all.body.results)).toHaveLength(6);
    expect(mine(all.body.results).find((r) => r.task.explicitId === '1.2')).toMatchObject({
      task: { explicitId: '1.2', status: 'todo', priority: 'P1' },
      path: ['Newsletter service roadmap', 'Phase 1 — Sending'],
      plan: { id: urlId('plans/newsletter.md'), planId: NEWSLETTER, title: 'Newsletter service roadmap' },
    });

    const backups = await call('POST', '/tasks/search', {
      text: 'backups',
      plan: urlId('plans/storage.md'),
      status: 'todo',
    });
    expect(backups.body.results.map((r: { task: { text: string } }) => r.task.text)).toEqual([
      'Schedule nightly backups of the subscriber database',
    ]);
    const archive = await call('POST', '/tasks/search', {
      text: 'subscriber data',
      plan: [NEWSLETTER, STORAGE],
      heading: 'Phase 2 — Archive',
      priority: ['P0', 'P1'],
    });
    expect(
      mine(archive.body.results).map((r: { task: { explicitId: string } }) => r.task.explicitId),
    ).toEqual(['2.2']);
    const nested = await call('POST', '/tasks/search', {
      text: 'queue',
      plan: [NEWSLETTER, STORAGE],
      depth: { gte: 1 },
    });
    expect(mine(nested.body.results).map((r: { task: { explicitId: string } }) => r.task.explicitId)).toEqual(
      ['1.2.1'],
    );
    // No task is a near-copy of the query (a score of 0.99 is one), with any embedder.
    const strict = await call('POST', '/tasks/search', {
      text: 'rate limits for sending',
      scoreThreshold: 0.99,
    });
    expect(strict.status).toBe(200);
    expect(mine(strict.body.results)).toEqual([]);
  });

  itWhere(
    whereLocalEmbedder(target, 'which task is nearest to a text is the hashing embedder’s ranking'),
    'finds first the task that shares the words of the query',
    async () => {
      const found = await call('POST', '/tasks/search', { text: 'rate limits for sending', limit: 3 });
      expect(found.status).toBe(200);
      expect(mine(found.body.results)[0]).toMatchObject({
        task: { explicitId: '1.2', status: 'todo', priority: 'P1' },
        path: ['Newsletter service roadmap', 'Phase 1 — Sending'],
        plan: { id: urlId('plans/newsletter.md'), planId: NEWSLETTER, title: 'Newsletter service roadmap' },
      });
    },
  );

  it('re-indexes an edited plan incrementally: only the changed tasks are touched', async () => {
    const edited = ROADMAP.replace('- [ ] **1.3**', '- [x] **1.3**')
      .replace('cold storage P3', 'an encrypted cold storage bucket P3')
      .replace('  - [ ] **1.2.1** Queue messages per recipient domain\n', '')
      .concat('- [ ] **2.3** Document the restore procedure\n');
    const result = await postMarkdown(NEWSLETTER, edited);
    expect(result.status).toBe(200);
    expect(result.body.tasks).toMatchObject({ total: 6, added: 1, changed: 2, removed: 1, unchanged: 3 });
    expect(result.body.embedded).toBe(2);
    // Every task of the plan, whatever the ranking: the removed one is not among them.
    const gone = await call('POST', '/tasks/search', {
      text: 'queue messages per recipient domain',
      plan: NEWSLETTER,
      limit: 10,
    });
    expect(mine(gone.body.results)).toHaveLength(6);
    expect(mine(gone.body.results).map((r: { task: { text: string } }) => r.task.text)).not.toContain(
      'Queue messages per recipient domain',
    );
  });

  it('answers a plan with its headings, progress and a page of its tasks', async () => {
    const plan = await call('GET', `/plans/${urlId('plans/newsletter.md')}?offset=0&limit=4`);
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({
      planId: NEWSLETTER,
      counts: { tasks: 6, headings: 3 },
      progress: { total: 6, done: 2, computed: 33, declared: 25, drift: 8 },
      page: { offset: 0, limit: 4, total: 6, nextOffset: 4 },
    });
    expect(plan.body.headings.map((h: { title: string }) => h.title)).toEqual([
      'Newsletter service roadmap',
      'Phase 1 — Sending',
      'Phase 2 — Archive',
    ]);
    expect(plan.body.tasks.map((t: { explicitId: string }) => t.explicitId)).toEqual([
      '1.1',
      '1.2',
      '1.3',
      '2.1',
    ]);
    // The same plan named by its plan id, percent-encoded.
    const encoded = await call('GET', `/plans/${encodeURIComponent(NEWSLETTER)}?offset=4`);
    expect(encoded.body.tasks.map((t: { explicitId: string }) => t.explicitId)).toEqual(['2.2', '2.3']);
  });

  it('answers declared against computed progress per heading', async () => {
    const progress = await call('GET', `/plans/${urlId('plans/newsletter.md')}/progress`);
    expect(progress.status).toBe(200);
    expect(progress.body.totals).toMatchObject({ computed: 33, declared: 25, drift: 8 });
    expect(
      progress.body.headings.map((h: { title: string; progress: { computed: number } }) => [
        h.title,
        h.progress.computed,
      ]),
    ).toEqual([
      ['Newsletter service roadmap', 33],
      ['Phase 1 — Sending', 67],
      ['Phase 2 — Archive', 0],
    ]);
    expect(progress.body.declared).toMatchObject({ headings: 1, ahead: 1 });
  });

  it('lists the indexed plans', async () => {
    const list = await call('GET', '/plans');
    expect(list.status).toBe(200);
    expect(list.body.plans.map((p: { id: string }) => p.id).filter(target.ours)).toEqual([
      urlId('plans/newsletter.md'),
      urlId('plans/storage.md'),
    ]);
  });

  it('rejects bad input with the field and the reason', async () => {
    const badId = await postMarkdown('../escape.md', ROADMAP);
    expect(badId.status).toBe(400);
    expect(badId.body.error.issues[0]).toMatchObject({ field: 'query.planId' });
    const badPath = await call('GET', '/plans/a%23b.md');
    expect(badPath.status).toBe(400);
    expect(badPath.body.error.issues[0].field).toBe('path.id');

    const noBody = await call('POST', '/plans');
    expect(noBody.status).toBe(400);
    expect(noBody.body.error.issues[0].field).toBe('body');
    const emptyMarkdown = await call('POST', '/plans', { planId: id('plans/empty.md'), markdown: '' });
    expect(emptyMarkdown.status).toBe(400);
    expect(emptyMarkdown.body.error.issues[0]).toEqual({ field: 'markdown', reason: 'must not be empty' });

    const oversized = await postMarkdown(id('plans/huge.md'), `# Huge\n${'- [ ] task\n'.repeat(530_000)}`);
    expect(oversized.status).toBe(413);
    expect(oversized.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(oversized.body.error.issues[0].field).toBe('body');
    const oversizedJson = await call('POST', '/plans', {
      planId: id('plans/huge.md'),
      markdown: 'é'.repeat(2_700_000),
    });
    expect(oversizedJson.status).toBe(413);
    expect(oversizedJson.body.error.issues[0].field).toBe('markdown');

    const badSearch = await call('POST', '/tasks/search', { text: 'x', status: 'finished' });
    expect(badSearch.status).toBe(400);
    expect(badSearch.body.error.issues[0].field).toBe('status');

    const unknown = urlId('plans/unknown.md');
    expect((await call('GET', `/plans/${unknown}`)).status).toBe(404);
    expect((await call('GET', `/plans/${unknown}/progress`)).status).toBe(404);
    expect((await call('DELETE', `/plans/${unknown}`)).status).toBe(404);
  });

  it('deletes a plan and its tasks', async () => {
    const deleted = await call('DELETE', `/plans/${urlId('plans/storage.md')}`);
    expect(deleted).toMatchObject({
      status: 200,
      body: { planId: STORAGE, deleted: { tasks: 2 } },
    });
    expect((await call('GET', `/plans/${urlId('plans/storage.md')}`)).status).toBe(404);
    const search = await call('POST', '/tasks/search', { text: 'backups', plan: STORAGE });
    expect(search.body.results).toEqual([]);
    expect(
      (await call('GET', '/plans')).body.plans.map((p: { id: string }) => p.id).filter(target.ours),
    ).toEqual([urlId('plans/newsletter.md')]);
  });

  it('indexes two versions of a plan posted at once one at a time: never a mix of both', async () => {
    const version = (major: number) =>
      `# Race\n${Array.from({ length: 40 }, (_, i) => `- [ ] **${major}.${i + 1}** step ${i + 1}`).join('\n')}\n`;
    const ids = (major: number) => Array.from({ length: 40 }, (_, i) => `${major}.${i + 1}`).sort();
    const answers = await Promise.all([
      postMarkdown(id('plans/race.md'), version(1)),
      postMarkdown(id('plans/race.md'), version(2)),
    ]);
    expect(answers.some((a) => a.status === 201)).toBe(true);
    for (const answer of answers.filter((a) => a.status !== 201)) {
      // Refused while the other request held the plan, or indexed after it.
      if (answer.status === 200) continue;
      expect(answer.status).toBe(409);
      expect(answer.body.error.message).toContain(`"${id('plans/race.md')}"`);
      expect(answer.body.error.issues).toEqual([
        { field: 'planId', reason: expect.stringContaining('another request') },
      ]);
    }
    const plan = await call('GET', `/plans/${urlId('plans/race.md')}?limit=100`);
    expect(plan.status).toBe(200);
    expect([ids(1), ids(2)]).toContainEqual(
      plan.body.tasks.map((t: { explicitId: string }) => t.explicitId).sort(),
    );
    const search = await call('POST', '/tasks/search', {
      text: 'step',
      plan: id('plans/race.md'),
      limit: 100,
    });
    expect(search.body.results).toHaveLength(40);
    expect((await call('DELETE', `/plans/${urlId('plans/race.md')}`)).status).toBe(200);
  });
});

describeWhere(
  whereLocal("the CLI finds the API and its signing key through the local runtime's PORT and DATA_DIR"),
  'npm run plans:index',
  () => {
    let folder: string;

    beforeAll(async () => {
      folder = join(dataDir, 'plans');
      await mkdir(join(folder, 'team', 'ops'), { recursive: true });
      await writeFile(join(folder, 'team', 'mail.md'), ROADMAP);
      await writeFile(
        join(folder, 'team', 'ops', 'oncall.md'),
        '# On-call\n- [ ] Write the paging runbook\n',
      );
      await writeFile(join(folder, 'notes.txt'), 'not a plan');
    });

    it('indexes every markdown file of a folder by its relative path, with a line per plan', async () => {
      const lines: string[] = [];
      const summary = await indexPlansFolder({
        token: await runtime.issueToken({ groups: ['user'] }),
        dir: folder,
        api: `${runtime.apiUrl}/api/v1`,
        write: (l) => lines.push(l),
      });
      expect(summary).toMatchObject({
        plans: 2,
        indexed: 2,
        failed: 0,
        tasks: { total: 7, added: 7 },
        embedded: 7,
      });
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^\[1\/2\] team\/mail\.md {2}new: 6 tasks \(\+6 added/);
      expect(lines[1]).toMatch(/^\[2\/2\] team\/ops\/oncall\.md {2}new: 1 tasks/);
      expect(lines[2]).toMatch(/^2 of 2 plans indexed: 7 tasks .* 7 embedded/);
      expect((await call('GET', '/plans/team~ops~oncall.md')).status).toBe(200);
    });

    it('finds the API on PORT, the port npm start listens on, without --api, and signs its token with the runtime key of DATA_DIR', async () => {
      const script = resolve(import.meta.dirname, '../../scripts/plans-index.ts');
      const { API_TOKEN: _none, ...env } = process.env;
      const { stdout } = await promisify(execFile)(process.execPath, [script, folder], {
        env: { ...env, PORT: new URL(runtime.apiUrl).port, DATA_DIR: join(dataDir, 'runtime') },
      });
      expect(stdout).toMatch(/team\/mail\.md {2}re-indexed: 6 tasks/);
      expect(stdout).toMatch(/2 of 2 plans indexed: 7 tasks .*, 0 embedded/);
    });

    it('reports failed plans and exits non-zero; a second run embeds nothing', async () => {
      await writeFile(join(folder, 'bad~name.md'), '# Bad\n- [ ] a task\n');
      const script = resolve(import.meta.dirname, '../../scripts/plans-index.ts');
      const run = promisify(execFile);
      const token = await runtime.issueToken({ groups: ['user'] });
      const failed = await run(process.execPath, [script, folder, '--api', `${runtime.apiUrl}/api/v1`], {
        env: { ...process.env, API_TOKEN: token },
      }).catch((err: { code: number; stdout: string }) => err);
      expect('code' in failed ? failed.code : 0).toBe(1);
      expect(failed.stdout).toMatch(
        /bad~name\.md {2}FAILED \(HTTP 400\) VALIDATION_ERROR: query\.planId: must not contain "~"/,
      );
      expect(failed.stdout).toMatch(/team\/mail\.md {2}re-indexed: 6 tasks .*=6 unchanged\), 0 embedded/);
      expect(failed.stdout).toMatch(/2 of 3 plans indexed, 1 failed/);
    });

    it('without a token it is told 401 and how to get one', async () => {
      const script = resolve(import.meta.dirname, '../../scripts/plans-index.ts');
      const { API_TOKEN: _none, ...env } = process.env;
      const refused = await promisify(execFile)(
        process.execPath,
        [script, folder, '--api', `${runtime.apiUrl}/api/v1`],
        {
          env: { ...env, DATA_DIR: join(dataDir, 'no-runtime-here') },
        },
      ).catch((err: { code: number; stdout: string }) => err);
      expect('code' in refused ? refused.code : 0).toBe(1);
      expect(refused.stdout).toMatch(/FAILED \(HTTP 401\) .*npm run token -- --role/);
    });

    it('says so when the API is not running', async () => {
      const script = resolve(import.meta.dirname, '../../scripts/plans-index.ts');
      const run = promisify(execFile);
      // A port that was free a moment ago: nothing listens there.
      const server = createServer();
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((done) => server.close(() => done()));
      const api = `http://127.0.0.1:${port}/api/v1`;
      const down = await run(process.execPath, [script, folder, '--api', api]).catch(
        (err: { code: number; stderr: string }) => err,
      );
      expect('code' in down ? down.code : 0).toBe(2);
      expect(down.stderr).toContain(`cannot reach the API at ${api} (ECONNREFUSED)`);
      expect(down.stderr).toContain('npm start');
    });
  },
);
