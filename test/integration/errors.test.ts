import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { apiCaller, eventually, messageCounts, queueCounts, s3ClientOf, tokenFor } from './support.ts';

/**
 * The error manager end to end on the local runtime: failed migrations reach the catalogue through
 * the bus and its queue (grouped by fingerprint, with a sample carrying the correlation id), the
 * similar errors of one are found, resolving one and failing again reopens it; dead letters are
 * catalogued by the schedule and left in their queue; bad requests are answered by field.
 */
const SLOW = 60_000;

describe('the error catalogue on the local runtime', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  const api = () => `${rt.apiUrl}/api/v1`;
  const reader = apiCaller(
    api,
    tokenFor(() => rt, ['readonly']),
  );
  const writer = apiCaller(
    api,
    tokenFor(() => rt, ['user']),
  );

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-errors-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true });
  });
  afterAll(async () => {
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** A queue's dead-letter queue counts, read as the account's administrator. */
  const dlqCounts = async (queue: string) => {
    const sqs = new SQSClient({
      region: rt.region,
      endpoint: rt.sqsEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      return await messageCounts(sqs, rt.queueUrls[queue]!.dlqUrl);
    } finally {
      sqs.destroy();
    }
  };

  /** Uploads a truncated export: its migration fails, MigrationFailed goes on the bus. */
  const failMigration = (key: string, body: string) =>
    s3ClientOf(rt).send(new PutObjectCommand({ Bucket: rt.bucket, Key: key, Body: body }));

  /** The catalogue's MigrationFailed entries once they have counted `count` occurrences in all. */
  const migrationErrors = (count: number) =>
    eventually(
      `${count} failed migrations catalogued`,
      async () => {
        const { status, body } = await reader('GET', '/errors?code=MigrationFailed');
        if (status !== 200) return undefined;
        const total = body.errors.reduce((n: number, e: { count: number }) => n + e.count, 0);
        return total >= count ? body.errors : undefined;
      },
      SLOW,
    );

  it(
    'catalogues a failed migration with its sample and correlation id; a second one of the same shape is counted in it',
    async () => {
      await failMigration('exports/broken-1.json', '[{"id":"a","vector":[1,');
      const [entry] = await migrationErrors(1);
      expect(entry).toMatchObject({ code: 'MigrationFailed', origin: 'migration', status: 'open', count: 1 });
      expect(entry.fingerprint).toMatch(/^[0-9a-f]{16}$/);
      const [sample] = entry.samples;
      expect(sample).toMatchObject({ source: 'event' });
      expect(sample.correlationId).toEqual(expect.any(String));
      // The sample's correlation id is the failed migration's: its MigrationFailed event carries it.
      const failed = await eventually(
        'MigrationFailed in the event log',
        async () => (await reader('GET', '/events?type=MigrationFailed')).body.events[0],
        SLOW,
      );
      expect(failed.detail.correlationId).toBe(sample.correlationId);
      expect(sample.message).toBe(failed.detail.reason);

      await failMigration('exports/broken-22.json', '[{"id":"b","vector":[2,3,');
      const errors = await migrationErrors(2);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ fingerprint: entry.fingerprint, count: 2 });
      expect(errors[0].samples).toHaveLength(2);

      const one = await reader('GET', `/errors/${entry.fingerprint}`);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ fingerprint: entry.fingerprint, count: 2 });
    },
    3 * SLOW,
  );

  it(
    'finds similar past errors, and a resolved error that recurs is reopened (ErrorReopened)',
    async () => {
      // Another malformed export, malformed otherwise: a similar error, not the same one.
      await failMigration('exports/trailing.json', '[{"id":"a","vector":[1]},');
      const errors = await eventually(
        'a second kind of failed migration',
        async () => {
          const { body } = await reader('GET', '/errors?origin=migration');
          return body.errors.length >= 2 ? body.errors : undefined;
        },
        SLOW,
      );
      const truncated = (await migrationErrors(3)).find((e: { message: string }) =>
        e.message.includes('truncated: the input ends inside the record'),
      );
      const other = errors.find((e: { fingerprint: string }) => e.fingerprint !== truncated.fingerprint);
      const similar = await reader('GET', `/errors/${truncated.fingerprint}/similar`);
      expect(similar.status).toBe(200);
      expect(similar.body.fingerprint).toBe(truncated.fingerprint);
      expect(similar.body.similar).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            fingerprint: other.fingerprint,
            code: 'MigrationFailed',
            status: 'open',
          }),
        ]),
      );
      expect(similar.body.similar.map((s: { fingerprint: string }) => s.fingerprint)).not.toContain(
        truncated.fingerprint,
      );

      const resolved = await writer('POST', '/managers/errors/actions/resolve', {
        fingerprint: truncated.fingerprint,
      });
      expect(resolved.status, JSON.stringify(resolved.body)).toBe(200);
      expect(resolved.body.result).toMatchObject({ status: 'resolved' });
      expect((await reader('GET', '/errors?status=resolved')).body.errors).toEqual([
        expect.objectContaining({ fingerprint: truncated.fingerprint }),
      ]);

      await failMigration('exports/broken-333.json', '[{"id":"c","vector":[4,');
      const reopened = await eventually(
        'the resolved error reopened',
        async () => {
          const { body } = await reader('GET', `/errors/${truncated.fingerprint}`);
          return body.status === 'open' ? body : undefined;
        },
        SLOW,
      );
      expect(reopened).toMatchObject({ count: 3, reopened: 1 });
      const logged = await eventually(
        'ErrorReopened in the event log',
        async () => (await reader('GET', '/events?type=ErrorReopened')).body.events[0],
        SLOW,
      );
      expect(logged.detail).toMatchObject({ fingerprint: truncated.fingerprint, count: 3 });
      expect((await reader('GET', '/events?type=ErrorCatalogued')).body.events.length).toBeGreaterThanOrEqual(
        2,
      );
    },
    3 * SLOW,
  );

  it(
    "catalogues a queue's dead letters once and leaves them in the queue",
    async () => {
      const sqs = new SQSClient({
        region: rt.region,
        endpoint: rt.sqsEndpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      try {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: rt.queueUrls.backups!.dlqUrl,
            MessageBody: JSON.stringify({ reason: 'backup worker gave up on run 7' }),
            MessageAttributes: { correlationId: { DataType: 'String', StringValue: 'dlq-corr-1' } },
          }),
        );
      } finally {
        sqs.destroy();
      }
      const scheduled = { id: 'sched-1', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} };
      expect(await rt.invoke('errorIntake', scheduled)).toMatchObject({ catalogued: 1 });
      expect(await rt.invoke('errorIntake', scheduled)).toEqual({ duplicate: 1 });
      const { body } = await reader('GET', '/errors?origin=backups');
      expect(body.errors).toEqual([
        expect.objectContaining({
          code: 'DeadLettered',
          message: 'backup worker gave up on run <num>',
          count: 1,
          samples: [expect.objectContaining({ source: 'dead-letter', correlationId: 'dlq-corr-1' })],
        }),
      ]);
      // Peeked, not taken: the dead letter is still there for a redrive, visible again.
      expect(await dlqCounts('backups')).toEqual({ visible: 1, hidden: 0 });
      // The local IAM holds the intake to its grant: it may receive a dead letter, never delete one.
      const env = rt.environmentOf('errorIntake');
      const intake = new SQSClient({
        region: rt.region,
        endpoint: rt.sqsEndpoint,
        credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
      });
      try {
        const QueueUrl = rt.queueUrls.backups!.dlqUrl;
        const { Messages } = await intake.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 1 }));
        const ReceiptHandle = Messages![0]!.ReceiptHandle!;
        const deleted = await intake
          .send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle }))
          .catch((e) => e);
        expect((deleted as Error).name).toMatch(/^AccessDenied/);
        expect((deleted as Error).message).toMatch(/sqs:DeleteMessage/);
        await intake.send(
          new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle, VisibilityTimeout: 0 }),
        );
      } finally {
        intake.destroy();
      }
      expect(await dlqCounts('backups')).toEqual({ visible: 1, hidden: 0 });
    },
    SLOW,
  );

  it('answers bad requests by field, an unknown fingerprint with 404, a reader resolving with 403', async () => {
    const field = async (path: string) => {
      const { status, body } = await reader('GET', path);
      expect(status, path).toBe(400);
      return body.error.issues[0].field;
    };
    expect(await field('/errors?status=closed')).toBe('query.status');
    expect(await field('/errors?since=yesterday')).toBe('query.since');
    expect(await field('/errors?limit=1000')).toBe('query.limit');
    expect(await field('/errors?colour=red')).toBe('query');
    expect(await field('/errors/not-a-fingerprint')).toBe('path.fingerprint');
    expect(await field('/errors/0123456789abcdef/similar?limit=0')).toBe('query.limit');
    expect((await reader('GET', '/errors/0123456789abcdef')).status).toBe(404);
    expect((await reader('GET', '/errors/0123456789abcdef/similar')).status).toBe(404);
    expect(
      (await writer('POST', '/managers/errors/actions/resolve', { fingerprint: '0123456789abcdef' })).status,
    ).toBe(404);
    expect((await writer('POST', '/managers/errors/actions/resolve', { fingerprint: 'x' })).status).toBe(400);
    expect(
      (await reader('POST', '/managers/errors/actions/resolve', { fingerprint: '0123456789abcdef' })).status,
    ).toBe(403);
  });

  it('answers the manager contract: health and gauges', async () => {
    const health = await reader('GET', '/managers/errors/health');
    expect(health.body).toMatchObject({ status: 'healthy' });
    const metrics = await reader('GET', '/managers/errors/metrics');
    const gauge = (name: string) =>
      metrics.body.gauges.find((g: { name: string }) => g.name === name)?.value as number | undefined;
    expect(gauge('errors_open')).toBeGreaterThanOrEqual(2);
    expect(gauge('errors_occurrences')).toBeGreaterThanOrEqual(4);
  });

  it('a stopped manager keeps its failure events waiting in its queue', async () => {
    const admin = apiCaller(
      api,
      tokenFor(() => rt),
    );
    expect((await admin('POST', '/managers/errors/stop')).status).toBe(200);
    // Each function reads the manager's record at most every 5 s.
    await eventually(
      'the catalogue answering 503',
      async () => ((await reader('GET', '/errors')).status === 503 ? true : undefined),
      SLOW,
    );
    await failMigration('exports/while-stopped.json', '[{"id":"d","vector":[5,');
    await eventually(
      'the fifth MigrationFailed on the bus',
      async () =>
        (await reader('GET', '/events?type=MigrationFailed')).body.events.length === 5 ? true : undefined,
      SLOW,
    );
    // It waits in the queue (with ApiRequestFailed of the API's own 503 answers meanwhile).
    expect((await queueCounts(rt, 'errorEvents')).visible).toBeGreaterThan(0);
    expect((await admin('POST', '/managers/errors/start')).status).toBe(200);
    // Started: the waiting failure is counted into its entry.
    const [entry] = await migrationErrors(5);
    expect(entry.samples[0].message).toMatch(/^the export is malformed/);
  });
});
