import { Agent, createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of a Qdrant (the embedded server in tests) that answers chosen requests
 * with a Qdrant-style error instead of forwarding them, so end-to-end tests can make Qdrant fail
 * the way a real one does (503 while it restarts, 400 on a point it refuses) and decide, request
 * by request, when the fault starts and ends.
 */

export interface ProxiedRequest {
  method: string;
  /** Path and query string, as received. */
  path: string;
  body: Buffer;
}

/** The error answered instead of Qdrant's answer; `undefined` forwards the request. */
export interface FaultAnswer {
  status: number;
  /** Qdrant's `status.error` text. */
  error: string;
}

export type FaultRule = (request: ProxiedRequest) => FaultAnswer | undefined;

export interface FaultyQdrant {
  url: string;
  /** The rule consulted for every request; replace it at any time (`undefined`: no fault). */
  fault: FaultRule | undefined;
  /** Every request answered with a fault, in arrival order. */
  readonly faulted: ReadonlyArray<ProxiedRequest & FaultAnswer>;
  close(): Promise<void>;
}

/** How Qdrant answers while it cannot serve (a restart, a node down behind a load balancer). */
export const UNAVAILABLE: FaultAnswer = {
  status: 503,
  error: 'Service Unavailable: the node is restarting, retry later',
};

const UPSERT_PATH = /^\/collections\/[^/?]+\/points(\?|$)/;

/** The point ids of an upsert request (`PUT /collections/{name}/points`), else `undefined`. */
export function upsertedIds(request: ProxiedRequest): Array<string | number> | undefined {
  if (request.method !== 'PUT' || !UPSERT_PATH.test(request.path)) return undefined;
  const body = JSON.parse(request.body.toString('utf8')) as { points?: Array<{ id: string | number }> };
  return (body.points ?? []).map((p) => p.id);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

export async function startFaultyQdrant(upstream: string): Promise<FaultyQdrant> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  const faulted: Array<ProxiedRequest & FaultAnswer> = [];

  const server = createServer((req, res) => {
    void (async () => {
      const proxied: ProxiedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        body: await readBody(req),
      };
      const answer = proxy.fault?.(proxied);
      if (answer) {
        faulted.push({ ...proxied, ...answer });
        const body = JSON.stringify({ status: { error: answer.error }, time: 0 });
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(body);
        return;
      }
      const headers = { ...req.headers, host: target.host, 'content-length': String(proxied.body.length) };
      delete headers['transfer-encoding'];
      const out = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: proxied.method,
          path: proxied.path,
          headers,
          agent,
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      out.on('error', (err) => res.destroy(err));
      out.end(proxied.body);
    })().catch((err: unknown) => res.destroy(err instanceof Error ? err : undefined));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  const proxy: FaultyQdrant = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fault: undefined,
    faulted,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return closing;
    },
  };
  return proxy;
}
