import type { S3Event } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createNotifier } from '#local/notifications.ts';

/** The notifier the local S3 calls once an object is stored: filtering, retries, settled(), close(). */

const object = { bucket: 'exports', key: 'incoming/a b.json', size: 3, eTag: 'abc' };

function recorder(failures = 0) {
  const calls: Array<{ fn: string; event: S3Event }> = [];
  let left = failures;
  const invoke = async (fn: string, event: unknown) => {
    calls.push({ fn, event: event as S3Event });
    if (left-- > 0) throw new Error('boom');
  };
  return { calls, invoke };
}

describe('createNotifier', () => {
  const notifications = [
    { id: 'n1', prefix: 'incoming/', suffix: '.json', function: 'onJson' },
    { id: 'n2', prefix: 'incoming/', function: 'onAny' },
  ];

  it('invokes every matching notification of its bucket once, covered by settled()', async () => {
    const { calls, invoke } = recorder();
    const notifier = createNotifier({
      bucket: 'exports',
      notifications,
      invoke,
      region: 'eu-west-1',
      log: () => {},
    });
    notifier.objectCreated(object, 'ObjectCreated:Put', '127.0.0.1', 'REQ1');
    notifier.objectCreated({ ...object, key: 'incoming/a.txt' }, 'ObjectCreated:Copy', '127.0.0.1', 'REQ2');
    notifier.objectCreated({ ...object, key: 'other/a.json' }, 'ObjectCreated:Put', '127.0.0.1', 'REQ3');
    notifier.objectCreated({ ...object, bucket: 'elsewhere' }, 'ObjectCreated:Put', '127.0.0.1', 'REQ4');
    await notifier.settled();
    expect(
      calls.map((c) => [c.fn, c.event.Records[0]!.s3.object.key, c.event.Records[0]!.eventName]).sort(),
    ).toEqual([
      ['onAny', 'incoming/a+b.json', 'ObjectCreated:Put'],
      ['onAny', 'incoming/a.txt', 'ObjectCreated:Copy'],
      ['onJson', 'incoming/a+b.json', 'ObjectCreated:Put'],
    ]);
    const record = calls.find((c) => c.fn === 'onJson')!.event.Records[0]!;
    expect(record).toMatchObject({
      awsRegion: 'eu-west-1',
      responseElements: { 'x-amz-request-id': 'REQ1' },
      s3: { configurationId: 'n1', bucket: { name: 'exports' }, object: { size: 3, eTag: 'abc' } },
    });
    await notifier.close();
  });

  it("retries a failed invocation with Lambda's two retries, then gives up", async () => {
    const flaky = recorder(2);
    const logs: string[] = [];
    const notifier = createNotifier({
      bucket: 'exports',
      notifications: [notifications[1]!],
      invoke: flaky.invoke,
      region: 'us-east-1',
      retryDelaysMs: [1, 1],
      log: (m) => logs.push(m),
    });
    notifier.objectCreated(object, 'ObjectCreated:Put', '127.0.0.1', 'R');
    await notifier.settled();
    expect(flaky.calls).toHaveLength(3);

    const broken = recorder(10);
    const giving = createNotifier({
      bucket: 'exports',
      notifications: [notifications[1]!],
      invoke: broken.invoke,
      region: 'us-east-1',
      retryDelaysMs: [1, 1],
      log: (m) => logs.push(m),
    });
    giving.objectCreated(object, 'ObjectCreated:Put', '127.0.0.1', 'R');
    await giving.settled();
    expect(broken.calls).toHaveLength(3);
    expect(logs.at(-1)).toMatch(/giving up/);
  });

  it('close() cuts retry waits short and ignores later objects', async () => {
    const broken = recorder(10);
    const notifier = createNotifier({
      bucket: 'exports',
      notifications: [notifications[1]!],
      invoke: broken.invoke,
      region: 'us-east-1',
      retryDelaysMs: [3_600_000],
      log: () => {},
    });
    notifier.objectCreated(object, 'ObjectCreated:Put', '127.0.0.1', 'R');
    while (broken.calls.length === 0) await new Promise((r) => setImmediate(r));
    await notifier.close();
    notifier.objectCreated(object, 'ObjectCreated:Put', '127.0.0.1', 'R2');
    await notifier.settled();
    expect(broken.calls).toHaveLength(1);
  });
});
