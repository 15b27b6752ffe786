import type { Context, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { manifest } from '#infra/manifest.ts';
import { createDeadLetterReaders } from '#shared/adapters/index.ts';
import { getConfig } from '#shared/config.ts';
import { errorCatalogue } from '#shared/error-catalogue/clients.ts';
import { failureOfDeadLetter, failureOfEvent } from '#shared/error-catalogue/sources.ts';
import type { EventType } from '#shared/events/catalogue.ts';
import { eventHandler } from '#shared/events/handler.ts';
import { DeliveredEventSchema } from '#shared/events/log.ts';
import { logger } from '#shared/powertools.ts';
import { sqsHandler } from '#shared/sqs.ts';

/** The manager that publishes a type: the origin of a failure whose detail names none. */
function ownerOf(type: EventType): string | undefined {
  return Object.entries(manifest.managers).find(([, m]) =>
    (m.emits as readonly string[]).includes(type),
  )?.[0];
}

/** Failure events, from the catalogue's queue (they wait there while the manager is stopped). */
const fromQueue = sqsHandler(DeliveredEventSchema, async (event, _record, config) => {
  await errorCatalogue(config).record(failureOfEvent(event, ownerOf));
});

/** Scheduled: every declared queue's dead letters, peeked (never deleted), each catalogued once. */
const fromDeadLetters = eventHandler(z.looseObject({}), async () => {
  const config = await getConfig();
  const catalogue = errorCatalogue(config);
  // The queues at once: each peek long-polls its queue for a second before it knows it is empty.
  const peeked = await Promise.all(
    [...createDeadLetterReaders(config)].map(async ([queue, reader]) =>
      (await reader.peek()).map((letter) => ({ queue, ...letter })),
    ),
  );
  const outcomes: Record<string, number> = {};
  for (const letter of peeked.flat()) {
    // One letter that cannot be catalogued now (Qdrant down) does not hold back the others: it
    // stays in its queue unmarked, and the next sweep tries it again.
    const outcome = await catalogue.record(failureOfDeadLetter(letter, new Date())).catch((error: Error) => {
      logger.warn('dead letter not catalogued', { queue: letter.queue, messageId: letter.messageId, error });
      return 'failed' as const;
    });
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  return outcomes;
});

/** One function for both intakes: its queue's batches and its schedule's runs. */
export const handler = (event: unknown, context: Context) =>
  typeof event === 'object' && event !== null && 'Records' in event
    ? fromQueue(event as SQSEvent, context)
    : fromDeadLetters(event, context);
