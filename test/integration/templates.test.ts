import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { callersByRole, eventually } from './support.ts';

/**
 * The template manager end to end on the local runtime: templates saved and refused through the
 * API, suggested by description, a plan template instantiated into a plan that the roadmap
 * indexes (listed, its tasks searchable), the events through the bus into the event log, the
 * roles, a stopped roadmap refusing an instantiation, and the manager's contract.
 */
/** Each function's first invocation starts its worker thread: seconds on a busy machine. */
const SLOW = 60_000;

const launch = {
  id: 'service-launch',
  kind: 'plan',
  title: 'Service launch',
  description: 'Checklist to launch a new backend service in production',
  tags: ['launch', 'service'],
  body: [
    '# {{service}} launch',
    '',
    '## Before',
    '- [ ] Load test {{service}} at twice the expected traffic',
    '- [ ] Write the {{service}} runbook',
    '{{#oncall}}- [ ] Brief {{oncall}} on call for {{service}}',
    '{{/oncall}}',
    '## After',
    '- [ ] Watch the {{service}} error rate for a week',
    '',
  ].join('\n'),
  variables: [
    { name: 'service', description: 'the service launched', required: true },
    { name: 'oncall', description: 'who is on call (none: no briefing)' },
  ],
};

const postmortem = {
  id: 'incident-postmortem',
  kind: 'plan',
  title: 'Incident postmortem',
  description: 'Timeline, root cause and follow-up actions after an outage',
  tags: ['incident', 'outage'],
  body: '# Postmortem: {{incident}}\n\n## Actions\n- [ ] Write the timeline of {{incident}}\n',
  variables: [{ name: 'incident', required: true }],
};

const bugTask = {
  id: 'bug-fix',
  kind: 'task',
  title: 'Bug fix task',
  description: 'Reproduce, fix and test a reported bug',
  tags: ['bug'],
  body: '- [ ] Fix {{bug}} (reproduce, test, release)\n',
  variables: [{ name: 'bug', required: true }],
};

