import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { resetConfig } from '#shared/config.ts';
import { sqsHandler } from '#shared/sqs.ts';
import { lambdaContext } from './support.ts';

function record(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q',
    awsRegion: 'us-east-1',
  };
}

const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** The failed message ids of a batch response (Lambda reads them as a set: order is completion order). */
const failedIds = (out: unknown) =>
  ((out as { batchItemFailures: Array<{ itemIdentifier: string }> }).batchItemFailures ?? [])
    .map((f) => f.itemIdentifier)
    .sort();

beforeAll(() => {
  vi.stubEnv('QDRANT_URL', 'http://127.0.0.1:1');
  resetConfig();
});

afterAll(() => {
  vi.unstubAllEnvs();
  resetConfig();
});

describe('sqsHandler', () => {
  const handler = sqsHandler(z.object({ n: z.int() }), async ({ n }) => {
    // Odd numbers fail; the delay interleaves concurrent batches.
    await new Promise((r) => setTimeout(r, n % 5));
    if (n % 2 === 1) throw new Error(`odd ${n}`);
  });

  it('reports exactly the failed messages, bad JSON and schema failures included', async () => {
    const out = await handler(
      event(
        record('a', '{"n":2}'),
        record('b', '{"n":3}'),
        record('c', 'not json'),
        record('d', '{"n":"x"}'),
      ),
      lambdaContext(),
    );
    expect(failedIds(out)).toEqual(['b', 'c', 'd']);
  });

  it('keeps concurrent invocations of one handler apart (the local runtime runs batches at once)', async () => {
    const batches = Array.from({ length: 6 }, (_, b) =>
      event(...Array.from({ length: 5 }, (_, i) => record(`${b}-${i}`, JSON.stringify({ n: b * 5 + i })))),
    );
    const outs = await Promise.all(batches.map((e) => handler(e, lambdaContext())));
    outs.forEach((out, b) => {
      const expected = Array.from({ length: 5 }, (_, i) => i)
        .filter((i) => (b * 5 + i) % 2 === 1)
        .map((i) => `${b}-${i}`);
      expect(failedIds(out)).toEqual(expected);
    });
  });
  it('handles a batch one record at a time when asked to (inParallel: false), concurrently by default', async () => {
    const peakConcurrency = async (inParallel?: boolean) => {
      let active = 0;
      let peak = 0;
      const handler = sqsHandler(
        z.object({ n: z.int() }),
        async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 1));
          active--;
        },
        inParallel === undefined ? {} : { inParallel },
      );
      const out = await handler(
        event(...Array.from({ length: 5 }, (_, i) => record(`m${i}`, JSON.stringify({ n: i })))),
        lambdaContext(),
      );
      expect(failedIds(out)).toEqual([]);
      return peak;
    };
    expect(await peakConcurrency(false)).toBe(1);
    expect(await peakConcurrency()).toBe(5);
  });
});
