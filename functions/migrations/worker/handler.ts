import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { migrationService } from '#shared/migrations/clients.ts';
import { ChunkMessageSchema } from '#shared/migrations/model.ts';
import { metrics } from '#shared/powertools.ts';
import { sqsHandler } from '#shared/sqs.ts';

/**
 * The migrations queue's consumer: one chunk per message, failures reported per message. A batch's
 * chunks are processed one after the other, so that a worker holds one chunk at a time (its memory
 * stays that of one chunk whatever the batch size); the queue's concurrency gives the parallelism.
 * The records each chunk wrote are counted (`MigrationRecordsWritten`: the dashboard's records/s).
 */
export const handler = sqsHandler(
  ChunkMessageSchema,
  async (message, record, config) => {
    const written = await migrationService(config).processChunk(
      message,
      Number(record.attributes.ApproximateReceiveCount) || 1,
    );
    metrics.addMetric('MigrationRecordsWritten', MetricUnit.Count, written);
  },
  { inParallel: false },
);
