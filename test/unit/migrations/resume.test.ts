import { describe, expect, it } from 'vitest';
import { UpstreamError } from '#shared/errors.ts';
import { ACTIVE_PK, type ChunkMessage, chunkPointsKey } from '#shared/migrations/model.ts';
import { DEFAULT_STALLED_AFTER_MS } from '#shared/migrations/settings.ts';
import { jsonlExport } from './exports.ts';
import {
  body,
  bus,
  DIM,
  job,
  objects,
  queue,
  runWorkers,
  service,
  state,
  useMigrationWorld,
} from './world.ts';

/**
 * Stalled jobs (messages lost with a killed local runtime, a planner dead before sending them)
 * found by the sweeper and resumed. Time is moved by the sweep's `now`, never waited for.
 */

useMigrationWorld();

const minutes = (n: number) => new Date(Date.now() + n * 60_000);
/** A sweep at `at`, by a service whose clock says `at` too (its notes are written then). */
const sweepAt = (at: Date) =>
  service({ now: () => at }).resumeStalled({ now: at, stalledAfterMs: DEFAULT_STALLED_AFTER_MS });
/** The jobs a sweep at `at` resumed. */
const sweep = async (at: Date) => (await sweepAt(at)).resumed;
const indexes = (messages: ChunkMessage[]) => messages.map((m) => m.chunkIndex).sort((a, b) => a - b);

/** The points file of `chunk` cannot be written while this runs (S3 down for it). */
async function withPointsFileFailing<T>(jobId: string, chunk: number, run: () => Promise<T>): Promise<T> {
  const put = objects.put.bind(objects);
  objects.put = async (key, data) => {
    if (key === chunkPointsKey(jobId, chunk)) throw new UpstreamError('S3 PutObject failed');
    return put(key, data);
  };
  try {
    return await run();
  } finally {
    objects.put = put;
  }
}

