import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { EVENT_SOURCE } from '#shared/migrations/settings.ts';
import { DeliveryLog } from '#shared/notifications/deliveries.ts';
import { type NotifiedEvent, SubscriptionInputSchema } from '#shared/notifications/model.ts';
import type { EmailSender, SecretStore } from '#shared/notifications/ports.ts';
import { decodeSecret } from '#shared/notifications/secret-value.ts';
import { NotificationService } from '#shared/notifications/service.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verify } from '#shared/notifications/signing.ts';
import { DEFAULT_SUBSCRIPTION_ID, SubscriptionStore } from '#shared/notifications/subscriptions.ts';
import type { QueueMessage } from '#shared/ports.ts';
import { RecordingBus, tempDir } from '../managers/support.ts';

/** The notifications service with fakes at its edges and a real webhook receiver on loopback. */

class MemorySecrets implements SecretStore {
  readonly values = new Map<string, string>();
  async put(name: string, value: string) {
    this.values.set(name, value);
  }
  async replace(name: string, value: string) {
    if (!this.values.has(name)) throw new Error(`no secret ${name}`);
    this.values.set(name, value);
  }
  async get(name: string) {
    const value = this.values.get(name);
    if (value === undefined) throw new Error(`no secret ${name}`);
    return value;
  }
  async delete(name: string) {
    this.values.delete(name);
  }
}

const event = (type: string, detail: Record<string, unknown> = {}, id = `e-${type}`): NotifiedEvent => ({
  version: '0',
  id,
  time: '2026-12-07T10:00:00Z',
  source: EVENT_SOURCE,
  'detail-type': type,
  detail,
});

