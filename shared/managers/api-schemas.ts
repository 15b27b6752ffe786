import { z } from 'zod';

/**
 * What the managers' HTTP handlers parse beyond their paths, declared once for the handlers
 * (`functions/managers/api`, `functions/managers/configuration`) and the OpenAPI document.
 */

export const HistoryQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const VersionsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(20),
});

export const ConfigBodySchema = z.strictObject({
  config: z.record(z.string(), z.unknown()).meta({
    description:
      "The whole configuration, validated by the manager's schema (its JSON Schema is `config` in `GET /managers/{id}`); a field left out takes its default",
  }),
  expectedVersion: z
    .int()
    .nonnegative()
    .optional()
    .meta({ description: 'Refuse (409) unless the stored version is still this one' }),
});
