import { writeFile } from 'node:fs/promises';
import { EVENTS_DOC_FILE, eventsMarkdown } from '#shared/events/docs.ts';

/** `npm run events:docs`: writes docs/events.md from the event catalogue. */
await writeFile(new URL(`../${EVENTS_DOC_FILE}`, import.meta.url), eventsMarkdown());
console.log(`wrote ${EVENTS_DOC_FILE}`);
