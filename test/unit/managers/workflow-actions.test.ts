import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { NotFoundError, ValidationError } from '#shared/errors.ts';
import { compilePattern } from '#shared/events/pattern.ts';
import { parseEvent } from '#shared/events/publisher.ts';
import { defaults } from '#shared/managers/config-store.ts';
import type { ManagerContext } from '#shared/managers/contract-handler.ts';
import { migration } from '#shared/managers/impl/migration.ts';
import { notifications } from '#shared/managers/impl/notifications.ts';
import { MANAGER_ACTIONS, type ManagerConfig, type ManagerId } from '#shared/managers/specs.ts';
import type { JobRecord } from '#shared/migrations/model.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import { DEFAULT_PATTERN } from '#shared/notifications/subscriptions.ts';
import { parseWith } from '#shared/validation.ts';
import { RecordingBus } from './support.ts';

/**
 * The manager actions the shipped example workflows call: migration `start` and `get` (over a fake
 * migration service: the job logic has its own tests) and notifications `notify` (over a bus that
 * records), with their inputs parsed by their specs as the contract handler parses them.
 */

const fakes = vi.hoisted(() => ({
  service: { start: vi.fn(), get: vi.fn() },
  bus: undefined as unknown,
}));

vi.mock('#shared/migrations/clients.ts', () => ({ migrationService: () => fakes.service }));
vi.mock('#shared/adapters/index.ts', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  createEventBus: () => fakes.bus,
}));

let bus: RecordingBus;
beforeEach(() => {
  bus = new RecordingBus();
  fakes.bus = bus;
});
afterEach(() => vi.clearAllMocks());

function ctxOf<I extends ManagerId>(id: I): ManagerContext<I> {
  return {
    id,
    config: defaults(id) as ManagerConfig<I>,
    app: {
      stage: 'test',
      version: '0.0.0',
      defaultCollection: 'vectors',
      embedder: { provider: 'local', model: 'local-hash-v1', dimensions: 384 },
      maxBodyBytes: 1024 * 1024,
      state: { dir: '/nonexistent' },
      s3ForcePathStyle: false,
    },
  };
}

/** What the contract handler gives an action: its input parsed by the action's schema. */
const inputOf = (schema: { input: unknown }, input: unknown) =>
  parseWith(schema.input as never, input, 'input') as never;

const fieldsOf = (run: () => unknown): string[] => {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).issues.map((i) => i.field);
  }
  throw new Error('expected a ValidationError');
};

const JOB: JobRecord = {
  id: '0123456789abcdef',
  key: 'exports/tasks.jsonl',
  etag: '"e1"',
  size: 10,
  target: 'tasks',
  collection: 'tasks__0123456789abcdef',
  dryRun: false,
  rejectThreshold: 0.05,
  chunkBytes: 4096,
  status: 'running',
  plannedRecords: 2,
  chunks: { total: 1, done: 0, failed: 0 },
  doneBits: 'AA==',
  failedBits: 'AA==',
  counts: { records: 0, written: 0, rejected: 0 },
  planRejects: [],
  createdAt: '2026-12-07T00:00:00.000Z',
  updatedAt: '2026-12-07T00:00:00.000Z',
};

describe('migration start', () => {
  const spec = MANAGER_ACTIONS.migration.start;

  it('starts the job as POST /migrations does (defaults applied) and answers it without its bitmaps', async () => {
    fakes.service.start.mockResolvedValue({ job: JOB, created: true });
    const result = await migration.actions.start(
      inputOf(spec, { key: 'exports/tasks.jsonl', collection: 'tasks' }),
      ctxOf('migration'),
      'admin-1',
    );
    expect(fakes.service.start).toHaveBeenCalledWith({
      key: 'exports/tasks.jsonl',
      collection: 'tasks',
      dryRun: false,
      rejectThreshold: 0.05,
      chunkBytes: 4 * 1024 * 1024,
    });
    const { doneBits: _d, failedBits: _f, ...publicJob } = JOB;
    expect(result).toEqual({ job: publicJob });
  });

  it('answers the job the export already has, the same way (a repeated start is no second job)', async () => {
    fakes.service.start.mockResolvedValue({ job: { ...JOB, status: 'completed' }, created: false });
    const result = (await migration.actions.start(
      inputOf(spec, { key: 'exports/tasks.jsonl', collection: 'tasks' }),
      ctxOf('migration'),
      'a',
    )) as { job: JobRecord };
    expect(result.job.status).toBe('completed');
  });

  it('refuses what the route refuses, naming the field', () => {
    expect(spec.role).toBe('admin');
    expect(fieldsOf(() => inputOf(spec, { collection: 'tasks' }))).toEqual(['input.key']);
    expect(fieldsOf(() => inputOf(spec, { key: 'exports/a.json', collection: 'a__b' }))).toEqual([
      'input.collection',
    ]);
    expect(fieldsOf(() => inputOf(spec, { key: 'migrations/x/report.json', collection: 'a' }))).toEqual([
      'input.key',
    ]);
    expect(fieldsOf(() => inputOf(spec, { key: 'exports/a.json', collection: 'a', chunkBytes: 1 }))).toEqual([
      'input.chunkBytes',
    ]);
    expect(fieldsOf(() => inputOf(spec, { key: 'exports/a.json', collection: 'a', extra: 1 }))).toEqual([
      'input',
    ]);
  });
});

