import type { QdrantClient } from '@qdrant/js-client-rest';
import { describe, expect, it, vi } from 'vitest';
import { ConflictError, UpstreamError } from '#shared/errors.ts';
import { parseEvent } from '#shared/events/publisher.ts';
import { toPointId } from '#shared/ids.ts';
import { chunkPointsKey, type JobRecord } from '#shared/migrations/model.ts';
import { type MigrationReport, MigrationService } from '#shared/migrations/service.ts';
import { exportRecords, jsonArrayExport, jsonlExport, legacyExport } from './exports.ts';
import {
  aliasOf,
  body,
  bus,
  DIM,
  deps,
  embedder,
  grantedOnly,
  job,
  objects,
  qdrant,
  queue,
  runWorkers,
  service,
  state,
  useMigrationWorld,
} from './world.ts';

/** The job logic against the embedded Qdrant and the file state store, driven message by message. */

useMigrationWorld();

describe('a migration job', () => {
  it('plans, writes every chunk, verifies and switches the alias (legacy export, text, bad record, duplicates)', async () => {
    const spec = { vectors: 30, texts: 4, duplicates: 2, bad: 1, dimensions: DIM };
    await objects.put('exports/tasks.json', legacyExport(spec));

    const { job: planned, created } = await service().start(body('exports/tasks.json', 'tasks'));
    expect(created).toBe(true);
    expect(planned).toMatchObject({ status: 'running', format: 'legacy-tasks', vectorSize: DIM });
    expect(planned.chunks.total).toBeGreaterThan(3);
    expect(queue.sent).toHaveLength(planned.chunks.total);
    // Messages are pointers, never vectors.
    expect(Object.keys(queue.sent[0]!.body as object).sort()).toEqual([
      'chunkIndex',
      'end',
      'jobId',
      'start',
    ]);

    await runWorkers();
    const done = await job(planned.id);
    expect(done.status).toBe('completed');
    const records = 30 + 4 + 2 + 1;
    expect(done.counts).toEqual({ records, written: records - 1, rejected: 1 });
    expect(await aliasOf('tasks')).toBe(done.collection);
    expect(done.previousCollection).toBeUndefined();

    const { count } = await qdrant.count(done.collection, { exact: true });
    expect(count).toBe(34);
    // Last occurrence wins: the duplicate's stored vector is its second one.
    const { records: expected } = exportRecords(spec);
    const winner = expected.at(-1)!;
    const [stored] = await qdrant.retrieve('tasks', { ids: [toPointId(winner.id).id], with_vector: true });
    expect(stored!.vector as number[]).toHaveLength(DIM);
    const norm = Math.hypot(...winner.vector!);
    const dot = (stored!.vector as number[]).reduce((s, v, i) => s + v * (winner.vector![i]! / norm), 0);
    expect(dot).toBeGreaterThan(0.999);

    const report = objects.json<MigrationReport>(done.reportKey!);
    expect(report.status).toBe('completed');
    expect(report.counts).toMatchObject({ records, written: records - 1, rejected: 1, points: 34 });
    expect(report.rejects.listed).toHaveLength(1);
    expect(report.rejects.listed[0]!.reason).toMatch(/Vector\[1\]/);
    expect(report.duplicates).toMatchObject({ ids: 2, occurrences: 4 });
    expect(report.duplicates.listed[0]!.offsets).toHaveLength(2);
    // Named by the id the records carry (the legacy TaskId), beside the point id it maps to.
    expect(report.duplicates.listed.map((d) => d.sourceIds)).toEqual([['dep_task_0'], ['dep_task_1']]);
    expect(report.duplicates.listed[0]!.id).toBe(toPointId('dep_task_0').id);
    expect(report.verification).toMatchObject({ countsMatch: true, pointsInCollection: 34, passed: true });
    expect(report.verification.sampled).toBeGreaterThanOrEqual(1);
    expect(report.verification.minCosine).toBeGreaterThan(0.999);
    // The job itself says it was verified and switched (what a workflow polling it reads).
    expect(done.verification).toEqual({
      ...report.verification,
      mismatches: report.verification.mismatches.length,
    });
    expect(done.alias).toEqual({ name: 'tasks', collection: done.collection });

    expect(bus.types()[0]).toBe('MigrationStarted');
    expect(bus.types().filter((t) => t === 'MigrationChunkCompleted')).toHaveLength(planned.chunks.total);
    expect(bus.types().at(-1)).toBe('MigrationCompleted');
    // Every event is one of the catalogue, as a consumer reads it.
    for (const e of bus.events) {
      expect(parseEvent({ source: e.source, 'detail-type': e.detailType, detail: e.detail }).type).toBe(
        e.detailType,
      );
    }
  });

  it("touches only the adapters of each operation's function", async () => {
    await objects.put('exports/v1.jsonl', jsonlExport({ vectors: 6, texts: 2, dimensions: DIM }));
    const v1 = (await service().start(body('exports/v1.jsonl', 'grants', { chunkBytes: 4096 }))).job;
    const worker = grantedOnly(['objects', 'bus', 'state', 'qdrant', 'embedder']);
    await runWorkers(worker);
    await objects.put('exports/v1.jsonl', jsonlExport({ vectors: 7, texts: 0, dimensions: DIM }));
    const v2 = (await service().start(body('exports/v1.jsonl', 'grants', { chunkBytes: 4096 }))).job;
    await runWorkers(worker);
    expect((await job(v2.id)).status).toBe('completed');

    const reader = grantedOnly(['state']);
    expect((await reader.list(10)).map((j) => j.id)).toEqual([v2.id, v1.id]);
    expect((await reader.get(v1.id)).chunkList.length).toBe(v1.chunks.total);
    // Rollback rewrites the report: it reads and writes exports, and sends no message.
    expect(await grantedOnly(['state', 'qdrant', 'bus', 'objects']).rollback(v2.id)).toMatchObject({
      status: 'rolled-back',
    });
  });

  it('is idempotent: the same upload is the same job, and every message delivered twice counts once', async () => {
    await objects.put('exports/twice.jsonl', jsonlExport({ vectors: 20, texts: 2, dimensions: DIM }));
    const first = await service().start(body('exports/twice.jsonl', 'twice'));
    const again = await service().start(body('exports/twice.jsonl', 'twice'));
    expect(again).toMatchObject({ created: false, job: { id: first.job.id } });
    expect(queue.sent).toHaveLength(first.job.chunks.total);

    const messages = queue.drain();
    const svc = service();
    await Promise.all([...messages, ...messages].map((m) => svc.processChunk(m, 1)));
    const done = await job(first.job.id);
    expect(done.status).toBe('completed');
    expect(done.counts).toEqual({ records: 22, written: 22, rejected: 0 });
    expect(done.chunks.done).toBe(done.chunks.total);
    expect((await qdrant.count('twice', { exact: true })).count).toBe(22);
    expect(bus.types().filter((t) => t === 'MigrationCompleted')).toHaveLength(1);
  });

  it('a planner stopped before its messages went out is resumed by the repeated notification', async () => {
    await objects.put('exports/resume.jsonl', jsonlExport({ vectors: 8, texts: 0, dimensions: DIM }));
    const send = queue.send.bind(queue);
    queue.send = async () => {
      throw new UpstreamError('SQS is down', { retryable: true });
    };
    await expect(
      service().start(body('exports/resume.jsonl', 'resume', { chunkBytes: 4096 })),
    ).rejects.toThrow(UpstreamError);
    queue.send = send;
    const resumed = await service().start(body('exports/resume.jsonl', 'resume', { chunkBytes: 4096 }));
    expect(resumed.job).toMatchObject({ status: 'running', dispatched: true });
    expect(queue.sent).toHaveLength(resumed.job.chunks.total);
    await runWorkers();
    expect((await job(resumed.job.id)).status).toBe('completed');
    expect(bus.types().filter((t) => t === 'MigrationStarted')).toHaveLength(1);
  });

  it('a second migration switches the alias atomically and rollback switches it back', async () => {
    await objects.put('exports/v1.json', legacyExport({ vectors: 10, texts: 0, dimensions: DIM }));
    const v1 = (await service().start(body('exports/v1.json', 'roll'))).job;
    await runWorkers();
    await objects.put('exports/v1.json', legacyExport({ vectors: 12, texts: 0, dimensions: DIM, seed: 9 }));
    const v2 = (await service().start(body('exports/v1.json', 'roll'))).job;
    expect(v2.id).not.toBe(v1.id);
    await runWorkers();

    const second = await job(v2.id);
    expect(second).toMatchObject({
      status: 'completed',
      previousCollection: v1.collection,
      alias: { name: 'roll', collection: v2.collection, previous: v1.collection },
    });
    expect(await aliasOf('roll')).toBe(v2.collection);
    expect((await qdrant.count('roll', { exact: true })).count).toBe(12);

    await expect(service().rollback(v1.id)).rejects.toThrow(ConflictError);
    const rolled = await service().rollback(v2.id);
    expect(rolled.status).toBe('rolled-back');
    expect(objects.json<MigrationReport>(second.reportKey!)).toMatchObject({
      status: 'rolled-back',
      rolledBack: { at: expect.any(String), collection: v1.collection },
      alias: { name: 'roll', collection: v2.collection, previous: v1.collection },
    });
    expect(await aliasOf('roll')).toBe(v1.collection);
    expect((await qdrant.count('roll', { exact: true })).count).toBe(10);
  });

  it('a conclusion interrupted after the alias switch still knows, when retried, where rollback goes', async () => {
    await objects.put('exports/r.jsonl', jsonlExport({ vectors: 4, texts: 0, dimensions: DIM }));
    const v1 = (await service().start(body('exports/r.jsonl', 'retry'))).job;
    await runWorkers();
    await objects.put('exports/r.jsonl', jsonlExport({ vectors: 5, texts: 0, dimensions: DIM }));
    const v2 = (await service().start(body('exports/r.jsonl', 'retry'))).job;
    const [message] = queue.drain();
    const put = objects.put.bind(objects);
    objects.put = async (key, data) => {
      if (key.endsWith('report.json')) throw new UpstreamError('S3 is down', { retryable: true });
      return put(key, data);
    };
    await expect(service().processChunk(message!, 1)).rejects.toThrow(UpstreamError);
    expect(await aliasOf('retry')).toBe(v2.collection);
    objects.put = put;
    await service().processChunk(message!, 2); // the redelivery concludes
    expect(await job(v2.id)).toMatchObject({ status: 'completed', previousCollection: v1.collection });
    await service().rollback(v2.id);
    expect(await aliasOf('retry')).toBe(v1.collection);
  });

  it('fails without touching the alias when too many records are rejected', async () => {
    await objects.put('exports/bad.json', legacyExport({ vectors: 6, texts: 0, bad: 2, dimensions: DIM }));
    const planned = (await service().start(body('exports/bad.json', 'strict'))).job;
    await runWorkers();
    const failed = await job(planned.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/25\.00% of records were rejected/);
    expect(await aliasOf('strict')).toBeUndefined();
    expect(objects.json<MigrationReport>(failed.reportKey!).verification.passed).toBe(false);
    expect(failed.verification).toMatchObject({ passed: false, countsMatch: true, mismatches: 0 });
    expect(failed.alias).toBeUndefined();
    expect(bus.types().at(-1)).toBe('MigrationFailed');
  });

  it('lists every source id of a duplicated point, ids that map alike included ("7" and 7)', async () => {
    const vector = Array.from({ length: DIM }, (_, i) => (i % 7) / 7 + 0.1);
    const lines = [{ id: '7' }, { id: 'x' }, { id: 7 }].map((r) => JSON.stringify({ ...r, vector }));
    await objects.put('exports/seven.jsonl', `${lines.join('\n')}\n`);
    const planned = (await service().start(body('exports/seven.jsonl', 'seven'))).job;
    await runWorkers();
    const report = objects.json<MigrationReport>((await job(planned.id)).reportKey!);
    expect(report.duplicates.listed).toEqual([
      { id: toPointId(7).id, sourceIds: ['7', 7], offsets: [0, expect.any(Number)] },
    ]);
  });

  it('a failed migration deletes its own collection and leaves the live alias where it was', async () => {
    await objects.put('exports/live.json', legacyExport({ vectors: 6, texts: 0, dimensions: DIM }));
    const v1 = (await service().start(body('exports/live.json', 'live'))).job;
    await runWorkers();
    await objects.put('exports/live.json', legacyExport({ vectors: 6, texts: 0, bad: 3, dimensions: DIM }));
    const v2 = (await service().start(body('exports/live.json', 'live'))).job;
    expect((await qdrant.collectionExists(v2.collection)).exists).toBe(true);
    await runWorkers();

    const failed = await job(v2.id);
    expect(failed.status).toBe('failed');
    expect(await aliasOf('live')).toBe(v1.collection);
    expect((await qdrant.count('live', { exact: true })).count).toBe(6);
    expect((await qdrant.collectionExists(v2.collection)).exists).toBe(false);
    expect(failed.history?.at(-1)?.message).toBe(`collection ${v2.collection} deleted`);
    expect(objects.json<MigrationReport>(failed.reportKey!).cleanup).toMatchObject({
      collection: v2.collection,
      action: 'delete',
    });
  });

  it('refuses at planning a target that is a real collection, which no alias can replace', async () => {
    await qdrant.createCollection('taken', { vectors: { size: DIM, distance: 'Cosine' } });
    await objects.put('exports/taken.jsonl', jsonlExport({ vectors: 3, texts: 0, dimensions: DIM }));
    const { job: failed } = await service().start(body('exports/taken.jsonl', 'taken'));
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed.error).toMatch(/a collection is named "taken"/);
    expect(queue.sent).toHaveLength(0);
  });

  it('migrates a JSON array of records (detected format, `_id`, `embedding`, `content`, `metadata`)', async () => {
    await objects.put('exports/array.json', jsonArrayExport({ vectors: 9, texts: 2, dimensions: DIM }));
    const planned = (await service().start(body('exports/array.json', 'array', { chunkBytes: 8192 }))).job;
    expect(planned.format).toBe('json-array');
    await runWorkers();
    const done = await job(planned.id);
    expect(done).toMatchObject({ status: 'completed', counts: { records: 11, written: 11, rejected: 0 } });
    const [point] = await qdrant.retrieve('array', { ids: [toPointId('text_1').id], with_payload: true });
    expect(point!.payload).toMatchObject({
      source: 'array',
      content: expect.stringContaining('Task 1'),
      _original_id: 'text_1',
    });
  });

  it('a dry run parses, checks and reports without embedding or writing to Qdrant', async () => {
    // An over-long text is rejected by itself, before any embedding call.
    const long = `${JSON.stringify({ id: 'long', text: 'word '.repeat(6000) })}\n`;
    await objects.put(
      'exports/dry.jsonl',
      jsonlExport({ vectors: 5, texts: 1, bad: 1, dimensions: DIM }) + long,
    );
    const embed = vi.spyOn(embedder, 'embed');
    try {
      const planned = (
        await service().start(body('exports/dry.jsonl', 'dry', { dryRun: true, rejectThreshold: 0.5 }))
      ).job;
      await runWorkers();
      const done = await job(planned.id);
      expect(done.status).toBe('completed');
      expect(done.counts).toEqual({ records: 8, written: 6, rejected: 2 });
      expect(embed).not.toHaveBeenCalled();
      const report = objects.json<MigrationReport>(done.reportKey!);
      expect(report.rejects.listed.map((r) => r.reason)).toContainEqual(
        expect.stringMatching(/^text: must be at most 8192 tokens/),
      );
      const { collections } = await qdrant.getCollections();
      expect(collections.map((c) => c.name)).not.toContain(done.collection);
      expect(await aliasOf('dry')).toBeUndefined();
      expect(done.verification?.passed).toBe(true);
      expect(done.alias).toBeUndefined();
    } finally {
      embed.mockRestore();
    }
  });

  it('fails a chunk whose export was replaced after planning, instead of reading the new bytes', async () => {
    await objects.put('exports/moving.jsonl', jsonlExport({ vectors: 10, texts: 0, dimensions: DIM }));
    const planned = (await service().start(body('exports/moving.jsonl', 'moving', { chunkBytes: 4096 }))).job;
    await objects.put(
      'exports/moving.jsonl',
      jsonlExport({ vectors: 10, texts: 0, dimensions: DIM, seed: 3 }),
    );
    await runWorkers();
    const failed = await job(planned.id);
    expect(failed).toMatchObject({ status: 'failed', chunks: { done: 0, failed: planned.chunks.total } });
    expect((await service().get(planned.id)).chunkList[0]!.error).toMatch(/changed or vanished/);
    expect(await aliasOf('moving')).toBeUndefined();
  });

  it('records an unreadable export as a failed job with the reason, and its report', async () => {
    await objects.put('exports/broken.json', '{"tasks": [{"TaskId": "a", "Vector": [1, 2]}, {"TaskId":');
    const { job: failed } = await service().start(body('exports/broken.json', 'broken'));
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/malformed at byte/);
    expect(objects.json<MigrationReport>(failed.reportKey!)).toMatchObject({
      status: 'failed',
      reason: failed.error,
      key: 'exports/broken.json',
      counts: { records: 0, written: 0 },
    });
    expect(bus.types()).toEqual(['MigrationFailed']);
    await objects.put('exports/text.txt', 'hello');
    expect((await service().start(body('exports/text.txt', 'text'))).job.error).toMatch(/not recognised/);
  });

  it('retries transient Qdrant failures inside the worker, and fails a chunk for good on its last receive', async () => {
    await objects.put('exports/flaky.jsonl', jsonlExport({ vectors: 12, texts: 0, dimensions: DIM }));
    const planned = (await service().start(body('exports/flaky.jsonl', 'flaky', { chunkBytes: 4096 }))).job;
    const messages = queue.drain();

    // Two 503s, then success: the worker's own retries absorb them.
    let failures = 2;
    const flaky = new Proxy(qdrant, {
      get(target, prop, receiver) {
        if (prop === 'upsert') {
          return async (...args: Parameters<QdrantClient['upsert']>) => {
            if (failures-- > 0) throw Object.assign(new Error('unavailable'), { status: 503, data: null });
            return target.upsert(...args);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    await service({ qdrant: flaky }).processChunk(messages[0]!, 1);

    // Always down: the error is thrown (SQS redelivers); on the last receive the chunk is failed.
    const down = new Proxy(qdrant, {
      get(target, prop, receiver) {
        if (prop === 'upsert') {
          return async () => {
            throw Object.assign(new Error('unavailable'), { status: 503, data: null });
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    await expect(service({ qdrant: down }).processChunk(messages[1]!, 1)).rejects.toThrow(UpstreamError);
    expect((await job(planned.id)).chunks.failed).toBe(0);
    await expect(service({ qdrant: down }).processChunk(messages[1]!, 3)).rejects.toThrow(UpstreamError);
    await Promise.all(messages.slice(2).map((m) => service().processChunk(m, 1)));
    const failed = await job(planned.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/1 chunk\(s\) failed/);
    // Kept, and said so: the redrive below writes into it.
    expect(objects.json<MigrationReport>(failed.reportKey!).cleanup).toMatchObject({ action: 'keep' });
    expect(failed.history?.at(-1)?.message).toMatch(/kept for a redrive/);
    expect((await qdrant.collectionExists(failed.collection)).exists).toBe(true);
    expect(bus.events.find((e) => e.detailType === 'MigrationChunkFailed')?.detail).toMatchObject({
      chunkIndex: 1,
      reason: expect.stringMatching(/Qdrant failed \(HTTP 503\)/),
    });
    expect(await aliasOf('flaky')).toBeUndefined();

    // Redrive: the failed chunk is sent again and the job completes.
    const { resent } = await service().redrive(planned.id);
    expect(resent).toEqual([1]);
    await runWorkers();
    const done = await job(planned.id);
    expect(done.status).toBe('completed');
    expect(done.counts).toEqual({ records: 12, written: 12, rejected: 0 });
    expect(await aliasOf('flaky')).toBe(done.collection);
  });
  it('a delivery waiting to retry writes nothing once another delivery recorded its chunk (duplicates: the last still wins)', async () => {
    // Two occurrences of dep_task_0 in different chunks; the first chunk's slow delivery must not
    // write its superseded vector after the job finished and rewrote the winner.
    const spec = { vectors: 30, texts: 0, duplicates: 1, dimensions: DIM, seed: 4 };
    await objects.put('exports/race.jsonl', jsonlExport(spec));
    const planned = (await service().start(body('exports/race.jsonl', 'race', { chunkBytes: 4096 }))).job;
    const messages = queue.drain();
    const first = messages[0]!;
    let upserts = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    // The first chunk's first upsert fails (503); its retry waits until the others have finished.
    const slow = new Proxy(qdrant, {
      get(target, prop, receiver) {
        if (prop === 'upsert') {
          return async (...args: Parameters<QdrantClient['upsert']>) => {
            upserts++;
            if (upserts === 1) {
              await held;
              throw Object.assign(new Error('unavailable'), { status: 503, data: null });
            }
            return target.upsert(...args);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const slowDelivery = service({ qdrant: slow }).processChunk(first, 1);
    // A second delivery of the same chunk, then every other chunk: the job completes.
    for (const m of [first, ...messages.slice(1)]) await service().processChunk(m, 2);
    const done = await job(planned.id);
    expect(done.status).toBe('completed');
    release();
    expect(await slowDelivery).toBe(0);
    expect(upserts).toBe(1); // no write after the retry's backoff
    const winner = exportRecords(spec).records.findLast((r) => r.id === 'dep_task_0')!.vector!;
    const [point] = await qdrant.retrieve('race', { ids: [toPointId('dep_task_0').id], with_vector: true });
    const stored = point!.vector as number[];
    const norm = Math.hypot(...winner);
    expect(Math.max(...stored.map((x, i) => Math.abs(x - winner[i]! / norm)))).toBeLessThan(1e-5);
  });

  it('settles a chunk as failed whatever fails on its last receive (S3 here), and redrive recovers it', async () => {
    await objects.put('exports/s3down.jsonl', jsonlExport({ vectors: 12, texts: 0, dimensions: DIM }));
    const planned = (await service().start(body('exports/s3down.jsonl', 's3down', { chunkBytes: 4096 }))).job;
    const messages = queue.drain();
    const realPut = objects.put.bind(objects);
    // The points file of chunk 0 cannot be written: S3 is down for it.
    objects.put = async (key, data) => {
      if (key === chunkPointsKey(planned.id, 0)) throw new UpstreamError('S3 PutObject failed');
      return realPut(key, data);
    };
    await expect(service().processChunk(messages[0]!, 1)).rejects.toThrow(UpstreamError);
    expect((await job(planned.id)).chunks.failed).toBe(0);
    await expect(service().processChunk(messages[0]!, 3)).rejects.toThrow(UpstreamError);
    await Promise.all(messages.slice(1).map((m) => service().processChunk(m, 1)));
    const failed = await job(planned.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/1 chunk\(s\) failed after every retry \(0\)/);

    objects.put = realPut;
    // The chunk's message is dead-lettered beside another job's and a stray one: only its own goes.
    const deadLetters: unknown[] = [messages[0], { ...messages[0]!, jobId: '0123456789abcdef' }, 'stray'];
    const redriving = new MigrationService({
      ...deps(),
      deadLetters: () => ({
        remove: async (matches) => {
          const before = deadLetters.length;
          deadLetters.splice(0, before, ...deadLetters.filter((body) => !matches(body)));
          return before - deadLetters.length;
        },
      }),
    });
    expect(await redriving.redrive(planned.id)).toMatchObject({ resent: [0], deadLettersRemoved: 1 });
    expect(deadLetters).toEqual([{ ...messages[0]!, jobId: '0123456789abcdef' }, 'stray']);
    await runWorkers();
    const done = await job(planned.id);
    expect(done.status).toBe('completed');
    expect(done.counts).toEqual({ records: 12, written: 12, rejected: 0 });
    expect((await qdrant.count(done.collection, { exact: true })).count).toBe(12);
  });

  it('redrive also resends a chunk recorded but never counted into its job', async () => {
    await objects.put('exports/uncounted.jsonl', jsonlExport({ vectors: 12, texts: 0, dimensions: DIM }));
    const planned = (
      await service().start(body('exports/uncounted.jsonl', 'uncounted', { chunkBytes: 4096 }))
    ).job;
    const messages = queue.drain();
    // The worker of chunk 0 recorded it, then stopped before counting it (the job update failed).
    const realPut = state.put.bind(state);
    state.put = (async (pk: string, sk: string, value: unknown, options?: { expectedVersion?: number }) => {
      if (sk === 'job' && (value as JobRecord).chunks.done === 1) throw new UpstreamError('state store down');
      return realPut(pk, sk, value, options);
    }) as typeof state.put;
    await expect(service().processChunk(messages[0]!, 3)).rejects.toThrow(UpstreamError);
    state.put = realPut;
    await Promise.all(messages.slice(1).map((m) => service().processChunk(m, 1)));
    expect((await job(planned.id)).status).toBe('running');

    expect((await service().redrive(planned.id)).resent).toEqual([0]);
    await runWorkers();
    const done = await job(planned.id);
    expect(done.status).toBe('completed');
    expect(done.counts).toEqual({ records: 12, written: 12, rejected: 0 });
  });
});
