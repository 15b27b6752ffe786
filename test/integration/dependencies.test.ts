import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { callersByRole, eventually, s3ClientOf } from './support.ts';

/**
 * The dependency manager end to end on the local runtime: two projects' manifests through the API
 * report their conflict, bad manifests are refused naming the file and line or key, the
 * DependenciesIndexed event reaches the event log through the bus, and the manager's contract
 * (health, gauges, the report action) answers through the coordinator API. Manifests uploaded
 * under `dependencies/<project>/` in the bucket are indexed by the bucket notification.
 */
/** Each function's first invocation starts its worker thread: seconds on a busy machine. */
const SLOW = 60_000;

describe('dependencies on the local runtime', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  const { admin, writer: call, reader } = callersByRole(() => rt);
  const web = {
    project: 'web',
    files: [
      {
        name: 'package.json',
        content: JSON.stringify({ dependencies: { lodash: '^4.17.21', react: '^18.2.0' } }),
      },
      { name: 'requirements.txt', content: 'requests==2.31.0\n' },
    ],
  };
  const legacy = {
    project: 'legacy',
    files: [
      {
        name: 'app/package.json',
        content: JSON.stringify({ dependencies: { lodash: '~3.10.1', react: '>=17' } }),
      },
      { name: 'pyproject.toml', content: '[project]\nname = "legacy"\ndependencies = ["Requests>=2.32"]\n' },
    ],
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-dependencies-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true });
  });
  afterAll(async () => {
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'reports the conflict between two projects, across ecosystems, and publishes DependenciesIndexed',
    async () => {
      const first = await call('POST', '/dependencies', web);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(first.body).toMatchObject({ project: 'web', packages: 3, conflicts: 0 });
      const second = await call('POST', '/dependencies', legacy);
      expect(second.status, JSON.stringify(second.body)).toBe(200);
      expect(second.body).toMatchObject({ project: 'legacy', packages: 3, conflicts: 2 });

      const { status, body } = await reader('GET', '/dependencies/report');
      expect(status).toBe(200);
      expect(body).toMatchObject({ projects: 2, packages: 3, notCompared: 0 });
      expect(body.conflicts).toEqual([
        {
          ecosystem: 'npm',
          name: 'lodash',
          declarations: [
            { project: 'legacy', file: 'app/package.json', scope: 'dependencies', spec: '~3.10.1' },
            { project: 'web', file: 'package.json', scope: 'dependencies', spec: '^4.17.21' },
          ],
          incompatible: [[0, 1]],
        },
        {
          ecosystem: 'pypi',
          name: 'requests',
          declarations: [
            { project: 'legacy', file: 'pyproject.toml', scope: 'project.dependencies', spec: '>=2.32' },
            { project: 'web', file: 'requirements.txt', scope: 'requirements', spec: '==2.31.0', line: 1 },
          ],
          incompatible: [[0, 1]],
        },
      ]);
      expect((await reader('GET', '/dependencies/report?project=web')).body).toMatchObject({
        project: 'web',
        projects: 1,
        conflicts: [{ name: 'lodash' }, { name: 'requests' }],
      });
      const projects = (await reader('GET', '/dependencies')).body.projects;
      expect(projects.map((p: { project: string }) => p.project)).toEqual(['legacy', 'web']);

      const logged = await eventually(
        'DependenciesIndexed in the event log',
        async () => {
          const events = (await reader('GET', '/events?type=DependenciesIndexed')).body.events;
          return events.length === 2 ? events : undefined;
        },
        SLOW,
      );
      expect(logged.map((e: { detail: unknown }) => e.detail)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            project: 'web',
            files: ['package.json', 'requirements.txt'],
            conflicts: 0,
          }),
          expect.objectContaining({ project: 'legacy', packages: 3, conflicts: 2 }),
        ]),
      );
    },
    2 * SLOW,
  );

  it('refuses bad manifests with the file and line or key, bad requests by field, readers with 403', async () => {
    const bad = async (name: string, content: string) => {
      const { status, body } = await call('POST', '/dependencies', {
        project: 'bad',
        files: [{ name, content }],
      });
      expect(status).toBe(400);
      return body.error.issues[0];
    };
    expect(await bad('go.mod', 'module m\n\nrequire golang.org/x/text 0.14\n')).toEqual({
      field: 'go.mod:3',
      reason: '"0.14" is not a module version (semver with a "v", e.g. v1.2.3)',
    });
    expect((await bad('package.json', '{"dependencies": {"a": ">=1 <<2"}}')).field).toBe(
      'package.json dependencies.a',
    );
    expect((await bad('svc/package.json', '{\n  "a": 1,\n  "b" 2\n}')).field).toBe('svc/package.json:3');
    expect((await bad('requirements.txt', 'ok\nbad ==== x\n')).field).toBe('requirements.txt:2');
    expect((await bad('pyproject.toml', '[project\n')).field).toBe('pyproject.toml:1');
    expect((await bad('setup.py', '')).field).toBe('files.0.name');
    expect(
      (await call('POST', '/dependencies', { project: 'Bad Name', files: [] })).body.error.issues,
    ).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'project' })]));
    expect((await reader('GET', '/dependencies')).body.projects).toHaveLength(2);
    expect((await reader('POST', '/dependencies', web)).status).toBe(403);
    expect((await reader('GET', '/dependencies/report?project=nope')).status).toBe(404);
  });

  it('reports packages similar by name through vector search, in and across projects', async () => {
    const ui = {
      project: 'ui',
      files: [
        { name: 'package.json', content: JSON.stringify({ dependencies: { 'react-dom': '^18.2.0' } }) },
      ],
    };
    expect((await call('POST', '/dependencies', ui)).status).toBe(200);
    const { body } = await reader('GET', '/dependencies/report?project=ui');
    expect(body.similar).toEqual([
      {
        a: { ecosystem: 'npm', name: 'react-dom' },
        b: { ecosystem: 'npm', name: 'react' },
        score: expect.any(Number),
      },
    ]);
    expect(body.similar[0].score).toBeGreaterThanOrEqual(0.6);
    // Nothing else the projects declare is alike (lodash, requests, react share no word).
    const all = (await reader('GET', '/dependencies/report')).body.similar;
    expect(all.map((p: { a: { name: string }; b: { name: string } }) => [p.a.name, p.b.name].sort())).toEqual(
      [['react', 'react-dom']],
    );
    expect((await call('DELETE', '/dependencies/ui')).status).toBe(204);
    expect((await reader('GET', '/dependencies/report')).body.similar).toEqual([]);
  });

  it('answers the manager contract: health, gauges and the report action; deletes a project', async () => {
    const health = await reader('GET', '/managers/dependencies/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'healthy' });
    const metrics = await reader('GET', '/managers/dependencies/metrics');
    const gauge = (name: string) =>
      metrics.body.gauges.find((g: { name: string }) => g.name === name)?.value as number | undefined;
    expect([
      gauge('dependencies_projects'),
      gauge('dependencies_packages'),
      gauge('dependencies_conflicts'),
    ]).toEqual([2, 3, 2]);
    const action = await call('POST', '/managers/dependencies/actions/report', { project: 'legacy' });
    expect(action.status).toBe(200);
    expect(action.body.result).toMatchObject({
      project: 'legacy',
      conflicts: [{ name: 'lodash' }, { name: 'requests' }],
    });

    expect((await call('DELETE', '/dependencies/legacy')).status).toBe(204);
    expect((await call('DELETE', '/dependencies/legacy')).status).toBe(404);
    expect((await reader('GET', '/dependencies/report')).body).toMatchObject({ projects: 1, conflicts: [] });
    expect((await admin('GET', '/managers/dependencies')).body).toMatchObject({ id: 'dependencies' });
  });

  it(
    'indexes manifests uploaded under dependencies/<project>/, and publishes DependenciesRejected for a bad one',
    async () => {
      const put = (key: string, body: string) =>
        s3ClientOf(rt).send(new PutObjectCommand({ Bucket: rt.bucket, Key: key, Body: body }));
      await put('dependencies/tool/go.mod', 'module example.com/tool\n\nrequire golang.org/x/text v0.14.0\n');
      await put(
        'dependencies/tool/web/package.json',
        JSON.stringify({ dependencies: { lodash: '~3.10.1' } }),
      );
      const report = await eventually(
        'both uploaded files indexed',
        async () => {
          const { status, body } = await reader('GET', '/dependencies/report?project=tool');
          return status === 200 && body.packages === 2 ? body : undefined;
        },
        SLOW,
      );
      expect(report.conflicts).toEqual([
        expect.objectContaining({
          name: 'lodash',
          declarations: [
            expect.objectContaining({ project: 'tool', file: 'web/package.json', spec: '~3.10.1' }),
            expect.objectContaining({ project: 'web', spec: '^4.17.21' }),
          ],
        }),
      ]);

      await put('dependencies/tool/requirements.txt', 'ok\nbad ==== x\n');
      const rejected = await eventually(
        'DependenciesRejected in the event log',
        async () => (await reader('GET', '/events?type=DependenciesRejected')).body.events[0],
        SLOW,
      );
      expect(rejected.detail).toMatchObject({
        key: 'dependencies/tool/requirements.txt',
        project: 'tool',
        field: 'requirements.txt:2',
      });
      expect((await reader('GET', '/dependencies/report?project=tool')).body.packages).toBe(2);
    },
    2 * SLOW,
  );
});
