import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { ErrorsConfigSchema, type Failure } from '#shared/error-catalogue/model.ts';
import { ErrorCatalogue } from '#shared/error-catalogue/service.ts';
import { NotFoundError, ValidationError } from '#shared/errors.ts';
import type { EventPublisher } from '#shared/events/publisher.ts';
import type { TextCollection } from '#shared/vectors/text-collection.ts';

/**
 * The catalogue's logic on the file state store: grouping by fingerprint, counting once per
 * failure read, the ring of samples, resolve and reopen, the events, the list's filters and pages.
 */

let dir: string;
let published: Array<{ type: string; detail: Record<string, unknown> }>;
let embedded: string[];
let catalogue: ErrorCatalogue;

const failure = (over: Partial<Failure> = {}): Failure => ({
  message: 'export "exports/a.json" could not be parsed at position 12',
  code: 'MigrationFailed',
  origin: 'migration',
  source: 'event',
  ref: `event:${Math.random()}`,
  at: '2026-12-07T03:00:00.000Z',
  ...over,
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vp-errors-'));
  published = [];
  embedded = [];
  const state = new FileStateStore({ dir });
  catalogue = new ErrorCatalogue({
    state: () => state,
    publisher: () =>
      ({
        publish: async (type: string, detail: Record<string, unknown>) => {
          published.push({ type, detail });
        },
      }) as unknown as EventPublisher,
    options: async () => ErrorsConfigSchema.parse({ samplesKept: 3 }),
    texts: () =>
      ({
        put: async (items: Array<{ id: string }>) => {
          embedded.push(...items.map((i) => i.id));
        },
        neighbours: async (ids: string[]) => new Map(ids.map((id) => [id, []])),
      }) as unknown as TextCollection,
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ErrorCatalogue', () => {
  it('groups failures of one shape, counts each once, keeps the newest samples', async () => {
    expect(await catalogue.record(failure({ ref: 'event:1', correlationId: 'c-1' }))).toBe('catalogued');
    expect(await catalogue.record(failure({ ref: 'event:1', correlationId: 'c-1' }))).toBe('duplicate');
    for (let i = 2; i <= 5; i++) {
      const at = `2026-12-07T03:0${i}:00.000Z`;
      const message = `export "exports/${i}.json" could not be parsed at position ${i * 7}`;
      expect(await catalogue.record(failure({ ref: `event:${i}`, at, message }))).toBe('counted');
    }
    const { errors } = await catalogue.list({ limit: 50 });
    expect(errors).toHaveLength(1);
    const [entry] = errors;
    expect(entry).toMatchObject({
      message: 'export <str> could not be parsed at position <num>',
      code: 'MigrationFailed',
      origin: 'migration',
      status: 'open',
      count: 5,
      firstSeen: '2026-12-07T03:00:00.000Z',
      lastSeen: '2026-12-07T03:05:00.000Z',
    });
    expect(entry!.samples.map((s) => s.ref)).toEqual(['event:5', 'event:4', 'event:3']);
    // Embedded and announced once, when new.
    expect(embedded).toEqual([entry!.fingerprint]);
    expect(published).toEqual([
      {
        type: 'ErrorCatalogued',
        detail: {
          fingerprint: entry!.fingerprint,
          message: entry!.message,
          code: 'MigrationFailed',
          origin: 'migration',
        },
      },
    ]);
  });

  it('another code or origin is another entry', async () => {
    await catalogue.record(failure());
    await catalogue.record(failure({ code: 'BackupFailed' }));
    await catalogue.record(failure({ origin: 'backup' }));
    expect((await catalogue.list({ limit: 50 })).errors).toHaveLength(3);
  });

  it('resolves, and a recurrence reopens with ErrorReopened', async () => {
    await catalogue.record(failure({ ref: 'event:a' }));
    const { fingerprint } = (await catalogue.list({ limit: 50 })).errors[0]!;
    const resolved = await catalogue.resolve(fingerprint, 'alice');
    expect(resolved).toMatchObject({ status: 'resolved', resolvedBy: 'alice' });
    expect((await catalogue.list({ status: 'resolved', limit: 50 })).errors).toHaveLength(1);
    expect((await catalogue.list({ status: 'open', limit: 50 })).errors).toHaveLength(0);
    expect(await catalogue.record(failure({ ref: 'event:b' }))).toBe('reopened');
    expect(await catalogue.get(fingerprint)).toMatchObject({ status: 'open', count: 2, reopened: 1 });
    expect(published.at(-1)).toEqual({
      type: 'ErrorReopened',
      detail: expect.objectContaining({ fingerprint, count: 2, resolvedAt: resolved.resolvedAt }),
    });
  });

  it('counts concurrent occurrences of one fingerprint without losing one', async () => {
    await Promise.all(Array.from({ length: 12 }, (_, i) => catalogue.record(failure({ ref: `event:${i}` }))));
    expect((await catalogue.list({ limit: 50 })).errors[0]!.count).toBe(12);
  });

  it('filters by origin, code and time, and pages newest first', async () => {
    for (let i = 0; i < 5; i++) {
      await catalogue.record(failure({ code: `C${i}`, at: `2026-12-0${i + 1}T00:00:00.000Z` }));
    }
    expect((await catalogue.list({ code: 'C2', limit: 50 })).errors.map((e) => e.code)).toEqual(['C2']);
    expect((await catalogue.list({ origin: 'nope', limit: 50 })).errors).toEqual([]);
    const recent = await catalogue.list({ since: '2026-12-04T00:00:00Z', limit: 50 });
    expect(recent.errors.map((e) => e.code)).toEqual(['C4', 'C3']);
    const first = await catalogue.list({ limit: 2 });
    expect(first.errors.map((e) => e.code)).toEqual(['C4', 'C3']);
    const second = await catalogue.list({ limit: 2, cursor: first.next! });
    expect(second.errors.map((e) => e.code)).toEqual(['C2', 'C1']);
    const last = await catalogue.list({ limit: 2, cursor: second.next! });
    expect(last).toEqual({ errors: [expect.objectContaining({ code: 'C0' })] });
    await expect(catalogue.list({ limit: 2, cursor: 'bm9wZQ' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('answers an unknown fingerprint with 404, naming it', async () => {
    for (const call of [
      () => catalogue.get('0123456789abcdef'),
      () => catalogue.similar('0123456789abcdef'),
      () => catalogue.resolve('0123456789abcdef', 'bob'),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(NotFoundError);
    }
  });
});
