import { z } from 'zod';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import { EVENT_TYPES, EVENTS } from './catalogue.ts';

/** The file the catalogue is written to (`npm run events:docs`); a test fails when it is stale. */
export const EVENTS_DOC_FILE = 'docs/events.md';

/** `docs/events.md`: every event of the catalogue, with the JSON Schema of its detail. */
export function eventsMarkdown(): string {
  const lines = [
    '# Events',
    '',
    '<!-- Generated from shared/events/catalogue.ts by `npm run events:docs`; do not edit. -->',
    '',
    `Every event the platform publishes on its bus, with source \`${EVENT_SOURCE}\`. The detail-type`,
    'says what happened, in PascalCase and the past tense; each detail carries `schemaVersion`.',
    'Events are published only through `EventPublisher` (`shared/events/publisher.ts`), which checks',
    'the detail against its schema first; a consumer reads them with `parseEvent`.',
    '',
    '| detail-type | what happened |',
    '|---|---|',
    ...EVENT_TYPES.map((type) => `| \`${type}\` | ${EVENTS[type].description} |`),
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
