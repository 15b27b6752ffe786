import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventBridgeBus } from '#shared/adapters/eventbridge.ts';
import { createEventBus } from '#shared/adapters/index.ts';
import type { Config } from '#shared/config.ts';
import { UpstreamError, ValidationError } from '#shared/errors.ts';
import type { PlatformEvent } from '#shared/ports.ts';

/**
 * The EventBridge adapter against a minimal fake of the AWS JSON 1.1 protocol: `PutEvents` (an
 * entry whose source is `fail.*` fails with the rest of the name as its ErrorCode) and
 * `DescribeEventBus` (only the bus `platform` exists).
 */

interface Call {
  target: string;
  contentType: string;
  body: Record<string, unknown>;
}

let server: Server;
let endpoint: string;
let client: EventBridgeClient;
const calls: Call[] = [];

function answer(target: string, body: Record<string, unknown>): { status: number; json: unknown } {
  if (target === 'AWSEvents.PutEvents') {
    const entries = body.Entries as Array<{ Source: string }>;
    const results = entries.map((e, i) =>
      e.Source.startsWith('fail.')
        ? { ErrorCode: e.Source.slice(5), ErrorMessage: 'refused' }
        : { EventId: `ev-${i}` },
    );
    return {
      status: 200,
      json: { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results },
    };
  }
  if (target === 'AWSEvents.DescribeEventBus') {
    if (body.Name === 'platform')
      return { status: 200, json: { Name: 'platform', Arn: 'arn:aws:events:::event-bus/platform' } };
    return {
      status: 400,
      json: { __type: 'ResourceNotFoundException', message: `Event bus ${body.Name} does not exist.` },
    };
  }
  return { status: 400, json: { __type: 'UnknownOperationException' } };
}

beforeAll(async () => {
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target']);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      calls.push({ target, contentType: String(req.headers['content-type']), body });
      const { status, json } = answer(target, body);
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new EventBridgeClient({ endpoint });
});

beforeEach(() => {
  calls.length = 0;
});

afterAll(async () => {
  client?.destroy();
  await new Promise((resolve) => server?.close(resolve));
  vi.unstubAllEnvs();
});

const event = (i: number, source = 'vector-platform'): PlatformEvent => ({
  source,
  detailType: 'ChunkProcessed',
  detail: { jobId: 'job-1', chunk: i },
});

describe('EventBridgeBus', () => {
  it('publishes in PutEvents calls of at most 10 entries naming the bus, source, type and JSON detail', async () => {
    const bus = new EventBridgeBus({ client, busName: 'platform' });
    await bus.publish(Array.from({ length: 23 }, (_, i) => event(i)));
    expect(calls.map((c) => c.target)).toEqual(Array(3).fill('AWSEvents.PutEvents'));
    expect(calls[0]!.contentType).toBe('application/x-amz-json-1.1');
    const entries = calls.flatMap((c) => c.body.Entries as Array<Record<string, string>>);
    expect(calls.map((c) => (c.body.Entries as unknown[]).length)).toEqual([10, 10, 3]);
    expect(entries[22]).toEqual({
      EventBusName: 'platform',
      Source: 'vector-platform',
      DetailType: 'ChunkProcessed',
      Detail: JSON.stringify({ jobId: 'job-1', chunk: 22 }),
    });
  });

  it('splits PutEvents calls by size too (256 KB per call)', async () => {
    const bus = new EventBridgeBus({ client, busName: 'platform' });
    const big = (i: number): PlatformEvent => ({ ...event(i), detail: { pad: 'x'.repeat(100_000) } });
    await bus.publish([big(0), big(1), big(2)]);
    expect(calls.map((c) => (c.body.Entries as unknown[]).length)).toEqual([2, 1]);
  });

  it('fails with an UpstreamError naming the refused entries (FailedEntryCount)', async () => {
    const bus = new EventBridgeBus({ client, busName: 'platform' });
    const err = await bus
      .publish([event(0), event(1, 'fail.ThrottlingException'), event(2)])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).message).toBe(
      'EventBridge rejected 1 of 3 events (entry 1: ThrottlingException)',
    );
    expect((err as UpstreamError).retryable).toBe(true);
    const fatal = await bus.publish([event(0, 'fail.AccessDeniedException')]).catch((e: unknown) => e);
    expect((fatal as UpstreamError).retryable).toBe(false);
  });

  it('refuses a detail that is not a JSON object before calling', async () => {
    const bus = new EventBridgeBus({ client, busName: 'platform' });
    const bad = { source: 's', detailType: 't', detail: [1, 2] } as unknown as PlatformEvent;
    await expect(bus.publish([event(0), bad])).rejects.toMatchObject({
      issues: [{ field: 'events.1.detail' }],
    });
    await expect(bus.publish([bad])).rejects.toThrow(ValidationError);
    expect(calls).toEqual([]);
  });

  it('pings with DescribeEventBus; an unknown bus fails with the error name only', async () => {
    await expect(new EventBridgeBus({ client, busName: 'platform' }).ping()).resolves.toBeUndefined();
    expect(calls[0]).toMatchObject({ target: 'AWSEvents.DescribeEventBus', body: { Name: 'platform' } });
    const err = await new EventBridgeBus({ client, busName: 'other' }).ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toBe(
      'EventBridge DescribeEventBus failed: ResourceNotFoundException (HTTP 400)',
    );
  });

  it('is built from the configuration, with the endpoint from AWS_ENDPOINT_URL_EVENTBRIDGE', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_EVENTBRIDGE', endpoint);
    await createEventBus({ eventBusName: 'platform' } as Config).publish([event(7)]);
    expect(calls).toHaveLength(1);
    expect(() => createEventBus({} as Config)).toThrow(/EVENT_BUS_NAME/);
  });
});
