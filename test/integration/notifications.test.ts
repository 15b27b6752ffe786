import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest } from '#infra/manifest.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { decodeSecret } from '#shared/notifications/secret-value.ts';
import { webhookSecretsPrefix } from '#shared/notifications/settings.ts';
import {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verify,
} from '#shared/notifications/signing.ts';
import { apiCaller, eventually, s3ClientOf, tokenFor } from './support.ts';

/**
 * The notifications manager end to end on the local runtime: subscriptions through the API, a
 * failed migration (a truncated export uploaded to the bucket) matched on the bus, a signed webhook
 * received by a real HTTP server on loopback, the default subscription's email written as an
 * `.eml` under the outbox, the delivery log, the `test` action, retries and give-ups.
 */

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on loopback; `answer` decides each response's status. */
async function receiver(answer: () => number = () => 204) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(answer()).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('notifications on the local runtime', () => {
  let dataDir: string;
  let rt: LocalRuntime;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const call = apiCaller(
    () => `${rt.apiUrl}/api/v1`,
    tokenFor(() => rt),
  );
  const reader = apiCaller(
    () => `${rt.apiUrl}/api/v1`,
    tokenFor(() => rt, ['readonly']),
  );
  const webhook = (url: string, pattern: Record<string, unknown>) => ({
    name: 'hook',
    pattern,
    channel: { type: 'webhook', url },
  });
  const failedMigrations = { source: [manifest.eventSource], 'detail-type': ['MigrationFailed'] };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vp-notifications-'));
    rt = await startLocalRuntime({ dataDir, port: 0, quiet: true, allowLoopbackWebhooks: true });
    hook = await receiver();
  });
  afterAll(async () => {
    await hook?.close();
    await rt?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers bad subscriptions with a 400 naming the field, and readers with 403', async () => {
    const cases: Array<[unknown, string]> = [
      [webhook(hook.url, { source: 'vector-platform' }), 'pattern'],
      [webhook(hook.url, { 'detail-type': [{ numeric: ['>', 'x'] }] }), 'pattern'],
      [webhook('http://10.0.0.8/hook', failedMigrations), 'channel.url'],
      [webhook('http://169.254.169.254/latest/meta-data', failedMigrations), 'channel.url'],
      [webhook('http://[::ffff:192.168.1.1]/hook', failedMigrations), 'channel.url'],
      [webhook('ftp://example.com/hook', failedMigrations), 'channel.url'],
      [
        { name: 'mail', pattern: failedMigrations, channel: { type: 'email', to: ['not-an-address'] } },
        'channel.to.0',
      ],
      [{ ...webhook(hook.url, failedMigrations), secret: 'short' }, 'secret'],
      [{ ...webhook(hook.url, failedMigrations), extra: 1 }, ''],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/notifications/subscriptions', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      if (field)
        expect(
          res.body.error.issues.map((i: { field: string }) => i.field),
          JSON.stringify(body),
        ).toContain(field);
    }
    expect(
      (await reader('POST', '/notifications/subscriptions', webhook(hook.url, failedMigrations))).status,
    ).toBe(403);
    expect((await call('GET', '/notifications/subscriptions/sub-nope')).status).toBe(404);
  });

  it('a failed migration triggers a signed webhook and an .eml in the outbox; both are logged', async () => {
    const created = await call('POST', '/notifications/subscriptions', webhook(hook.url, failedMigrations));
    expect(created.status).toBe(201);
    const { subscription, secret } = created.body as { subscription: { id: string }; secret: string };
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Shown once: never again in an answer, and kept in the local Secrets Manager, not the state.
    const listed = await reader('GET', '/notifications/subscriptions');
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(listed.body.subscriptions.map((s: { id: string }) => s.id).sort()).toEqual(
      ['default', subscription.id].sort(),
    );
    const secrets = JSON.parse(await readFile(join(dataDir, 'secrets', 'created.json'), 'utf8'));
    expect(Object.keys(secrets)).toEqual([`${webhookSecretsPrefix('local')}${subscription.id}`]);
    // Stored as the current secret, with the time it was made (a rotation keeps the previous too).
    expect(decodeSecret(Object.values(secrets)[0] as string)).toEqual({
      v: 1,
      current: secret,
      rotatedAt: expect.any(String),
    });

    // A truncated export: its migration fails, MigrationFailed goes on the bus.
    await s3ClientOf(rt).send(
      new PutObjectCommand({
        Bucket: rt.bucket,
        Key: 'exports/broken.json',
        Body: '[{"id":"a","vector":[1,',
      }),
    );
    const request = await eventually('the webhook call', async () => hook.received[0], 30_000);
    expect(request.headers['content-type']).toBe('application/json');
    expect(
      verify(
        secret,
        {
          signature: String(request.headers[SIGNATURE_HEADER]),
          timestamp: String(request.headers[TIMESTAMP_HEADER]),
        },
        request.body,
      ),
    ).toBeUndefined();
    // A forged body or an old timestamp is refused by the receiver's check.
    expect(
      verify(
        secret,
        {
          signature: String(request.headers[SIGNATURE_HEADER]),
          timestamp: String(request.headers[TIMESTAMP_HEADER]),
        },
        `${request.body} `,
      ),
    ).toBe('signature mismatch');
    expect(
      verify(
        secret,
        {
          signature: String(request.headers[SIGNATURE_HEADER]),
          timestamp: String(request.headers[TIMESTAMP_HEADER]),
        },
        request.body,
        new Date(Date.now() + 3_600_000),
      ),
    ).toBe('timestamp outside the tolerance');
    const payload = JSON.parse(request.body);
    expect(payload).toMatchObject({
      deliveryId: request.headers[DELIVERY_HEADER],
      subscriptionId: subscription.id,
      event: {
        type: 'MigrationFailed',
        source: manifest.eventSource,
        detail: { key: 'exports/broken.json' },
      },
    });

    // The default subscription mails failed migrations: an RFC 5322 message in the outbox.
    // (Other mails may be there: the default subscription also mails critical conditions.)
    const message = await eventually(
      'the MigrationFailed .eml in the outbox',
      async () => {
        const files = (await readdir(rt.outboxDir).catch(() => [])).filter((f) => f.endsWith('.eml'));
        const texts = await Promise.all(files.map((f) => readFile(join(rt.outboxDir, f), 'utf8')));
        return texts.find((t) => /^Subject: .*MigrationFailed$/m.test(t));
      },
      30_000,
    );
    expect(message).toMatch(/^From: notifications@vector-platform\.local$/m);
    expect(message).toMatch(/^To: operators@vector-platform\.local$/m);
    expect(message).toMatch(/^Subject: \[vector-platform\] MigrationFailed$/m);
    expect(message).toMatch(/^MIME-Version: 1\.0$/m);
    expect(message).toContain('exports/broken.json');

    const log = await eventually('both notifications delivered', async () => {
      const { body } = await reader('GET', '/notifications/deliveries?status=delivered');
      const ours = body.deliveries.filter((d: { eventType: string }) => d.eventType === 'MigrationFailed');
      return ours.length === 2 ? ours : undefined;
    });
    for (const delivery of log) {
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, eventType: 'MigrationFailed' });
      expect(delivery.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(log.map((d: { channel: string }) => d.channel).sort()).toEqual(['email', 'webhook']);
    expect(log.find((d: { channel: string }) => d.channel === 'webhook')).toMatchObject({
      id: request.headers[DELIVERY_HEADER],
      responseStatus: 204,
    });
    expect((await reader('GET', '/notifications/deliveries?status=lost')).status).toBe(400);
  }, 60_000);

  it("mails the alarm topic's notifications through the default subscription", async () => {
    // What SNS delivers to the queue in AWS (no CloudWatch alarm is evaluated locally).
    const alarm = {
      AlarmName: 'vector-platform-local-SearchErrors',
      AlarmDescription: 'search: at least one error in a minute',
      NewStateValue: 'ALARM',
      NewStateReason:
        'Threshold Crossed: 1 datapoint [2.0] was greater than or equal to the threshold (1.0).',
      StateChangeTime: '2026-12-07T03:00:00.000+0000',
      OldStateValue: 'OK',
    };
    const sqs = new SQSClient({
      region: rt.region,
      endpoint: rt.sqsEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: rt.queueUrls.notificationEvents!.url,
          MessageBody: JSON.stringify({
            Type: 'Notification',
            MessageId: 'alarm-message-1',
            TopicArn: 'arn:aws:sns:us-east-1:000000000000:alarms',
            Message: JSON.stringify(alarm),
            Timestamp: new Date().toISOString(),
          }),
        }),
      );
    } finally {
      sqs.destroy();
    }
    const delivery = await eventually(
      'the alarm mailed',
      async () => {
        const { body } = await reader('GET', '/notifications/deliveries?status=delivered');
        return body.deliveries.find(
          (d: { eventType: string }) => d.eventType === 'CloudWatch Alarm State Change',
        );
      },
      45_000,
    );
    expect(delivery).toMatchObject({ subscriptionId: 'default', channel: 'email', attempts: 1 });
    // Quoted-printable: soft line breaks (`=` at a line's end) joined back.
    const message = await eventually('the alarm .eml in the outbox', async () => {
      const files = (await readdir(rt.outboxDir)).filter((f) => f.endsWith('.eml'));
      const texts = await Promise.all(files.map((f) => readFile(join(rt.outboxDir, f), 'utf8')));
      return texts.map((t) => t.replaceAll('=\r\n', '')).find((t) => t.includes('(event alarm-message-1)'));
    });
    expect(message).toMatch(/^Subject: \[vector-platform\] CloudWatch Alarm State Change\r?$/m);
    expect(message).toContain('"alarmName": "vector-platform-local-SearchErrors"');
    expect(message).toContain('"value": "ALARM"');
  }, 60_000);

  it('the test action sends a sample through the same path', async () => {
    const { body } = await call(
      'POST',
      '/notifications/subscriptions',
      webhook(hook.url, { source: ['nobody'] }),
    );
    const before = hook.received.length;
    const res = await call('POST', '/managers/notifications/actions/test', {
      subscriptionId: body.subscription.id,
    });
    expect(res.status).toBe(200);
    const sample = await eventually('the sample', async () => hook.received[before]);
    expect(JSON.parse(sample.body).event).toMatchObject({
      type: 'NotificationTest',
      detail: { subscriptionId: body.subscription.id },
    });
    expect(
      verify(
        body.secret,
        {
          signature: String(sample.headers[SIGNATURE_HEADER]),
          timestamp: String(sample.headers[TIMESTAMP_HEADER]),
        },
        sample.body,
      ),
    ).toBeUndefined();
    const missing = await call('POST', '/managers/notifications/actions/test', {
      subscriptionId: 'sub-nope',
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.issues[0].field).toBe('input.subscriptionId');
  });

  it('retries what may pass (with a backoff), gives up on a refusal and says so on the bus', async () => {
    const flaky = await receiver(() => 503);
    const refusing = await receiver(() => 410);
    try {
      const retried = (
        await call('POST', '/notifications/subscriptions', webhook(flaky.url, { source: ['nobody'] }))
      ).body;
      const refused = (
        await call('POST', '/notifications/subscriptions', webhook(refusing.url, { source: ['nobody'] }))
      ).body;
      for (const { subscription } of [retried, refused]) {
        await call('POST', '/managers/notifications/actions/test', { subscriptionId: subscription.id });
      }
      const retrying = await eventually('a retrying notification', async () => {
        const { body } = await reader(
          'GET',
          `/notifications/deliveries?subscriptionId=${retried.subscription.id}`,
        );
        return body.deliveries[0]?.status === 'retrying' ? body.deliveries[0] : undefined;
      });
      expect(retrying).toMatchObject({
        attempts: 1,
        responseStatus: 503,
        lastError: 'the webhook answered 503',
      });
      // The first backoff: 30 s after the failed attempt.
      expect(Date.parse(retrying.nextAttemptAt) - Date.parse(retrying.updatedAt)).toBe(30_000);
      const failed = await eventually('a failed notification', async () => {
        const { body } = await reader(
          'GET',
          `/notifications/deliveries?subscriptionId=${refused.subscription.id}`,
        );
        return body.deliveries[0]?.status === 'failed' ? body.deliveries[0] : undefined;
      });
      expect(failed).toMatchObject({ attempts: 1, responseStatus: 410 });
      expect(refusing.received).toHaveLength(1);
      await rt.bus.settled();
      const events = await eventually('NotificationFailed in the event log', async () => {
        const { body } = await reader('GET', '/events?type=NotificationFailed');
        return body.events.length > 0 ? body.events : undefined;
      });
      expect(events[0].detail).toMatchObject({
        subscriptionId: refused.subscription.id,
        channel: 'webhook',
        attempts: 1,
      });
    } finally {
      await flaky.close();
      await refusing.close();
    }
  });

  it('deletes a subscription with its secret; the manager reports its figures', async () => {
    const { body } = await call(
      'POST',
      '/notifications/subscriptions',
      webhook(hook.url, { source: ['nobody'] }),
    );
    const name = `${webhookSecretsPrefix('local')}${body.subscription.id}`;
    expect(JSON.parse(await readFile(join(dataDir, 'secrets', 'created.json'), 'utf8'))).toHaveProperty([
      name,
    ]);
    expect((await call('DELETE', `/notifications/subscriptions/${body.subscription.id}`)).status).toBe(204);
    expect(JSON.parse(await readFile(join(dataDir, 'secrets', 'created.json'), 'utf8'))).not.toHaveProperty([
      name,
    ]);
    expect((await call('GET', `/notifications/subscriptions/${body.subscription.id}`)).status).toBe(404);
    const metrics = await reader('GET', '/managers/notifications/metrics');
    expect(metrics.body.gauges).toContainEqual(
      expect.objectContaining({ name: 'notifications_deliveries', labels: { status: 'delivered' } }),
    );
    const health = await reader('GET', '/managers/notifications/health');
    expect(health.body.checks.map((c: { name: string }) => c.name)).toEqual([
      'state-store',
      'recent-failures',
    ]);
  });
});
