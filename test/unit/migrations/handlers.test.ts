import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Event, ScheduledEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { handler as create } from '#functions/migrations/create/handler.ts';
import { handler as resumeStalled } from '#functions/migrations/resume-stalled/handler.ts';
import { handler as upload } from '#functions/migrations/upload/handler.ts';
import { FileStateStore } from '#shared/adapters/index.ts';
import { resetConfig } from '#shared/config.ts';
import { ACTIVE_PK } from '#shared/migrations/model.ts';
import { metrics } from '#shared/powertools.ts';
import { invoke, lambdaContext } from '../http/support.ts';

/** The migration handlers' answers to keys no export can have (decided before any adapter is used), and the sweeper's. */

const BAD_KEYS = ['../../etc/passwd', 'exports/\ud800.json', 'exports/a\u0000b.json', 'exports/./a.json'];

describe('migration handlers', () => {
  it('POST /migrations answers 400 naming `key` for a key S3 cannot hold or that names another object', async () => {
    for (const key of BAD_KEYS) {
      const res = await invoke(create, {
        method: 'POST',
        path: '/api/v1/migrations',
        body: JSON.stringify({ key, collection: 'tasks' }),
      });
      expect(res.status, key).toBe(400);
      expect(res.body.error.issues[0]).toMatchObject({
        field: 'key',
        reason: expect.stringMatching(/^must /),
      });
    }
  });

  it('an upload notification for such a key is skipped, not retried', async () => {
    const event = {
      Records: BAD_KEYS.filter((k) => !/\p{Cs}/u.test(k)).map((key) => ({
        s3: { object: { key: encodeURIComponent(key).replaceAll('%2F', '/') } },
      })),
    } as unknown as S3Event;
    await expect(upload(event, lambdaContext())).resolves.toBeUndefined();
  });

  it('the scheduled sweeper answers a summary, from the state store alone when nothing is stalled', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vp-resume-handler-'));
    const state = new FileStateStore({ dir });
    await state.put(ACTIVE_PK, '0123456789abcdef', { id: '0123456789abcdef' });
    process.env.STATE_DIR = dir;
    resetConfig();
    const published = vi.spyOn(metrics, 'addMetric');
    try {
      const event = { 'detail-type': 'Scheduled Event', source: 'aws.events' } as ScheduledEvent;
      await expect(resumeStalled(event, lambdaContext())).resolves.toEqual({ resumed: [], inProgress: 0 });
      // Every run, zeros included: the dashboard's gauges.
      expect(published.mock.calls.map(([name, , value]) => [name, value])).toEqual([
        ['StalledMigrationsResumed', 0],
        ['MigrationsInProgress', 0],
      ]);
      // Tracked a moment ago by a planner about to create the job: kept.
      expect((await state.list(ACTIVE_PK)).map((i) => i.sk)).toEqual(['0123456789abcdef']);
    } finally {
      published.mockRestore();
      delete process.env.STATE_DIR;
      resetConfig();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
