import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalRuntime } from '#local/runtime.ts';

/** The local addresses (hex, as /proc/net/tcp* writes them) of this process's listening TCP sockets. */
async function listeningAddresses(): Promise<string[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const addresses: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      const cols = line.trim().split(/\s+/);
      // cols[1] local address, cols[3] state (0A = LISTEN), cols[9] inode.
      if (cols[3] === '0A' && inodes.has(cols[9] ?? '')) addresses.push(cols[1]!.split(':')[0]!);
    }
  }
  return addresses;
}

const LOOPBACK_V4 = '0100007F'; // 127.0.0.1, little-endian
const LOOPBACK_V6 = '00000000000000000000000001000000'; // ::1

describe.runIf(process.platform === 'linux')('local endpoints (Linux: read from /proc)', () => {
  it('listen on loopback only: API, Qdrant, S3, SQS, EventBridge, parameters and secrets', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'vp-loopback-'));
    const rt = await startLocalRuntime({ dataDir, port: 0, quiet: true });
    try {
      const opened = await listeningAddresses();
      // At least the gateway, S3, SQS, EventBridge and the settings endpoint (Qdrant is in a thread).
      expect(opened.length).toBeGreaterThanOrEqual(5);
      expect(opened.filter((a) => a !== LOOPBACK_V4 && a !== LOOPBACK_V6)).toEqual([]);
    } finally {
      await rt.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
