import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/errors.ts';
import { EVENT_TYPES, LEGACY_NAMES } from '#shared/events/catalogue.ts';
import { EVENTS_DOC_FILE, eventsMarkdown } from '#shared/events/docs.ts';
import { EventPublisher, parseEvent } from '#shared/events/publisher.ts';
import type { EventBus, PlatformEvent } from '#shared/ports.ts';

class RecordingBus implements EventBus {
  readonly events: PlatformEvent[] = [];
  async publish(events: PlatformEvent[]): Promise<void> {
    this.events.push(...events);
  }
  async ping(): Promise<void> {}
}

const rolledBack = { jobId: 'j1', target: 'tasks', collection: 'tasks__old' };

describe('the typed publisher', () => {
  it('publishes a catalogue event with its schema version, from the given source', async () => {
    const bus = new RecordingBus();
    await new EventPublisher(bus, 'svc').publish('MigrationRolledBack', rolledBack);
    expect(bus.events).toEqual([
      { source: 'svc', detailType: 'MigrationRolledBack', detail: { ...rolledBack, schemaVersion: 1 } },
    ]);
  });

  it('refuses a detail its schema does not accept, naming the field, and sends nothing', async () => {
    const bus = new RecordingBus();
    const publisher = new EventPublisher(bus, 'svc');
    await expect(publisher.publish('MigrationRolledBack', { ...rolledBack, jobId: '' })).rejects.toThrow(
      /MigrationRolledBack does not match its schema: detail\.jobId/,
    );
    await expect(
      publisher.publish('MigrationRolledBack', { ...rolledBack, extra: 1 } as never),
    ).rejects.toThrow(/does not match its schema: detail: Unrecognized key: "extra"/);
    expect(bus.events).toEqual([]);
  });
});

describe('parseEvent (what a consumer reads)', () => {
  it('returns the type and the parsed detail of a catalogue event', () => {
    const parsed = parseEvent({
      source: 'svc',
      'detail-type': 'MigrationRolledBack',
      detail: { ...rolledBack, schemaVersion: 1 },
    });
    expect(parsed).toEqual({ type: 'MigrationRolledBack', detail: { ...rolledBack, schemaVersion: 1 } });
  });

  it('keeps a field it does not know (a newer optional addition) and checks the ones it knows', () => {
    const detail = { ...rolledBack, schemaVersion: 1, reason: 'added later' };
    expect(parseEvent({ source: 's', 'detail-type': 'MigrationRolledBack', detail }).detail).toEqual(detail);
    expect(() =>
      parseEvent({
        source: 's',
        'detail-type': 'MigrationRolledBack',
        detail: { ...detail, jobId: 7 },
      }),
    ).toThrow(/^detail\.jobId: /);
  });

  it('refuses an unknown type or a detail of another version, naming the field', () => {
    expect(() => parseEvent({ source: 's', 'detail-type': 'Nope', detail: {} })).toThrow(
      '"Nope" is not in the event catalogue',
    );
    expect(() =>
      parseEvent({
        source: 's',
        'detail-type': 'MigrationRolledBack',
        detail: { ...rolledBack, schemaVersion: 2 },
      }),
    ).toThrow(/^detail\.schemaVersion: /);
  });

  it('never fails but with a ValidationError on untrusted input (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...EVENT_TYPES, 'Other', ''), fc.anything(), (type, detail) => {
        try {
          parseEvent({ source: 's', 'detail-type': type, detail });
        } catch (err) {
          expect(err).toBeInstanceOf(ValidationError);
        }
      }),
    );
  });
});

describe('the catalogue document', () => {
  it(`${EVENTS_DOC_FILE} lists every event and is up to date (npm run events:docs)`, () => {
    const committed = readFileSync(new URL(`../../../${EVENTS_DOC_FILE}`, import.meta.url), 'utf8');
    expect(committed === eventsMarkdown(), `${EVENTS_DOC_FILE} is stale: run npm run events:docs`).toBe(true);
    for (const type of EVENT_TYPES) expect(committed).toContain(`## ${type}\n`);
    for (const [legacy, type] of Object.entries(LEGACY_NAMES)) {
      expect(committed).toContain(`| \`${legacy}\` | \`${type}\` |`);
    }
  });
});