describe('templates on the local runtime', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  const { admin, writer, reader } = callersByRole(() => rt);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-templates-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true });
  });
  afterAll(async () => {
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'saves templates and suggests the closest one to a description',
    async () => {
      for (const template of [launch, postmortem, bugTask]) {
        const created = await writer('POST', '/templates', template);
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        expect(created.body.template).toMatchObject({ id: template.id, version: 1 });
      }
      expect((await writer('POST', '/templates', launch)).status).toBe(409);
      expect((await reader('POST', '/templates', launch)).status).toBe(403);

      const suggested = await reader('POST', '/templates/suggest', {
        description: 'we had an outage: find the root cause',
      });
      expect(suggested.status).toBe(200);
      expect(suggested.body.templates[0]).toMatchObject({ id: 'incident-postmortem', kind: 'plan' });
      const tasks = await reader('POST', '/templates/suggest', { description: 'fix a bug', kind: 'task' });
      expect(tasks.body.templates.map((t: { id: string }) => t.id)).toEqual(['bug-fix']);

      const listed = await reader('GET', '/templates?kind=plan');
      expect(listed.body.templates.map((t: { id: string }) => t.id)).toEqual([
        'incident-postmortem',
        'service-launch',
      ]);
    },
    SLOW,
  );

  it(
    'answers bad templates and values with the field and the reason',
    async () => {
      const undeclared = await writer('POST', '/templates', {
        ...launch,
        id: 'x',
        body: `${launch.body}{{owner}}`,
      });
      expect(undeclared.status).toBe(400);
      expect(undeclared.body.error.issues).toEqual([
        { field: 'body', reason: 'uses undeclared variables: owner (declare them in variables)' },
      ]);
      const unclosed = await writer('POST', '/templates', {
        ...launch,
        id: 'x',
        body: '- [ ] {{service}}\n{{#oncall}}',
      });
      expect(unclosed.status).toBe(400);
      expect(unclosed.body.error.issues[0]).toEqual({
        field: 'body',
        reason: 'Unclosed section "oncall" at line 2, column 12',
      });
      const partial = await writer('POST', '/templates', {
        ...bugTask,
        id: 'x',
        body: '- [ ] {{bug}} {{> footer}}',
      });
      expect(partial.body.error.issues[0].reason).toMatch(/^partials are not supported/);
      const noTask = await writer('PUT', '/templates/bug-fix', {
        ...bugTask,
        id: undefined,
        body: 'Fix {{bug}}',
      });
      expect(noTask.status).toBe(400);
      expect(noTask.body.error.issues[0].field).toBe('body');
      expect((await writer('PUT', '/templates/nope', { ...bugTask, id: undefined })).status).toBe(404);

      const missing = await writer('POST', '/templates/service-launch/instantiate', {
        planId: 'plans/x.md',
        variables: { oncal: 'Ana' },
      });
      expect(missing.status).toBe(400);
      expect(missing.body.error.issues.map((i: { field: string }) => i.field)).toEqual([
        'variables.oncal',
        'variables.service',
      ]);
      const task = await writer('POST', '/templates/bug-fix/instantiate', {
        planId: 'plans/x.md',
        variables: { bug: '#1' },
      });
      expect(task.status).toBe(400);
      expect(task.body.error.issues[0].field).toBe('id');
      expect((await writer('POST', '/templates/nope/render', { variables: {} })).status).toBe(404);
      const rendered = await reader('POST', '/templates/bug-fix/render', {
        variables: { bug: '<crash> & "hang"' },
      });
      expect(rendered.body).toEqual({
        templateId: 'bug-fix',
        markdown: '- [ ] Fix <crash> & "hang" (reproduce, test, release)\n',
      });
    },
    SLOW,
  );

  it(
    'instantiates a plan template into a plan the roadmap indexes: listed, its tasks searchable, events logged',
    async () => {
      const made = await writer('POST', '/templates/service-launch/instantiate', {
        planId: 'plans/billing-launch.md',
        variables: { service: 'billing', oncall: 'Ana' },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      expect(made.headers.get('location')).toBe('/api/v1/plans/plans~billing-launch.md');
      expect(made.body).toEqual({
        templateId: 'service-launch',
        plan: {
          planId: 'plans/billing-launch.md',
          created: true,
          tasks: { total: 4, added: 4, changed: 0, removed: 0, unchanged: 0 },
        },
      });

      const plans = await reader('GET', '/plans');
      expect(plans.body.plans.map((p: { planId: string }) => p.planId)).toContain('plans/billing-launch.md');
      const found = await reader('POST', '/tasks/search', {
        text: 'brief Ana on call for billing',
        limit: 1,
      });
      expect(found.status).toBe(200);
      expect(found.body.results[0].task).toMatchObject({
        planId: 'plans/billing-launch.md',
        text: 'Brief Ana on call for billing',
      });

      // Again: the same plan re-indexed, nothing changed.
      const again = await writer('POST', '/templates/service-launch/instantiate', {
        planId: 'plans/billing-launch.md',
        variables: { service: 'billing', oncall: 'Ana' },
      });
      expect(again.status).toBe(200);
      expect(again.body.plan.tasks).toMatchObject({ total: 4, unchanged: 4 });

      const logged = await eventually('TemplateInstantiated and PlanIndexed in the event log', async () => {
        const instantiated = (await reader('GET', '/events?type=TemplateInstantiated')).body.events;
        const indexed = (await reader('GET', '/events?type=PlanIndexed')).body.events;
        return instantiated.length === 2 && indexed.length === 2 ? instantiated : undefined;
      });
      expect(logged[0].detail).toMatchObject({
        templateId: 'service-launch',
        planId: 'plans/billing-launch.md',
        tasks: 4,
      });
      const saved = (await reader('GET', '/events?type=TemplateSaved')).body.events;
      expect(saved).toHaveLength(3);
    },
    SLOW,
  );

  it(
    'refuses to instantiate while the roadmap is stopped (503), and again once it is started',
    async () => {
      expect((await admin('POST', '/managers/roadmap/stop')).status).toBe(200);
      const refused = await writer('POST', '/templates/service-launch/instantiate', {
        planId: 'plans/stopped.md',
        variables: { service: 'search' },
      });
      expect(refused.status).toBe(503);
      expect(refused.body.error.message).toMatch(/roadmap manager is stopped/);
      expect((await admin('POST', '/managers/roadmap/start')).status).toBe(200);
      const made = await writer('POST', '/templates/service-launch/instantiate', {
        planId: 'plans/stopped.md',
        variables: { service: 'search' },
      });
      expect(made.status).toBe(201);
      expect(made.body.plan.tasks.total).toBe(3);
    },
    SLOW,
  );

  it(
    'answers its contract: health, gauges by kind, reindex; deletes from the suggestions',
    async () => {
      const health = await reader('GET', '/managers/templates/health');
      expect(health.body.checks.map((c: { name: string; status: string }) => [c.name, c.status])).toEqual([
        ['state-store', 'healthy'],
        ['qdrant', 'healthy'],
      ]);
      const metrics = await reader('GET', '/managers/templates/metrics');
      expect(metrics.body.gauges).toEqual([
        { name: 'templates_templates', help: 'Stored templates by kind', value: 2, labels: { kind: 'plan' } },
        { name: 'templates_templates', help: 'Stored templates by kind', value: 1, labels: { kind: 'task' } },
      ]);
      const reindexed = await writer('POST', '/managers/templates/actions/reindex', {});
      expect(reindexed.body.result).toEqual({ indexed: 3 });
      expect((await admin('GET', '/managers/templates')).body.owns.collections).toEqual(['templates']);

      expect((await writer('DELETE', '/templates/incident-postmortem')).status).toBe(204);
      const suggested = await reader('POST', '/templates/suggest', {
        description: 'we had an outage: find the root cause',
      });
      expect(suggested.body.templates.map((t: { id: string }) => t.id)).not.toContain('incident-postmortem');
      expect((await reader('GET', '/templates/incident-postmortem')).status).toBe(404);
    },
    SLOW,
  );
});
