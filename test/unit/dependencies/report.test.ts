import type { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type QdrantServer, startQdrantServer } from '#local/qdrant/server.ts';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import type { ProjectRecord } from '#shared/dependencies/model.ts';
import { parseManifest } from '#shared/dependencies/parse.ts';
import { buildReport, compare } from '#shared/dependencies/report.ts';
import { DependencyService, MAX_PROJECT_BYTES, MAX_UPLOAD_BYTES } from '#shared/dependencies/service.ts';
import { createEmbedder } from '#shared/embeddings/index.ts';
import { NotFoundError, PayloadTooLargeError, ValidationError } from '#shared/errors.ts';
import { getQdrantClient } from '#shared/vectors/clients.ts';
import { VectorService } from '#shared/vectors/service.ts';
import { TextCollection } from '#shared/vectors/text-collection.ts';
import { RecordingBus, tempDir } from '../managers/support.ts';

function project(name: string, files: Record<string, string>): ProjectRecord {
  const parsed = Object.entries(files).map(([file, text]) => parseManifest(file, text));
  return {
    project: name,
    indexedAt: '2026-12-07T00:00:00.000Z',
    files: Object.keys(files),
    declarations: parsed.flatMap((p) => p.declarations),
    installed: parsed.flatMap((p) => p.installed),
  };
}
const pkg = (deps: Record<string, string>, dev: Record<string, string> = {}) =>
  JSON.stringify({ dependencies: deps, devDependencies: dev });

describe('compare', () => {
  it.each([
    ['npm', '^4.17.0', '^3.10.0', 'incompatible'],
    ['npm', '^4.17.0', '4.17.21', 'compatible'],
    ['npm', '>=1 <2', '1.x || >=3', 'compatible'],
    ['npm', '*', '0.0.1', 'compatible'],
    ['go', '^1.2.0', '^1.9.1', 'compatible'],
    ['go', '^0.3.0', '^0.4.0', 'incompatible'],
    ['pypi', '==2.31.0', '>=2.32', 'incompatible'],
    ['pypi', '==2.31.0', '==2.31', 'compatible'],
    ['pypi', '==1.0', '==1.1', 'incompatible'],
    ['pypi', '==1.4', '~=1.3', 'compatible'],
    ['pypi', '>=2,<3', '>=2.1', 'not compared'],
    ['pypi', '', '==9', 'compatible'],
  ] as const)('%s %s against %s: %s', (ecosystem, a, b, verdict) => {
    expect(compare(ecosystem, a, b)).toBe(verdict);
    expect(compare(ecosystem, b, a)).toBe(verdict);
  });
});

describe('buildReport', () => {
  const web = project('web', {
    'package.json': pkg({ lodash: '^4.17.0', react: '^18.2.0', own: 'github:me/own' }, { lodash: '4.17.21' }),
    'package-lock.json': JSON.stringify({
      lockfileVersion: 3,
      packages: {
        'node_modules/ms': { version: '2.1.3' },
        'node_modules/a/node_modules/ms': { version: '2.0.0' },
      },
    }),
    'requirements.txt': 'requests==2.31.0\nflask>=2,<3\n',
  });
  const api = project('api', {
    'package.json': pkg({ lodash: '^3.10.0', own: 'github:me/own#v2' }, { react: '^17.0.0' }),
    'pyproject.toml': '[project]\ndependencies = ["Requests>=2.32", "flask>=2.1"]',
  });
  const tool = project('tool', { 'go.mod': 'module t\nrequire example.com/m v1.0.0\n' });

  it('reports conflicts across projects by ecosystem, with every declaration and the incompatible pairs', () => {
    const report = buildReport([web, api, tool], { compareDevDependencies: true });
    expect(report.conflicts.map((c) => [c.ecosystem, c.name, c.incompatible])).toEqual([
      [
        'npm',
        'lodash',
        [
          [0, 2],
          [1, 2],
        ],
      ],
      ['npm', 'react', [[0, 1]]],
      ['pypi', 'requests', [[0, 1]]],
    ]);
    expect(report.conflicts[0]!.declarations[2]).toEqual({
      project: 'api',
      file: 'package.json',
      scope: 'dependencies',
      spec: '^3.10.0',
    });
    expect(report.conflicts[2]!.declarations[0]!.line).toBe(1);
    expect(report).toMatchObject({ projects: 3, packages: 6, notCompared: 1 });
  });

  it('leaves devDependencies out of conflicts when configured', () => {
    const report = buildReport([web, api], { compareDevDependencies: false });
    expect(report.conflicts.map((c) => [c.name, c.declarations.length])).toEqual([
      ['lodash', 2],
      ['requests', 2],
    ]);
  });

  it('per project: the conflicts it takes part in and its own duplicates', () => {
    const report = buildReport([web, api, tool], { project: 'web', compareDevDependencies: true });
    expect(report).toMatchObject({ project: 'web', projects: 1, packages: 5 });
    expect(report.duplicates).toEqual([
      {
        ecosystem: 'npm',
        name: 'lodash',
        project: 'web',
        reason: 'declared more than once',
        declarations: [
          { project: 'web', file: 'package.json', scope: 'dependencies', spec: '^4.17.0' },
          { project: 'web', file: 'package.json', scope: 'devDependencies', spec: '4.17.21' },
        ],
      },
      {
        ecosystem: 'npm',
        name: 'ms',
        project: 'web',
        reason: 'installed at several versions',
        versions: ['2.0.0', '2.1.3'],
      },
    ]);
    expect(
      buildReport([web, api, tool], { project: 'tool', compareDevDependencies: true }).conflicts,
    ).toEqual([]);
  });

  it('finds a conflict inside one project', () => {
    const solo = project('solo', {
      'package.json': pkg({ a: '^1.0.0' }),
      'sub/package.json': pkg({ a: '^2.0.0' }),
    });
    expect(buildReport([solo], { project: 'solo', compareDevDependencies: true }).conflicts).toHaveLength(1);
  });
});

