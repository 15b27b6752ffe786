import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QdrantClient } from '@qdrant/js-client-rest';
import { startLocalRuntime } from '../local/runtime.ts';
import type { BackupRecord } from '../shared/backups/model.ts';
import type { RestoreView } from '../shared/backups/service.ts';

/**
 * Backup and restore throughput on the local runtime (issue 12): a collection of `points` × 384
 * (payloads of a few fields) backed up through the backup action (the worker's scroll → gzip →
 * multipart upload, then retention), and restored into a fresh alias (gunzip with its checksum,
 * then the migration: plan, workers, verify, switch). Compared in the same run with a bare scroll
 * of the same collection (pages of 1000 with vectors and payloads, nothing else): the floor a
 * backup cannot beat. Each measured `rounds` times, medians reported, rounds alternated.
 *
 * `npx node bench/backup.ts [points] [rounds]` prints the JSON result.
 */

const DIM = 384;
const NAME = 'bench_backup';
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (n: number) => Math.round(n);

export async function benchBackup(points = 100_000, rounds = 3): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-backup-'));
  const runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false });
  const qdrant = new QdrantClient({ url: runtime.qdrantUrl, checkCompatibility: false, timeout: 600_000 });
  try {
    const token = await runtime.issueToken({ groups: ['admin'] });
    const action = async (name: string, input: unknown) => {
      const res = await fetch(`${runtime.apiUrl}/api/v1/managers/backup/actions/${name}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(input),
      });
      const body = (await res.json()) as { result: Record<string, unknown> };
      if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${JSON.stringify(body)}`);
      return body.result;
    };
    const poll = async <T>(id: string, ended: (r: Record<string, unknown>) => T | undefined): Promise<T> => {
      for (;;) {
        const found = ended(await action('get', { id }));
        if (found !== undefined) return found;
        await new Promise((r) => setTimeout(r, 250));
      }
    };

    await qdrant.createCollection(NAME, { vectors: { size: DIM, distance: 'Cosine' } });
    const t0 = performance.now();
    for (let i = 0; i < points; i += 1000) {
      await qdrant.upsert(NAME, {
        wait: true,
        points: Array.from({ length: Math.min(1000, points - i) }, (_, k) => {
          const n = i + k;
          return {
            id: n,
            vector: Array.from({ length: DIM }, (_, d) => Math.sin(n * 0.731 + d * 1.37)),
            payload: { n, title: `task ${n}`, phase: n % 7, done: n % 2 === 0 },
          };
        }),
      });
    }
    const loadMs = performance.now() - t0;

    const scroll = async () => {
      const started = performance.now();
      let seen = 0;
      let offset: string | number | undefined;
      do {
        const page = await qdrant.scroll(NAME, {
          limit: 1000,
          with_payload: true,
          with_vector: true,
          ...(offset === undefined ? {} : { offset }),
        });
        seen += page.points.length;
        const next = page.next_page_offset;
        offset = typeof next === 'string' || typeof next === 'number' ? next : undefined;
      } while (offset !== undefined);
      if (seen !== points) throw new Error(`scrolled ${seen} points, expected ${points}`);
      return performance.now() - started;
    };
    const backup = async () => {
      const started = performance.now();
      const { backup: asked } = (await action('backup', { collections: [NAME] })) as { backup: BackupRecord };
      const done = await poll(asked.id, (r) => {
        const b = r.backup as BackupRecord;
        return b.status === 'completed' || b.status === 'failed' ? b : undefined;
      });
      if (done.status !== 'completed') throw new Error(`backup failed: ${done.error}`);
      return { ms: performance.now() - started, record: done };
    };
    const restore = async (backupId: string, target: string) => {
      const started = performance.now();
      const { restore: asked } = (await action('restore', { backupId, collection: NAME, target })) as {
        restore: { id: string };
      };
      const done = await poll(asked.id, (r) => {
        const v = r.restore as RestoreView;
        const ended =
          v.status === 'failed' || v.migration?.status === 'completed' || v.migration?.status === 'failed';
        return ended ? v : undefined;
      });
      if (!done.restored) throw new Error(`restore did not bring every point back: ${JSON.stringify(done)}`);
      return performance.now() - started;
    };

    const times = { scroll: [] as number[], backup: [] as number[], restore: [] as number[] };
    let last: BackupRecord | undefined;
    await scroll(); // warm
    for (let r = 0; r < rounds; r++) {
      times.scroll.push(await scroll());
      const b = await backup();
      times.backup.push(b.ms);
      last = b.record;
      times.restore.push(await restore(b.record.id, `bench_restored_${r}`));
    }
    const perSecond = (ms: number) => round((points / ms) * 1000);
    const scrollMs = median(times.scroll);
    const backupMs = median(times.backup);
    const restoreMs = median(times.restore);
    const entry = last?.collections?.[0];
    return {
      points,
      dimensions: DIM,
      rounds,
      loadSeconds: Math.round(loadMs / 100) / 10,
      bareScroll: { medianMs: round(scrollMs), pointsPerSecond: perSecond(scrollMs) },
      backup: {
        medianMs: round(backupMs),
        pointsPerSecond: perSecond(backupMs),
        vsBareScroll: Math.round((backupMs / scrollMs) * 100) / 100,
        storedMB: entry ? Math.round(entry.bytes / 1e5) / 10 : undefined,
        workerPointsPerSecond: last?.pointsPerSecond,
      },
      restore: {
        medianMs: round(restoreMs),
        pointsPerSecond: perSecond(restoreMs),
        vsBareScroll: Math.round((restoreMs / scrollMs) * 100) / 100,
      },
      raw: times,
    };
  } finally {
    await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [points, rounds] = process.argv.slice(2).map(Number);
  process.stdout.write(
    `${JSON.stringify(await benchBackup(points || undefined, rounds || undefined), null, 2)}\n`,
  );
}
