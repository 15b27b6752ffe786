import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BackupConfigSchema,
  BackupMessageSchema,
  type BackupRecord,
  RestoreInputSchema,
  runIdAt,
} from '#shared/backups/model.ts';
import { expiredBackups } from '#shared/backups/retention.ts';
import { gunzipped, gzipped } from '#shared/backups/streams.ts';
import { normalizeRecord, toPoint } from '#shared/exports/records.ts';
import { toPointId } from '#shared/ids.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-12-07T00:00:00Z');

function backup(daysAgo: number, status: BackupRecord['status'] = 'completed'): BackupRecord {
  const at = new Date(NOW.getTime() - daysAgo * DAY).toISOString();
  return {
    id: runIdAt(new Date(at)),
    status,
    trigger: 'schedule',
    by: 'schedule',
    requested: [],
    createdAt: at,
    updatedAt: at,
  };
}

describe('retention', () => {
  it('keeps the newest keepLast completed backups and deletes the rest', () => {
    const records = [0, 1, 2, 3, 4].map((d) => backup(d));
    const expired = expiredBackups(records, { keepLast: 3, maxAgeDays: 0 }, NOW);
    expect(expired.map((r) => r.createdAt)).toEqual([records[3]!.createdAt, records[4]!.createdAt]);
  });

  it('deletes backups older than maxAgeDays but never the newest completed one', () => {
    const records = [40, 50].map((d) => backup(d));
    const expired = expiredBackups(records, { keepLast: 10, maxAgeDays: 30 }, NOW);
    expect(expired).toEqual([records[1]]);
  });

  it('never touches a pending or running backup, and drops failed ones older than the oldest kept', () => {
    const records = [backup(0, 'running'), backup(1), backup(2, 'failed'), backup(3), backup(4, 'failed')];
    const expired = expiredBackups(records, { keepLast: 1, maxAgeDays: 0 }, NOW);
    expect(expired).toEqual([records[3], records[2], records[4]]);
  });

  it('holds its rules for any set of backups (property)', () => {
    const status = fc.constantFrom<BackupRecord['status']>('pending', 'running', 'completed', 'failed');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), status), { maxLength: 30 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 100 }),
        (specs, keepLast, maxAgeDays) => {
          const records = specs.map(([d, s]) => backup(d, s));
          const expired = new Set(expiredBackups(records, { keepLast, maxAgeDays }, NOW));
          const completed = records
            .filter((r) => r.status === 'completed')
            .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
          const kept = completed.filter((r) => !expired.has(r));
          if (completed.length > 0) expect(kept).toContain(completed[0]);
          expect(kept.length).toBeLessThanOrEqual(Math.max(keepLast, 1));
          for (const r of expired) expect(['completed', 'failed']).toContain(r.status);
        },
      ),
    );
  });
});

describe('the streams', () => {
  it('gzip what they are given and digest what is stored; gunzip checks the same digest', async () => {
    const lines = Array.from({ length: 5_000 }, (_, i) => `{"id":${i}}\n`);
    const { body, done } = gzipped(
      (async function* () {
        for (let i = 0; i < lines.length; i += 100) yield Buffer.from(lines.slice(i, i + 100).join(''));
      })(),
    );
    const stored = Buffer.concat(await body.toArray());
    const digest = await done;
    expect(digest.bytes).toBe(stored.length);
    expect(gunzipSync(stored).toString()).toBe(lines.join(''));

    const back = gunzipped(Readable.from([stored.subarray(0, 100), stored.subarray(100)]));
    expect(Buffer.concat(await back.body.toArray()).toString()).toBe(lines.join(''));
    expect(await back.done).toEqual(digest);
  });

  it('fail on a corrupt gzip stream rather than return part of it', async () => {
    const stored = gzipSync(Buffer.from('{"id":1}\n'.repeat(1000)));
    stored[stored.length - 6]! ^= 0xff; // the CRC
    const back = gunzipped(Readable.from([stored]));
    await expect(back.body.toArray()).rejects.toThrow();
    await expect(back.done).rejects.toThrow();
  });
});

describe('a backup record comes back as the same point through the migration parser', () => {
  it('for integer, UUID and mapped legacy ids (property)', () => {
    const id = fc.oneof(
      fc.nat(),
      fc.uuid().map((u) => u.toLowerCase()),
      fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== ''),
    );
    const payload = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !['_original_id', '__proto__'].includes(k)),
      fc.jsonValue({ maxDepth: 3 }),
      { maxKeys: 5 },
    );
    fc.assert(
      fc.property(
        id,
        payload,
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 8 }),
        (raw, fields, vector) => {
          // A stored point: its Qdrant id, and the caller's id in the payload when it was mapped.
          const mapped = toPointId(raw);
          const stored = {
            ...fields,
            ...(mapped.original === undefined ? {} : { _original_id: mapped.original }),
          };
          const line = JSON.stringify({ id: mapped.id, vector, payload: stored });
          const record = normalizeRecord(JSON.parse(line), 0);
          expect('reason' in record ? record.reason : undefined).toBeUndefined();
          const point = toPoint(record as Exclude<typeof record, { reason: string }>);
          expect(point.id).toBe(mapped.id);
          expect(point.payload).toEqual(JSON.parse(JSON.stringify(stored)));
          expect(point.vector).toEqual(JSON.parse(JSON.stringify(vector)));
        },
      ),
    );
  });
});

describe('inputs', () => {
  it('names the field a restore is refused on', () => {
    const bad = RestoreInputSchema.safeParse({ backupId: 'x', collection: 'a b', target: 'a__b' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual([
      'backupId',
      'collection',
      'target',
    ]);
  });

  it('takes an empty configuration as every default', () => {
    expect(BackupConfigSchema.parse({})).toEqual({
      collections: [],
      keepLast: 7,
      maxAgeDays: 0,
      everyHours: 24,
      scheduleEnabled: true,
    });
    expect(BackupConfigSchema.safeParse({ keepLast: 0 }).success).toBe(false);
  });

  it('accepts only the queue messages it sends (property: anything else is refused)', () => {
    expect(BackupMessageSchema.safeParse({ kind: 'backup', backupId: runIdAt(NOW) }).success).toBe(true);
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const parsed = BackupMessageSchema.safeParse(value);
        if (parsed.success) expect(['backup', 'restore']).toContain(parsed.data.kind);
      }),
    );
  });
});
