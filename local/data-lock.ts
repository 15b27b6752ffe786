import { createHash } from 'node:crypto';
import { realpath, unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';

/**
 * An exclusive lock on a data directory that the operating system releases with its process: a
 * listening socket. Whoever holds it answers connections with its pid; a process killed with
 * -9 leaves nothing that blocks the next start, and a pid reused by another program never
 * passes for the holder. On Linux the socket is in the abstract namespace (no file; binding is
 * atomic); elsewhere it is a socket file in the directory, taken over when nobody listens on it.
 */

export interface DataLock {
  release(): Promise<void>;
}

export class DataDirectoryInUseError extends Error {
  constructor(dataDir: string, holder: string) {
    super(`data directory ${dataDir} is in use by process ${holder}`);
    this.name = 'DataDirectoryInUseError';
  }
}

export async function lockDataDirectory(dataDir: string): Promise<DataLock> {
  const real = await realpath(dataDir);
  const address =
    process.platform === 'linux'
      ? `\0vector-platform-data-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`
      : join(real, '.lock.sock');
  const server = createServer((socket) => socket.end(String(process.pid)));
  // Connections must not keep the process alive, nor the lock outlive its release.
  server.unref();
  for (let attempt = 0; ; attempt++) {
    try {
      await listen(server, address);
      return { release: () => new Promise((resolve) => server.close(() => resolve())) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const holder = await askHolder(address);
      if (holder !== undefined) throw new DataDirectoryInUseError(dataDir, holder);
      // A socket file nobody listens on: its process died. Take it over (once).
      if (attempt > 0 || address.startsWith('\0')) throw new DataDirectoryInUseError(dataDir, 'unknown');
      await unlink(address).catch(() => undefined);
    }
  }
}

function listen(server: Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The holder's pid, or undefined when nobody answers on the address. */
function askHolder(address: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(address);
    socket.setTimeout(2000, () => socket.destroy());
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.on('end', () => resolve(answer.trim() || 'unknown'));
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(answer.trim() || undefined));
  });
}
