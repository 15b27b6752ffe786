import { z } from 'zod';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { EVENT_TYPES, EVENTS, LEGACY_NAMES } from './catalogue.ts';

/** The file the catalogue is written to (`npm run events:docs`); a test fails when it is stale. */
export const EVENTS_DOC_FILE = 'docs/events.md';

/** `docs/events.md`: every event of the catalogue, with the JSON Schema of its detail. */
export function eventsMarkdown(): string {
  const lines = [
    '# Events',
    '',
    '<!-- Generated from shared/events/catalogue.ts by `npm run events:docs`; do not edit. -->',
    '',
    `Every event the platform publishes on its bus, with source \`${EVENT_SOURCE}\`. Events are`,
    'published only through `EventPublisher` (`shared/events/publisher.ts`), which checks the detail',
    'against its schema first; a consumer reads them with `parseEvent`.',
    '',
    '| detail-type | what happened |',
    '|---|---|',
    ...EVENT_TYPES.map((type) => `| \`${type}\` | ${EVENTS[type].description} |`),
    '',
    '## Naming',
    '',
    '- The detail-type says what happened, in PascalCase and the past tense (`MigrationStarted`,',
    '  `ConfigChanged`); the source is the service.',
    '- Each detail carries `schemaVersion` (EventBridge\'s own `version` is always `"0"` and cannot be',
    '  set). A change that removes or retypes a field makes a new version; adding an optional field',
    '  does not: publishers are strict (a field the schema does not name is refused where the event',
    '  is made) and consumers tolerant (`parseEvent` checks the fields it knows and keeps the others).',
    '- Each detail published while a request or message is handled carries its `correlationId` (the',
    "  request's `x-correlation-id`, see `docs/api.md`), added by the publisher: one id follows an",
    '  upload or a request through every function, event and queue message it leads to.',
    '',
    '## Legacy names',
    '',
    "The legacy system's dotted event names, and the types that carry their meaning here (`LEGACY_NAMES`):",
    '',
    '| legacy name | detail-type |',
    '|---|---|',
    ...Object.entries(LEGACY_NAMES).map(([legacy, type]) => `| \`${legacy}\` | \`${type}\` |`),
  ];
  for (const type of EVENT_TYPES) {
    lines.push(
      '',
      `## ${type}`,
      '',
      EVENTS[type].description,
      '',
      '```json',
      JSON.stringify(z.toJSONSchema(EVENTS[type].detail), null, 2),
      '```',
    );
  }
  return `${lines.join('\n')}\n`;
}