describe('NotificationService', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let receiver: Server;
  let url: string;
  let status = 204;
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  let sent: QueueMessage[];
  let delays: Array<[string, number]>;
  let mails: Array<{ from: string; to: readonly string[]; raw: string }>;
  let bus: RecordingBus;
  let secrets: MemorySecrets;
  let subscriptions: SubscriptionStore;
  let log: DeliveryLog;
  let service: NotificationService;
  let deps: ConstructorParameters<typeof NotificationService>[0];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  beforeEach(async () => {
    await dir?.cleanup();
    dir = await tempDir('vp-notifications-unit-');
    status = 204;
    received.length = 0;
    sent = [];
    delays = [];
    mails = [];
    bus = new RecordingBus();
    secrets = new MemorySecrets();
    const state = new FileStateStore({ dir: dir.path });
    subscriptions = new SubscriptionStore({
      state: () => state,
      secrets: () => secrets,
      secretPrefix: 'vector-platform/test/notifications/webhooks/',
      defaultEmailTo: async () => 'ops@example.com',
      policy: { allowLoopback: true },
    });
    log = new DeliveryLog(() => state);
    const email: EmailSender = {
      async send(message) {
        mails.push({ ...message, raw: Buffer.from(message.raw).toString() });
        return { messageId: 'm-1' };
      },
    };
    deps = {
      subscriptions,
      log,
      queue: () => ({
        async send(messages) {
          sent.push(...messages);
        },
        async ping() {},
      }),
      redelivery: () => ({
        async later(handle, seconds) {
          delays.push([handle, seconds]);
        },
      }),
      email: () => email,
      publisher: () => bus.publisher(),
      emailFrom: 'notifications@example.com',
      policy: { allowLoopback: true },
    };
    service = new NotificationService(deps);
  });

  const hook = async (pattern: Record<string, unknown> = { 'detail-type': ['MigrationFailed'] }) =>
    subscriptions.create({ name: 'hook', pattern, channel: { type: 'webhook', url }, enabled: true });

  it('stores the default subscription once, and matches it with the legacy names it stands for', async () => {
    expect((await subscriptions.list()).map((s) => s.id)).toEqual([DEFAULT_SUBSCRIPTION_ID]);
    for (const type of ['MigrationFailed', 'ManagerFailed', 'SystemCriticalDetected', 'OperatorNotice']) {
      expect((await service.match(event(type))).deliveries, type).toHaveLength(1);
    }
    expect((await service.match(event('MigrationCompleted'))).deliveries).toHaveLength(0);
    // Deleted, it stays deleted.
    await subscriptions.delete(DEFAULT_SUBSCRIPTION_ID);
    expect(await subscriptions.list()).toEqual([]);
  });

  it('fans an event out once per subscription, however often the event comes', async () => {
    const { subscription } = await hook();
    const first = await service.match(event('MigrationFailed'));
    expect(first.deliveries).toHaveLength(2);
    expect(sent.map((m) => (m.body as { subscriptionId: string }).subscriptionId).sort()).toEqual(
      [DEFAULT_SUBSCRIPTION_ID, subscription.id].sort(),
    );
    const message = sent.find(
      (m) => (m.body as { subscriptionId: string }).subscriptionId === subscription.id,
    )!.body as never;
    await service.deliver(message, 1, 'h-1');
    // The same event again: the delivered one is not started twice, the pending one is queued again.
    sent = [];
    expect((await service.match(event('MigrationFailed'))).deliveries).toEqual(
      first.deliveries.filter((id) => id !== (message as { deliveryId: string }).deliveryId),
    );
  });

  it('delivers a signed webhook and logs it', async () => {
    const { subscription, secret } = await hook();
    const stored = secrets.values.get(`vector-platform/test/notifications/webhooks/${subscription.id}`);
    expect(decodeSecret(stored!).current).toBe(secret);
    await service.match(event('MigrationFailed', { jobId: 'j-1' }));
    const message = sent.find(
      (m) => (m.body as { subscriptionId: string }).subscriptionId === subscription.id,
    )!;
    const delivery = await service.deliver(message.body as never, 1, 'h-1');
    expect(delivery).toMatchObject({
      status: 'delivered',
      attempts: 1,
      responseStatus: 204,
      channel: 'webhook',
    });
    const [request] = received;
    expect(
      verify(
        secret!,
        {
          signature: String(request!.headers[SIGNATURE_HEADER]),
          timestamp: String(request!.headers[TIMESTAMP_HEADER]),
        },
        request!.body,
      ),
    ).toBeUndefined();
    expect(JSON.parse(request!.body)).toMatchObject({
      subscriptionId: subscription.id,
      event: { type: 'MigrationFailed', detail: { jobId: 'j-1' } },
    });
    expect(await log.get(delivery.id)).toEqual(delivery);
  });

  it('after a rotation, signs with the new and the previous secret until the grace ends, then the new one only', async () => {
    const { subscription, secret: old } = await hook({ source: ['elsewhere'] });
    const { deliveryId } = await service.test(subscription.id);
    const message = sent[0]!.body as never;
    const rotated = await subscriptions.rotateSecret(subscription.id, 60_000);
    expect(rotated).toMatchObject({ previous: old, current: expect.not.stringMatching(old!) });
    const verdict = (secret: string, now = new Date()) => {
      const request = received.at(-1)!;
      return verify(
        secret,
        {
          signature: String(request.headers[SIGNATURE_HEADER]),
          timestamp: String(request.headers[TIMESTAMP_HEADER]),
        },
        request.body,
        now,
      );
    };
    // A message queued before the rotation, delivered after it: both receivers accept it.
    await service.deliver(message, 1, 'h-1');
    expect(String(received.at(-1)!.headers[SIGNATURE_HEADER]).split(',')).toHaveLength(2);
    expect(verdict(old!)).toBeUndefined();
    expect(verdict(rotated.current)).toBeUndefined();
    expect(verdict('a-secret-nobody-was-given-000000000000')).toBe('signature mismatch');
    expect((await log.get(deliveryId))?.status).toBe('delivered');

    // Past the grace: the previous secret no longer signs.
    const later = new Date(Date.parse(rotated.previousValidUntil!) + 1);
    const afterGrace = new NotificationService({ ...deps, now: () => later });
    sent = [];
    await afterGrace.test(subscription.id);
    await afterGrace.deliver(sent[0]!.body as never, 1, 'h-2');
    expect(verdict(rotated.current, later)).toBeUndefined();
    expect(verdict(old!, later)).toBe('signature mismatch');
    expect(String(received.at(-1)!.headers[SIGNATURE_HEADER]).split(',')).toHaveLength(1);
  });

  it('refuses to rotate what has no secret: an email subscription, an unknown one', async () => {
    await subscriptions.list(); // stores the default (email) subscription
    await expect(subscriptions.rotateSecret(DEFAULT_SUBSCRIPTION_ID, 1000)).rejects.toMatchObject({
      statusCode: 400,
      issues: [{ field: 'subscriptionId' }],
    });
    await expect(subscriptions.rotateSecret('nope', 1000)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('retries with a growing backoff, then gives up after the last attempt (to the dead-letter queue)', async () => {
    status = 503;
    const { subscription } = await hook({ source: ['elsewhere'] });
    const { deliveryId } = await service.test(subscription.id);
    const message = sent[0]!.body as never;
    await expect(service.deliver(message, 1, 'h-1')).rejects.toThrow('the webhook answered 503');
    expect(await log.get(deliveryId)).toMatchObject({ status: 'retrying', attempts: 1, responseStatus: 503 });
    await expect(service.deliver(message, 2, 'h-2')).rejects.toThrow();
    expect(delays).toEqual([
      ['h-1', 30],
      ['h-2', 120],
    ]);
    expect(bus.ofType('NotificationFailed')).toEqual([]);
    // The last attempt: failed, said on the bus, and thrown so the queue dead-letters the message.
    await expect(service.deliver(message, 5, 'h-5')).rejects.toThrow();
    expect(await log.get(deliveryId)).toMatchObject({ status: 'failed', attempts: 5 });
    expect(bus.ofType('NotificationFailed')).toEqual([
      expect.objectContaining({
        deliveryId,
        subscriptionId: subscription.id,
        attempts: 5,
        channel: 'webhook',
      }),
    ]);
    expect(delays).toHaveLength(2);
    // A message received again after it failed for good does nothing more.
    expect(await service.deliver(message, 6, 'h-6')).toMatchObject({ status: 'failed' });
    expect(received).toHaveLength(3);
  });

  it('gives up at once on a refusal (a 4xx), without a retry', async () => {
    status = 410;
    const { subscription } = await hook({ source: ['elsewhere'] });
    await service.test(subscription.id);
    expect(await service.deliver(sent[0]!.body as never, 1, 'h-1')).toMatchObject({
      status: 'failed',
      responseStatus: 410,
    });
    expect(delays).toEqual([]);
    expect(bus.ofType('NotificationFailed')).toHaveLength(1);
  });

  it('mails an RFC 5322 message through the email port', async () => {
    await service.match(event('SystemCriticalDetected', { reason: 'qdrant down' }));
    await service.deliver(sent[0]!.body as never, 1, 'h-1');
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ from: 'notifications@example.com', to: ['ops@example.com'] });
    expect(mails[0]!.raw).toMatch(/^Subject: \[vector-platform\] SystemCriticalDetected$/m);
    expect(mails[0]!.raw).toContain('qdrant down');
  });

  it('skips notifications of a disabled or deleted subscription, and never tells a subscription of its own failure', async () => {
    const { subscription } = await hook({ source: [EVENT_SOURCE] });
    await service.test(subscription.id);
    await subscriptions.delete(subscription.id);
    expect(await service.deliver(sent[0]!.body as never, 1, 'h')).toMatchObject({
      status: 'skipped',
      lastError: 'the subscription was deleted',
    });
    const other = (await hook({ source: [EVENT_SOURCE] })).subscription;
    const own = event('NotificationFailed', { subscriptionId: other.id });
    expect((await service.match(own)).deliveries).toHaveLength(0);
    expect(
      (await service.match(event('NotificationFailed', { subscriptionId: 'sub-x' }))).deliveries,
    ).toHaveLength(1);
  });
});

describe('SubscriptionInputSchema (untrusted input)', () => {
  it('never throws, and every refusal names a field', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = SubscriptionInputSchema.safeParse(value);
        if (!result.success)
          for (const issue of result.error.issues) expect(typeof issue.message).toBe('string');
      }),
    );
  });

  it('refuses any invalid pattern under `pattern`, accepts valid ones', () => {
    const base = { name: 'n', channel: { type: 'email', to: ['a@example.com'] } };
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 })), (pattern) => {
        const result = SubscriptionInputSchema.safeParse({ ...base, pattern });
        if (!result.success) {
          expect(result.error.issues.every((i) => i.path[0] === 'pattern')).toBe(true);
        }
      }),
    );
    expect(
      SubscriptionInputSchema.safeParse({ ...base, pattern: { 'detail-type': [{ prefix: 'Migration' }] } })
        .success,
    ).toBe(true);
    const bad = SubscriptionInputSchema.safeParse({
      ...base,
      pattern: { detail: { n: [{ numeric: ['>', 'x'] }] } },
    });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]).toMatchObject({
      path: ['pattern'],
      message: expect.stringContaining('detail.n'),
    });
  });
});