describe('stalled migrations', () => {
  it('re-sends only the chunks of a job not accounted for once it is stalled, and the job completes', async () => {
    await objects.put('exports/lost.jsonl', jsonlExport({ vectors: 16, texts: 0, dimensions: DIM }));
    const planned = (await service().start(body('exports/lost.jsonl', 'lost', { chunkBytes: 4096 }))).job;
    const total = planned.chunks.total;
    expect(total).toBeGreaterThan(3);
    const [first, second] = queue.drain(); // the rest are lost, as with a killed runtime
    // It answers what it wrote, and a second delivery of a recorded chunk writes nothing.
    expect(await service().processChunk(first!, 1)).toBeGreaterThan(0);
    expect(await service().processChunk(first!, 1)).toBe(0);
    // Failed for good on its last receive: accounted for, it waits for a redrive.
    await withPointsFileFailing(planned.id, second!.chunkIndex, () =>
      expect(service().processChunk(second!, 3)).rejects.toThrow(UpstreamError),
    );

    // Not stalled yet, but in progress.
    expect(await sweepAt(minutes(5))).toEqual({ resumed: [], inProgress: 1 });
    const [resumed, ...others] = await sweep(minutes(10));
    expect(others).toEqual([]);
    expect(resumed).toMatchObject({
      jobId: planned.id,
      was: 'running',
      action: 'chunks re-sent',
      resent: total - 2,
      status: 'running',
    });
    const resent = queue.sent.map((m) => m.body as ChunkMessage);
    expect(indexes(resent)).toEqual(
      Array.from({ length: total }, (_, i) => i).filter(
        (i) => i !== first!.chunkIndex && i !== second!.chunkIndex,
      ),
    );
    expect((await job(planned.id)).history?.at(-1)?.message).toBe(
      `stalled 10 min without progress (running); ${total - 2} chunks re-sent`,
    );
    // Progress was just noted: the next sweep does not send them again.
    expect(await sweep(minutes(12))).toEqual([]);

    await runWorkers();
    expect(await job(planned.id)).toMatchObject({ status: 'failed', chunks: { done: total - 1, failed: 1 } });
    await service().redrive(planned.id);
    await runWorkers();
    expect(await job(planned.id)).toMatchObject({
      status: 'completed',
      counts: { records: 16, written: 16 },
    });
    // An ended job is forgotten by the sweeper.
    expect(await sweep(minutes(60))).toEqual([]);
    expect(await state.list(ACTIVE_PK)).toEqual([]);
  });

  it('sends the messages of a planner that died before sending them, announcing the start once', async () => {
    await objects.put('exports/unsent.jsonl', jsonlExport({ vectors: 8, texts: 0, dimensions: DIM }));
    const send = queue.send.bind(queue);
    queue.send = async () => {
      throw new UpstreamError('SQS is down', { retryable: true });
    };
    await expect(
      service().start(body('exports/unsent.jsonl', 'unsent', { chunkBytes: 4096 })),
    ).rejects.toThrow(UpstreamError);
    queue.send = send;

    const [resumed] = await sweep(minutes(10));
    const running = await job(resumed!.jobId);
    expect(resumed).toMatchObject({ was: 'running', action: 'chunks re-sent', resent: running.chunks.total });
    expect(running.dispatched).toBe(true);
    await runWorkers();
    expect((await job(resumed!.jobId)).status).toBe('completed');
    expect(bus.types().filter((t) => t === 'MigrationStarted')).toHaveLength(1);
  });

  it('plans again a job whose planner died while planning, once past the planner timeout', async () => {
    await objects.put('exports/unplanned.jsonl', jsonlExport({ vectors: 8, texts: 0, dimensions: DIM }));
    const stream = objects.stream.bind(objects);
    objects.stream = async () => {
      throw new UpstreamError('S3 GetObject failed', { retryable: true });
    };
    await expect(service().start(body('exports/unplanned.jsonl', 'unplanned'))).rejects.toThrow(
      UpstreamError,
    );
    objects.stream = stream;

    // A live planner may still be scanning: it records nothing until it is done.
    expect(await sweep(minutes(10))).toEqual([]);
    const [resumed] = await sweep(minutes(16));
    expect(resumed).toMatchObject({ was: 'planning', action: 'planned again', status: 'running' });
    expect((await job(resumed!.jobId)).history?.at(-1)?.message).toMatch(
      /^stalled 16 min without progress \(planning\); planned again, \d+ chunks sent$/,
    );
    await runWorkers();
    expect((await job(resumed!.jobId)).status).toBe('completed');
  });

  it('concludes a job whose chunks are all recorded but whose conclusion was lost', async () => {
    await objects.put('exports/unconcluded.jsonl', jsonlExport({ vectors: 4, texts: 0, dimensions: DIM }));
    const planned = (await service().start(body('exports/unconcluded.jsonl', 'unconcluded'))).job;
    const [message] = queue.drain();
    const put = objects.put.bind(objects);
    objects.put = async (key, data) => {
      if (key.endsWith('report.json')) throw new UpstreamError('S3 is down', { retryable: true });
      return put(key, data);
    };
    await expect(service().processChunk(message!, 3)).rejects.toThrow(UpstreamError);
    objects.put = put;
    expect((await job(planned.id)).status).toBe('finalizing');

    expect(await sweep(minutes(10))).toMatchObject([
      { jobId: planned.id, was: 'finalizing', action: 'concluded', status: 'completed' },
    ]);
  });

  it('forgets a tracked job that never came to be, once its planner must be dead', async () => {
    await state.put(ACTIVE_PK, '0123456789abcdef', { id: '0123456789abcdef' });
    expect(await sweep(minutes(10))).toEqual([]);
    expect(await state.list(ACTIVE_PK)).toHaveLength(1); // its planner may be about to create it
    expect(await sweep(minutes(16))).toEqual([]);
    expect(await state.list(ACTIVE_PK)).toEqual([]);
  });

  it('counts a chunk that succeeds after it failed for good (a re-sent copy) as done, not as both', async () => {
    await objects.put('exports/twice.jsonl', jsonlExport({ vectors: 12, texts: 0, dimensions: DIM }));
    const planned = (await service().start(body('exports/twice.jsonl', 'twice', { chunkBytes: 4096 }))).job;
    const [first, ...rest] = queue.drain();
    await withPointsFileFailing(planned.id, first!.chunkIndex, () =>
      expect(service().processChunk(first!, 3)).rejects.toThrow(UpstreamError),
    );
    expect((await job(planned.id)).chunks).toMatchObject({ done: 0, failed: 1 });

    await service().processChunk(first!, 1);
    expect((await job(planned.id)).chunks).toMatchObject({ done: 1, failed: 0 });
    for (const message of rest) await service().processChunk(message, 1);
    expect(await job(planned.id)).toMatchObject({
      status: 'completed',
      counts: { records: 12, written: 12, rejected: 0 },
    });
  });
});
