import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { handler as worker } from '#functions/migrations/worker/handler.ts';

/**
 * The migration worker behind two faults, for the local runtime's fault test: every batch is
 * handled twice at once (each message delivered twice), and on their first receive the chunks of
 * odd index fail without being processed (SQS must deliver them again).
 */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const failOnce = event.Records.filter((r) => {
    const { chunkIndex } = JSON.parse(r.body) as { chunkIndex: number };
    return r.attributes.ApproximateReceiveCount === '1' && chunkIndex % 2 === 1;
  });
  const rest: SQSEvent = { Records: event.Records.filter((r) => !failOnce.includes(r)) };
  const failures = failOnce.map((r) => ({ itemIdentifier: r.messageId }));
  if (rest.Records.length > 0) {
    const [a, b] = await Promise.all([worker(rest, context), worker(rest, context)]);
    const failed = new Set([...a.batchItemFailures, ...b.batchItemFailures].map((f) => f.itemIdentifier));
    failures.push(...[...failed].map((itemIdentifier) => ({ itemIdentifier })));
  }
  return { batchItemFailures: failures };
};