describe('migration get', () => {
  const spec = MANAGER_ACTIONS.migration.get;

  it('answers the job view, whose status, verification and alias a workflow reads', async () => {
    const view = {
      ...JOB,
      status: 'completed',
      verification: { passed: true, countsMatch: true, sampled: 1, mismatches: 0 },
      alias: { name: 'tasks', collection: JOB.collection },
      chunkList: [],
    };
    fakes.service.get.mockResolvedValue(view);
    expect(
      await migration.actions.get(inputOf(spec, { jobId: JOB.id }), ctxOf('migration'), 'writer-1'),
    ).toEqual({ job: view });
    expect(fakes.service.get).toHaveBeenCalledWith(JOB.id);
  });

  it('a job that does not exist: 404 naming input.jobId; a malformed id: 400 naming it', async () => {
    expect(spec.role).toBe('writer');
    fakes.service.get.mockRejectedValue(
      new NotFoundError('migration 0000000000000000 does not exist', [{ field: 'id', reason: 'no such' }]),
    );
    const error = await migration.actions
      .get(inputOf(spec, { jobId: '0000000000000000' }), ctxOf('migration'), 'a')
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).issues).toEqual([{ field: 'input.jobId', reason: 'no such migration' }]);
    expect(fieldsOf(() => inputOf(spec, { jobId: 'not-a-job' }))).toEqual(['input.jobId']);
    expect(fieldsOf(() => inputOf(spec, {}))).toEqual(['input.jobId']);
  });
});

describe('notifications notify', () => {
  const spec = MANAGER_ACTIONS.notifications.notify;

  it('publishes one OperatorNotice with who asked, severity info by default; the default subscription matches it', async () => {
    const result = await notifications.actions.notify(
      inputOf(spec, { subject: '  Reindex failed ', message: 'States.TaskFailed: the reindex failed' }),
      ctxOf('notifications'),
      'arn:aws:states:us-east-1:000000000000:execution:wf:1',
    );
    expect(result).toEqual({ published: true });
    expect(bus.events).toHaveLength(1);
    const [event] = bus.events;
    expect(event).toMatchObject({ source: EVENT_SOURCE, detailType: 'OperatorNotice' });
    expect(
      parseEvent({ source: event!.source, 'detail-type': event!.detailType, detail: event!.detail }),
    ).toEqual({
      type: 'OperatorNotice',
      detail: {
        schemaVersion: 1,
        subject: 'Reindex failed',
        message: 'States.TaskFailed: the reindex failed',
        severity: 'info',
        by: 'arn:aws:states:us-east-1:000000000000:execution:wf:1',
      },
    });
    expect(
      compilePattern(DEFAULT_PATTERN)({ source: event!.source, 'detail-type': 'OperatorNotice', detail: {} }),
    ).toBe(true);
  });

  it('a bus that refuses: the action fails (nothing is answered as published)', async () => {
    bus.failures = 1;
    await expect(
      notifications.actions.notify(
        inputOf(spec, { subject: 's', message: 'm', severity: 'critical' }),
        ctxOf('notifications'),
        'a',
      ),
    ).rejects.toThrow(/bus is down/);
  });

  it('takes any one-line subject of 1–200 and message of 1–4000 characters (trimmed), and refuses the rest naming the field', () => {
    expect(spec.role).toBe('writer');
    // Lengths are UTF-16 code units, as zod counts them.
    const text = (max: number) =>
      fc.string({ minLength: 1, maxLength: max, unit: 'grapheme' }).filter((s) => s.length <= max);
    const control = (c: string) => c.charCodeAt(0) <= 0x1f || c.charCodeAt(0) === 0x7f;
    const oneLine = (s: string) => ![...s].some(control) && s.trim().length > 0;
    fc.assert(
      fc.property(
        text(200).filter(oneLine),
        text(4000).filter((s) => s.trim().length > 0),
        fc.constantFrom('info', 'warning', 'critical', undefined),
        (subject, message, severity) => {
          const parsed = inputOf(spec, { subject, message, ...(severity ? { severity } : {}) }) as {
            subject: string;
            severity: string;
          };
          expect(parsed.subject).toBe(subject.trim());
          expect(parsed.severity).toBe(severity ?? 'info');
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant(''),
          fc.constant('   '),
          fc.string({ minLength: 201, maxLength: 300 }).filter((s) => s.trim().length > 200),
          // Inside the text: trimming does not remove it.
          fc
            .tuple(fc.string({ maxLength: 50 }), fc.constantFrom('\n', '\r', '\t', '\u0000', '\u007f'))
            .map(([s, control]) => `a${s}${control}b`),
        ),
        (subject) => {
          expect(fieldsOf(() => inputOf(spec, { subject, message: 'm' }))).toEqual(['input.subject']);
        },
      ),
    );
    expect(fieldsOf(() => inputOf(spec, { subject: 's', message: 'x'.repeat(4001) }))).toEqual([
      'input.message',
    ]);
    expect(fieldsOf(() => inputOf(spec, { subject: 's', message: 'm', severity: 'fatal' }))).toEqual([
      'input.severity',
    ]);
    expect(fieldsOf(() => inputOf(spec, { subject: 's', message: 'm', by: 'me' }))).toEqual(['input']);
  });
});
