import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { lockDataDirectory } from '#local/data-lock.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vp-lock-'));
  dirs.push(dir);
  return dir;
}

/** A process holding the lock, once it says it has it. */
async function holder(dir: string) {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../fixtures/lock/holder.ts'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`holder exited early (${code})`)));
    createInterface({ input: child.stdout! }).once('line', resolve);
  });
  expect(line).toBe('locked');
  return child;
}

describe('the data directory lock', () => {
  it('refuses a second holder, naming the live one, and is free again on release', async () => {
    const dir = await tempDir();
    const lock = await lockDataDirectory(dir);
    await expect(lockDataDirectory(dir)).rejects.toThrow(`in use by process ${process.pid}`);
    await lock.release();
    await (await lockDataDirectory(dir)).release();
  });

  it('is released by the operating system when its process is killed with -9: a restart takes it at once', async () => {
    const dir = await tempDir();
    const child = await holder(dir);
    await expect(lockDataDirectory(dir)).rejects.toThrow(`in use by process ${child.pid}`);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await (await lockDataDirectory(dir)).release();
  });

  it('is not fooled by a leftover pid file naming a live process (a reused pid)', async () => {
    const dir = await tempDir();
    // What the previous lock left behind: a pid file; pid 1 is always alive.
    await writeFile(join(dir, '.lock'), '1');
    await (await lockDataDirectory(dir)).release();
  });
});
