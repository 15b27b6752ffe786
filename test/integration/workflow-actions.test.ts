import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import type { JobView } from '#shared/migrations/service.ts';
import { apiCaller, callersByRole, eventually, s3ClientOf, tokenFor } from './support.ts';

/**
 * The manager actions the shipped example workflows call, through the API on the local runtime
 * (each runs in its manager's contract function with that function's grants): notifications
 * `notify` mailed by the default subscription as an `.eml` in the outbox; migration `start` of an
 * uploaded export and `get` polled until the job has ended, verified and its alias switched.
 */

/** How long a step that crosses queues, the bus and cold starts may take on a busy machine. */
const SLOW = 60_000;

describe('the workflow actions on the local runtime', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  const { admin, writer, reader } = callersByRole(() => rt, '/api/v1/managers');

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-workflow-actions-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false });
    // A busy machine's cold starts: contract calls get a generous bound, as an operator sets it.
    const configured = await admin('PUT', '/central-coordinator/config', {
      config: { checkTimeoutMs: 20_000 },
    });
    expect(configured.status).toBe(200);
  });
  afterAll(async () => {
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('notify: a writer publishes an OperatorNotice, which the default subscription mails', {
    timeout: SLOW * 2,
  }, async () => {
    const notice = {
      subject: 'Nightly reindex failed',
      message: 'The reindex step failed: States.TaskFailed',
      severity: 'warning',
    };
    const sent = await writer('POST', '/notifications/actions/notify', notice);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toEqual({ managerId: 'notifications', action: 'notify', result: { published: true } });

    const mail = await eventually(
      'the OperatorNotice .eml in the outbox',
      async () => {
        const files = (await readdir(rt.outboxDir).catch(() => [])).filter((f) => f.endsWith('.eml'));
        const texts = await Promise.all(files.map((f) => readFile(join(rt.outboxDir, f), 'utf8')));
        return texts.find((t) => /^Subject: \[vector-platform\] OperatorNotice$/m.test(t));
      },
      SLOW,
    );
    expect(mail).toMatch(/^To: operators@vector-platform\.local$/m);
    // The body is quoted-printable (soft line breaks, `=XX` escapes): decoded for an ASCII notice.
    const body = mail
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    for (const text of [notice.subject, notice.message, '"severity": "warning"'])
      expect(body).toContain(text);

    // Who may, and what is refused (naming the field), before anything is published.
    expect((await reader('POST', '/notifications/actions/notify', notice)).status).toBe(403);
    const bad = await writer('POST', '/notifications/actions/notify', { ...notice, subject: 'two\nlines' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: { field: string }) => i.field)).toEqual(['input.subject']);
  });

  it('start and get: an uploaded export migrated by the action, polled until verified and switched', {
    timeout: SLOW * 2,
  }, async () => {
    const lines = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({ id: `w-${i}`, vector: [i + 1, 1, 0, 0], payload: { i } }),
    );
    // Outside exports/: nothing but the action starts it.
    await s3ClientOf(rt).send(
      new PutObjectCommand({ Bucket: rt.bucket, Key: 'staging/wf-tasks.jsonl', Body: lines.join('\n') }),
    );
    const input = { key: 'staging/wf-tasks.jsonl', collection: 'wftasks' };
    expect((await writer('POST', '/migration/actions/start', input)).status).toBe(403);
    const started = await admin('POST', '/migration/actions/start', input);
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    const { job } = started.body.result as { job: JobView };
    expect(job).toMatchObject({ key: input.key, target: 'wftasks', dryRun: false });
    expect(job).not.toHaveProperty('doneBits');

    // A workflow's Wait → get → Choice on $.job.status, as a writer may.
    const deadline = Date.now() + SLOW;
    let seen: JobView;
    for (;;) {
      const got = await writer('POST', '/migration/actions/get', { jobId: job.id });
      expect(got.status, JSON.stringify(got.body)).toBe(200);
      seen = got.body.result.job as JobView;
      if (seen.status === 'completed' || seen.status === 'failed') break;
      if (Date.now() > deadline) throw new Error(`migration ${job.id} still ${seen.status}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen).toMatchObject({
      status: 'completed',
      counts: { records: 12, written: 12, rejected: 0 },
      verification: { passed: true, countsMatch: true, pointsInCollection: 12, mismatches: 0 },
      alias: { name: 'wftasks', collection: job.collection },
    });
    expect(seen.verification!.sampled).toBeGreaterThanOrEqual(1);
    // The same as the route answers.
    const route = await apiCaller(
      () => `${rt.apiUrl}/api/v1`,
      tokenFor(() => rt),
    )('GET', `/migrations/${job.id}`);
    expect(route.body).toEqual(seen);
    // Starting it again finds the same job.
    const again = await admin('POST', '/migration/actions/start', input);
    expect(again.body.result.job).toMatchObject({ id: job.id, status: 'completed' });

    const missing = await writer('POST', '/migration/actions/get', { jobId: '0000000000000000' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.issues).toEqual([{ field: 'input.jobId', reason: 'no such migration' }]);
    const malformed = await writer('POST', '/migration/actions/get', { jobId: 'nope' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.issues.map((i: { field: string }) => i.field)).toEqual(['input.jobId']);
  });
});
