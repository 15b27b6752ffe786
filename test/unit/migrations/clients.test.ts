import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config.ts';
import { NotFoundError } from '#shared/errors.ts';
import { migrationService } from '#shared/migrations/clients.ts';

/**
 * The service of a function granted only the state store (as `listMigrations` and `getMigration`
 * are): no exports bucket, queue, bus or Qdrant in its environment.
 */

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vp-migration-clients-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('migrationService', () => {
  it('builds an adapter only when an operation uses it', async () => {
    const config = await loadConfig({ STATE_DIR: dir });
    expect(config.qdrant).toBeUndefined();
    expect(config.exportsBucket).toBeUndefined();

    const service = migrationService(config);
    expect(await service.list(10)).toEqual([]);
    await expect(service.get('0123456789abcdef')).rejects.toThrow(NotFoundError);
    // A worker's message for a job it cannot find: read from the state store alone.
    await expect(
      service.processChunk({ jobId: '0123456789abcdef', chunkIndex: 0, start: 0, end: 10 }, 1),
    ).rejects.toThrow(NotFoundError);
  });

  it('names the missing variable when an operation needs an adapter the function was not granted', async () => {
    const service = migrationService(await loadConfig({ STATE_DIR: dir }));
    await expect(
      service.start({
        key: 'exports/a.json',
        collection: 'a',
        dryRun: false,
        rejectThreshold: 0.05,
        chunkBytes: 4096,
      }),
    ).rejects.toThrow(/EXPORTS_BUCKET is not set/);
  });
});
