import { migrationService } from '#shared/migrations/clients.ts';
import { ChunkMessageSchema } from '#shared/migrations/model.ts';
import { sqsHandler } from '#shared/sqs.ts';

/** The migrations queue's consumer: one chunk per message, failures reported per message. */
export const handler = sqsHandler(ChunkMessageSchema, async (message, record, config) =>
  migrationService(config).processChunk(message, Number(record.attributes.ApproximateReceiveCount) || 1),
);
