import { NotFoundError } from '#shared/errors.ts';
import type { ChunkMessage } from '#shared/migrations/model.ts';
import type { EventBus, ObjectStore, PlatformEvent, Queue, QueueMessage } from '#shared/ports.ts';

/** In-memory stand-ins for the object store, the queue and the bus of the migration service. */

export class MemoryObjects implements ObjectStore {
  readonly objects = new Map<string, { body: Uint8Array; etag: string }>();
  #version = 0;

  async put(key: string, body: string | Uint8Array): Promise<void> {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    this.objects.set(key, { body: bytes, etag: `"etag-${++this.#version}"` });
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Uint8Array> {
    const object = this.objects.get(key);
    if (!object) throw new NotFoundError(`no object ${key}`);
    return range ? object.body.slice(range.start, range.end + 1) : object.body.slice();
  }

  async stream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const body = await this.get(key);
    // Small pieces, so records straddle piece boundaries as they do with S3.
    return (async function* () {
      for (let i = 0; i < body.length; i += 1000) yield body.subarray(i, i + 1000);
    })();
  }

  async head(key: string): Promise<{ size: number; etag: string } | undefined> {
    const object = this.objects.get(key);
    return object ? { size: object.body.length, etag: object.etag } : undefined;
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async ping(): Promise<void> {}

  json<T>(key: string): T {
    const object = this.objects.get(key);
    if (!object) throw new Error(`no object ${key}`);
    return JSON.parse(new TextDecoder().decode(object.body)) as T;
  }
}

export class MemoryQueue implements Queue {
  readonly sent: QueueMessage[] = [];
  async send(messages: QueueMessage[]): Promise<void> {
    this.sent.push(...messages);
  }
  async ping(): Promise<void> {}
  /** Takes every message sent so far. */
  drain(): ChunkMessage[] {
    return this.sent.splice(0).map((m) => m.body as ChunkMessage);
  }
}

export class MemoryBus implements EventBus {
  readonly events: PlatformEvent[] = [];
  async publish(events: PlatformEvent[]): Promise<void> {
    this.events.push(...events);
  }
  async ping(): Promise<void> {}
  types(): string[] {
    return this.events.map((e) => e.detailType);
  }
}
