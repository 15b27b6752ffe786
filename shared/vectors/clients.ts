import { createHash } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { Config } from '../config.ts';
import { createEmbedder } from '../embeddings/index.ts';
import { metrics } from '../powertools.ts';
import { isQdrantFailure } from './qdrant-errors.ts';
import { VectorService } from './service.ts';

/**
 * Clients built lazily from the configuration and cached per distinct configuration: a warm
 * Lambda reuses its connections, and a process that boots the local runtime several times (tests)
 * gets a client per Qdrant URL instead of one stale client.
 */

/** Below API Gateway's 30 s integration timeout, so a hung Qdrant becomes a clean 502. */
const QDRANT_TIMEOUT_MS = 25_000;

const qdrantClients = new Map<string, QdrantClient>();

/** The Qdrant client of a configuration; throws when the function was granted no `qdrant` access. */
export function getQdrantClient(qdrant: Config['qdrant']): QdrantClient {
  if (!qdrant) {
    throw new Error(
      'Invalid configuration: QDRANT_URL or QDRANT_URL_PARAMETER is not set (no `qdrant` access)',
    );
  }
  // The key is a digest so the API key is not copied into another long-lived string.
  const key = createHash('sha256')
    .update(JSON.stringify([qdrant.url, qdrant.apiKey ?? null]))
    .digest('hex');
  let client = qdrantClients.get(key);
  if (!client) {
    client = measured(
      new QdrantClient({
        url: qdrant.url,
        ...(qdrant.apiKey ? { apiKey: qdrant.apiKey } : {}),
        timeout: QDRANT_TIMEOUT_MS,
        // The check is a background request per client whose only effect is a console warning.
        checkCompatibility: false,
      }),
    );
    qdrantClients.set(key, client);
  }
  return client;
}

/**
 * The client with every call measured, for the dashboard: `QdrantCallLatency` (ms) per call, and
 * `QdrantCallErrors` when Qdrant failed or could not be reached (`isQdrantFailure`: a 404 or 400
 * is the request's answer, not a failure). A proxy rather than a wrapper per method: every call
 * site, present and future, goes through `getQdrantClient`, so none is left unmeasured.
 */
function measured(client: QdrantClient): QdrantClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const result: unknown = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.then(
          (answer: unknown) => {
            recordCall(started);
            return answer;
          },
          (err: unknown) => {
            recordCall(started, err);
            throw err;
          },
        );
      };
    },
  });
}

function recordCall(started: number, err?: unknown): void {
  metrics.addMetric('QdrantCallLatency', MetricUnit.Milliseconds, performance.now() - started);
  if (err !== undefined && isQdrantFailure(err)) metrics.addMetric('QdrantCallErrors', MetricUnit.Count, 1);
}

/** The vector service for a configuration; the embedder is built only when text needs it. */
export function vectorService(config: Config): VectorService {
  return new VectorService({
    qdrant: getQdrantClient(config.qdrant),
    embedder: () => createEmbedder(config.embedder),
    defaultCollection: config.defaultCollection,
  });
}

/**
 * The vector service of a function that never embeds (granted no `embedder` access): its bundle
 * leaves out the embedders and the `openai` SDK (~390 KB). Only collection creation, upserts and
 * searches reach for an embedder.
 */
export function vectorServiceWithoutEmbedder(config: Config): VectorService {
  return new VectorService({
    qdrant: getQdrantClient(config.qdrant),
    embedder: () => {
      throw new Error('this function has no embedder: build its service with vectorService()');
    },
    defaultCollection: config.defaultCollection,
  });
}
