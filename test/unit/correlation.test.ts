import type { LogItem } from '@aws-lambda-powertools/logger';
import type { SendMessageBatchCommand, SendMessageBatchCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

vi.hoisted(() => {
  // Before the shared Powertools instances are built by the first import. Lines are caught
  // before they are printed (below); the wrappers reset the level to this one at each invocation.
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
});

import { SqsQueue } from '#shared/adapters/sqs.ts';
import { fileHandler } from '#shared/api/file-handler.ts';
import { resetConfig } from '#shared/config.ts';
import { CORRELATION_HEADER, correlationId, withCorrelationId } from '#shared/correlation.ts';
import { NotFoundError } from '#shared/errors.ts';
import { eventHandler } from '#shared/events/handler.ts';
import { EventPublisher, parseEvent } from '#shared/events/publisher.ts';
import { httpHandler } from '#shared/http.ts';
import type { EventBus, PlatformEvent } from '#shared/ports.ts';
import { logger } from '#shared/powertools.ts';
import { sqsHandler } from '#shared/sqs.ts';
import { invoke, lambdaContext } from './http/support.ts';

/** The correlation id through the wrappers, the logger, the publisher and the SQS adapter. */

type Printer = { printLog(level: number, item: LogItem): void };
let lines: Array<Record<string, unknown>>;

beforeEach(() => {
  vi.stubEnv('QDRANT_URL', 'http://127.0.0.1:1');
  resetConfig();
  // Every line the logger would print, as the attributes it would print them with.
  lines = [];
  vi.spyOn(logger as unknown as Printer, 'printLog').mockImplementation((_level, item) => {
    lines.push(item.getAttributes());
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  resetConfig();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const api = httpHandler({ config: false }, async ({ event }) => {
  logger.info('handling', { sent: event.headers[CORRELATION_HEADER] });
  // Concurrent invocations interleave here.
  await pause(Math.random() * 5);
  logger.info('handled', { sent: event.headers[CORRELATION_HEADER] });
  if (event.queryStringParameters?.fail) throw new NotFoundError('nothing here');
  return { id: correlationId() };
});

describe('HTTP wrappers', () => {
  it("answers a client's valid x-correlation-id in the header, and every log line carries it", async () => {
    const res = await invoke(api, { headers: { [CORRELATION_HEADER]: 'abc-123' } });
    expect(res.status).toBe(200);
    expect(res.headers[CORRELATION_HEADER]).toBe('abc-123');
    expect(res.body).toEqual({ id: 'abc-123' });
    expect(lines.map((l) => [l.message, l.correlationId])).toEqual([
      ['handling', 'abc-123'],
      ['handled', 'abc-123'],
    ]);
  });

  it("uses API Gateway's request id without a header, and instead of one that is not a valid id", async () => {
    for (const sent of [undefined, '', 'has space', 'x'.repeat(129), 'a\r\nset-cookie: x=1', 'é', '<b>']) {
      const res = await invoke(api, sent === undefined ? {} : { headers: { [CORRELATION_HEADER]: sent } });
      expect(res.headers[CORRELATION_HEADER]).toBe('gw-request');
      expect(res.body).toEqual({ id: 'gw-request' });
    }
    expect(new Set(lines.map((l) => l.correlationId))).toEqual(new Set(['gw-request']));
    // Ids the platform makes are valid: API Gateway's base64 ids, UUIDs, S3 request ids.
    for (const id of [
      'JKJaXmPLvHcESHA=',
      'a+b/c==',
      '6f1c1f9e-8a4b-4c1e-9f0a-2b8e5d3c7a10',
      'x'.repeat(128),
    ]) {
      expect((await invoke(api, { headers: { [CORRELATION_HEADER]: id } })).headers[CORRELATION_HEADER]).toBe(
        id,
      );
    }
  });

  it('answers the id with errors too', async () => {
    const res = await invoke(api, { headers: { [CORRELATION_HEADER]: 'e-1' }, query: { fail: '1' } });
    expect(res.status).toBe(404);
    expect(res.headers[CORRELATION_HEADER]).toBe('e-1');
  });

  it('keeps the ids of concurrent invocations apart, in answers and log lines', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `c-${i}`);
    const answers = await Promise.all(
      ids.map((id) => invoke(api, { headers: { [CORRELATION_HEADER]: id } })),
    );
    expect(answers.map((a) => a.headers[CORRELATION_HEADER])).toEqual(ids);
    expect(answers.map((a) => a.body.id)).toEqual(ids);
    expect(lines).toHaveLength(40);
    for (const line of lines) expect(line.correlationId).toBe(line.sent);
  });

  it('the file handler answers the id, errors included', async () => {
    const file = fileHandler(async (event) => {
      if (event.queryStringParameters?.fail) throw new NotFoundError('no file');
      return { contentType: 'application/json', body: '{"file":true}' };
    });
    const ok = await invoke(file, { headers: { [CORRELATION_HEADER]: 'f-1' } });
    expect(ok.status).toBe(200);
    expect(ok.headers[CORRELATION_HEADER]).toBe('f-1');
    const failed = await invoke(file, { query: { fail: '1' } });
    expect(failed.status).toBe(404);
    expect(failed.headers[CORRELATION_HEADER]).toBe('gw-request');
  });
});

class Bus implements EventBus {
  readonly events: PlatformEvent[] = [];
  async publish(events: PlatformEvent[]): Promise<void> {
    this.events.push(...events);
  }
  async ping(): Promise<void> {}
}

const rolledBack = { jobId: 'j1', target: 'notes', collection: 'notes_v1' };

describe('events', () => {
  it("the publisher adds the current id to the detail, and nothing outside a request's scope", async () => {
    const bus = new Bus();
    const publisher = new EventPublisher(bus, 'svc');
    await withCorrelationId('abc-123', () => publisher.publish('MigrationRolledBack', rolledBack));
    await publisher.publish('MigrationRolledBack', rolledBack);
    expect(bus.events.map((e) => e.detail)).toEqual([
      { ...rolledBack, schemaVersion: 1, correlationId: 'abc-123' },
      { ...rolledBack, schemaVersion: 1 },
    ]);
    // A consumer refuses an id that is not one.
    expect(() =>
      parseEvent({
        source: 'svc',
        'detail-type': 'MigrationRolledBack',
        detail: { ...rolledBack, schemaVersion: 1, correlationId: 'not an id' },
      }),
    ).toThrow(/^detail\.correlationId: /);
  });

  it("the event wrapper continues the detail's id; an event without one starts a chain named by its id", async () => {
    const handler = eventHandler(z.looseObject({}), async () => correlationId());
    const run = (event: unknown) => handler(event, lambdaContext());
    expect(await run({ id: 'ev-1', detail: { correlationId: 'abc-123' } })).toBe('abc-123');
    expect(await run({ id: 'ev-2', detail: {} })).toBe('ev-2');
    expect(await run({ id: 'ev-3', detail: { correlationId: 'not an id' } })).toBe('ev-3');
  });
});

function record(messageId: string, body: unknown, attribute?: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes:
      attribute === undefined
        ? {}
        : {
            correlationId: {
              dataType: 'String',
              stringValue: attribute,
              stringListValues: [],
              binaryListValues: [],
            },
          },
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q',
    awsRegion: 'us-east-1',
  };
}

describe('SQS', () => {
  it('the adapter sends the current id as the correlationId attribute of every message', async () => {
    const sent: SendMessageBatchCommandInput[] = [];
    const client = {
      send: async (command: SendMessageBatchCommand) => {
        sent.push(command.input);
        return { Successful: [], Failed: [] };
      },
    } as unknown as SQSClient;
    const queue = new SqsQueue({ client, queueUrl: 'http://sqs/q' });
    await withCorrelationId('up-1', () => queue.send([{ body: { a: 1 } }, { body: { b: 2 } }]));
    await queue.send([{ body: { c: 3 } }]);
    expect(sent.map((input) => input.Entries?.map((e) => e.MessageAttributes))).toEqual([
      [
        { correlationId: { DataType: 'String', StringValue: 'up-1' } },
        { correlationId: { DataType: 'String', StringValue: 'up-1' } },
      ],
      [undefined],
    ]);
  });

  it("the wrapper runs each record under its own id: the attribute, an event's detail, else its message id", async () => {
    const seen = new Map<number, string | undefined>();
    const handler = sqsHandler(z.looseObject({ n: z.int() }), async ({ n }) => {
      await pause(5 - n);
      seen.set(n, correlationId());
      logger.info('record', { n });
    });
    const out = await handler(
      {
        Records: [
          record('m1', { n: 1 }, 'up-1'),
          record('m2', { n: 2 }),
          record('m3', { n: 3, id: 'ev', 'detail-type': 'X', detail: { correlationId: 'ev-7' } }),
          record('m4', { n: 4 }, 'not an id'),
        ],
      },
      lambdaContext(),
    );
    expect(out).toEqual({ batchItemFailures: [] });
    expect(Object.fromEntries(seen)).toEqual({ 1: 'up-1', 2: 'm2', 3: 'ev-7', 4: 'm4' });
    expect(Object.fromEntries(lines.map((l) => [l.n, l.correlationId]))).toEqual({
      1: 'up-1',
      2: 'm2',
      3: 'ev-7',
      4: 'm4',
    });
  });
});