describe('DependencyService', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let bus: RecordingBus;
  let service: DependencyService;
  let packages: TextCollection;
  let server: QdrantServer;
  let qdrant: QdrantClient;
  let collections = 0;
  const embedder = createEmbedder({
    provider: 'local',
    model: LOCAL_EMBEDDING_MODEL,
    dimensions: LOCAL_EMBEDDING_DIMENSIONS,
  });

  beforeAll(async () => {
    dir = await tempDir('vp-dependencies-qdrant-');
    server = await startQdrantServer({ dataDir: dir.path, port: 0 });
    qdrant = getQdrantClient({ url: server.url });
  });
  afterAll(async () => {
    await server?.close();
    await dir.cleanup();
  });

  let stateDir: { path: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    stateDir = await tempDir('vp-dependencies-');
    bus = new RecordingBus();
    const state = new FileStateStore({ dir: stateDir.path });
    packages = new TextCollection({
      name: `dependencies-${++collections}`,
      vectors: () => new VectorService({ qdrant, embedder: () => embedder, defaultCollection: 'vectors' }),
      qdrant: () => qdrant,
    });
    service = new DependencyService({
      state: () => state,
      publisher: () => bus.publisher(),
      packages: () => packages,
      options: async () => ({ compareDevDependencies: true, similarityThreshold: 0.6 }),
    });
  });
  afterEach(() => stateDir.cleanup());

  it('reports packages similar by name across projects, closest first; a delete forgets its own packages', async () => {
    await service.index({
      project: 'a',
      files: [{ name: 'package.json', content: pkg({ lodash: '^4.0.0' }) }],
    });
    await service.index({
      project: 'b',
      files: [
        { name: 'package.json', content: pkg({ 'lodash-es': '^4.0.0', pg: '^8.0.0' }) },
        { name: 'requirements.txt', content: 'python-dateutil==2.9.0\n' },
      ],
    });
    const report = await service.report();
    expect(report.similar).toEqual([
      {
        a: { ecosystem: 'npm', name: expect.stringMatching(/^lodash(-es)?$/) },
        b: { ecosystem: 'npm', name: expect.stringMatching(/^lodash(-es)?$/) },
        score: expect.any(Number),
      },
    ]);
    expect(report.similar![0]!.score).toBeGreaterThanOrEqual(0.6);
    expect((await service.report('a')).similar).toHaveLength(1);
    // Metrics leave the vector search out.
    expect((await service.report(undefined, { similar: false })).similar).toBeUndefined();

    await service.delete('a');
    expect((await service.report()).similar).toEqual([]);
    expect(await packages.has(['npm:lodash', 'npm:lodash-es', 'npm:pg'])).toEqual(
      new Set(['npm:lodash-es', 'npm:pg']),
    );
  });

  it('indexes, answers the conflicts a project takes part in, publishes DependenciesIndexed, lists and deletes', async () => {
    await service.index({ project: 'a', files: [{ name: 'package.json', content: pkg({ x: '^1.0.0' }) }] });
    const second = await service.index({
      project: 'b',
      files: [{ name: 'package.json', content: pkg({ x: '^2.0.0', y: '1.0.0' }) }],
    });
    expect(second).toMatchObject({
      project: 'b',
      files: ['package.json'],
      packages: 2,
      installed: 0,
      conflicts: 1,
    });
    expect(bus.ofType('DependenciesIndexed')).toEqual([
      expect.objectContaining({ project: 'a', files: ['package.json'], packages: 1, conflicts: 0 }),
      expect.objectContaining({ project: 'b', packages: 2, conflicts: 1 }),
    ]);
    expect((await service.list()).map((p) => p.project)).toEqual(['a', 'b']);
    await service.delete('a');
    expect((await service.report()).conflicts).toEqual([]);
    await expect(service.delete('a')).rejects.toBeInstanceOf(NotFoundError);
    await expect(service.report('a')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('stores nothing when one file is bad, and refuses a project over the item bound with 413', async () => {
    await expect(
      service.index({
        project: 'a',
        files: [
          { name: 'package.json', content: pkg({ x: '^1.0.0' }) },
          { name: 'go.mod', content: 'module m\nrequire x 1\n' },
        ],
      }),
    ).rejects.toThrow(
      ValidationError.field('go.mod:2', '"1" is not a module version (semver with a "v", e.g. v1.2.3)'),
    );
    expect(await service.list()).toEqual([]);
    const many = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`package-${i}`, `^${i}.0.0`]));
    const refused = service.index({ project: 'big', files: [{ name: 'package.json', content: pkg(many) }] });
    await expect(refused).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(refused).rejects.toThrow(`more than the ${MAX_PROJECT_BYTES}`);
    expect(await service.list()).toEqual([]);
  });

  const upload = (text: string, size = Buffer.byteLength(text)) => ({ size, read: async () => text });

  it('merges uploads file by file into the project, concurrent ones included; a new upload replaces its file', async () => {
    await Promise.all([
      service.indexUpload('dependencies/web/package.json', upload(pkg({ x: '^1.0.0' }))),
      service.indexUpload('dependencies/web/api/go.mod', upload('module m\nrequire example.com/y v1.0.0\n')),
      service.indexUpload('dependencies/web/requirements.txt', upload('requests==2.31.0\n')),
    ]);
    const [web] = await service.list();
    expect(web).toMatchObject({
      project: 'web',
      files: ['api/go.mod', 'package.json', 'requirements.txt'],
      packages: 3,
    });
    const again = await service.indexUpload(
      'dependencies/web/package.json',
      upload(pkg({ x: '^2.0.0', z: '1.0.0' })),
    );
    expect(again).toMatchObject({ files: ['api/go.mod', 'package.json', 'requirements.txt'], packages: 4 });
    expect(bus.ofType('DependenciesIndexed')).toHaveLength(4);
  });

  it('publishes DependenciesRejected for a bad key, file or size, and stores nothing', async () => {
    const cases: Array<[string, ReturnType<typeof upload>, string, string]> = [
      ['dependencies/web/go.mod', upload('module m\nrequire y 1\n'), 'go.mod:2', 'is not a module version'],
      ['dependencies/Web/go.mod', upload(''), 'key', 'the project name must be'],
      ['dependencies/web/setup.py', upload(''), 'key', 'the file name must end with one of'],
      ['dependencies/go.mod', upload(''), 'key', 'must be dependencies/<project>/<file>'],
      [
        'dependencies/web/package.json',
        upload('{}', MAX_UPLOAD_BYTES + 1),
        'package.json',
        'may have at most',
      ],
    ];
    for (const [key, object, field, reason] of cases) {
      expect(await service.indexUpload(key, object), key).toBeUndefined();
      expect(bus.ofType('DependenciesRejected').at(-1), key).toMatchObject({
        key,
        field,
        reason: expect.stringContaining(reason),
      });
    }
    expect(bus.ofType('DependenciesRejected')[0]).toMatchObject({ project: 'web' });
    expect(bus.ofType('DependenciesRejected')[1]).not.toHaveProperty('project');
    expect(await service.list()).toEqual([]);
  });
});
