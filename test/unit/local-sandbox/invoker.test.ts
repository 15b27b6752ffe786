import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createInvoker,
  type Invoker,
  LambdaExitError,
  LambdaResponseError,
  LambdaTimeoutError,
} from '#local/functions.ts';
import { sandboxManifest } from '../../fixtures/sandbox/manifest.ts';

/**
 * Isolated functions run in execution environments (child processes) like Lambda's: one
 * invocation at a time each, reused while warm, killed on timeout, replaced when they die.
 */

const rootDir = resolve(import.meta.dirname, '../../..');
const isolate = new Set(['actions', 'short', 'noHandler']);

interface Info {
  pid: number;
  fixtureValue: string | null;
  execArgv: string[];
  functionName: string;
  memoryLimitInMB: string;
  logStreamName: string;
  remainingMs: number;
  at: unknown;
}

/** Whether a process is gone: no such pid, or a zombie nobody reaped yet (Linux /proc). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

const invokers: Invoker[] = [];
function newInvoker(): Invoker {
  const invoker = createInvoker(sandboxManifest, { rootDir, isolate });
  invokers.push(invoker);
  return invoker;
}

afterEach(async () => {
  await Promise.all(invokers.splice(0).map((i) => i.close()));
});

describe('isolated functions', () => {
  const fixtureValue = randomUUID();
  process.env.SANDBOX_FIXTURE_VALUE = fixtureValue;
  afterAll(() => {
    delete process.env.SANDBOX_FIXTURE_VALUE;
  });

  it("run in a child process that inherits the environment, with the function's memory as heap limit", async () => {
    const invoke = newInvoker();
    const info = (await invoke('actions', { action: 'info' })) as Info;

    expect(info.pid).not.toBe(process.pid);
    expect(invoke.sandboxPids()).toEqual([info.pid]);
    expect(info.fixtureValue).toBe(fixtureValue);
    expect(info.execArgv).toEqual(['--max-old-space-size=160']);
    expect(info).toMatchObject({ functionName: 'sandbox-fixture-actions', memoryLimitInMB: '160' });
    expect(info.remainingMs).toBeGreaterThan(0);
    expect(info.remainingMs).toBeLessThanOrEqual(10_000);
    // Marshalled like Lambda's response: a Date comes back as its JSON string.
    expect(info.at).toBe('1970-01-01T00:00:00.000Z');
  });

  it('a function that is not isolated still runs in this process', async () => {
    const invoke = newInvoker();
    const info = (await invoke('local', { action: 'info' })) as Info;
    expect(info.pid).toBe(process.pid);
    expect(invoke.sandboxPids()).toEqual([]);
  });

  it('concurrent invocations get an environment each; sequential ones reuse the warm one', async () => {
    const invoke = newInvoker();
    const [a, b] = (await Promise.all([
      invoke('actions', { action: 'info' }),
      invoke('actions', { action: 'info' }),
    ])) as Info[];
    expect(a!.pid).not.toBe(b!.pid);
    expect(a!.logStreamName).not.toBe(b!.logStreamName);
    expect(invoke.sandboxPids().sort()).toEqual([a!.pid, b!.pid].sort());

    const c = (await invoke('actions', { action: 'info' })) as Info;
    const d = (await invoke('actions', { action: 'info' })) as Info;
    expect([a!.pid, b!.pid]).toContain(c.pid);
    expect(d.pid).toBe(c.pid);
    expect(d.logStreamName).toBe(c.logStreamName);
    expect(invoke.sandboxPids()).toHaveLength(2);
  });

  it("rejects with the handler's error, typed error data included, and keeps the environment warm", async () => {
    const invoke = newInvoker();
    const err = (await invoke('actions', { action: 'throw' }).catch((e: unknown) => e)) as Error &
      Record<string, unknown>;
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ValidationError');
    expect(err.message).toBe('vector: must have 3 dimensions');
    expect(err).toMatchObject({
      statusCode: 400,
      code: 'VALIDATION_ERROR',
      issues: [{ field: 'vector', reason: 'must have 3 dimensions' }],
    });
    expect(err.stack).toContain('actions.ts');

    const [pid] = invoke.sandboxPids();
    const info = (await invoke('actions', { action: 'info' })) as Info;
    expect(info.pid).toBe(pid);
  });

  it('a result JSON cannot carry is a Runtime.MarshalError', async () => {
    const invoke = newInvoker();
    const err = await invoke('actions', { action: 'bigint' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LambdaResponseError);
    expect((err as Error).message).toMatch(/^Unable to stringify response body/);
  });

  it('a process that exits mid-invocation is a Runtime.ExitError; the next invocation gets a new environment', async () => {
    const invoke = newInvoker();
    const first = (await invoke('actions', { action: 'info' })) as Info;

    const err = await invoke('actions', { action: 'exit' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LambdaExitError);
    expect(err).toMatchObject({
      name: 'Runtime.ExitError',
      message: 'Runtime exited with error: exit status 3',
      exitCode: 3,
    });
    expect(gone(first.pid)).toBe(true);
    expect(invoke.sandboxPids()).toEqual([]);

    const next = (await invoke('actions', { action: 'info' })) as Info;
    expect(next.pid).not.toBe(first.pid);
    expect(invoke.sandboxPids()).toEqual([next.pid]);
  });

  it('a timeout rejects as today and kills the environment', async () => {
    const invoke = newInvoker();
    const pending = invoke('short', { action: 'hang' });
    // The environment is forked as the invocation starts.
    const [pid] = invoke.sandboxPids();
    expect(pid).toBeDefined();

    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LambdaTimeoutError);
    expect((err as Error).message).toBe('Task timed out after 1.00 seconds');
    expect(gone(pid!)).toBe(true);
    expect(invoke.sandboxPids()).toEqual([]);
  });

  it('a module without a handler fails its init, and its environment is discarded', async () => {
    const invoke = newInvoker();
    await expect(invoke('noHandler', {})).rejects.toThrow(
      'Runtime.HandlerNotFound: test/fixtures/sandbox/no-handler.ts does not export a function named handler',
    );
    expect(invoke.sandboxPids()).toEqual([]);
  });

  it('close() ends every environment; isolated functions cannot be invoked after', async () => {
    const invoke = newInvoker();
    await Promise.all([invoke('actions', { action: 'info' }), invoke('actions', { action: 'info' })]);
    const pids = invoke.sandboxPids();
    expect(pids).toHaveLength(2);

    await invoke.close();
    expect(invoke.sandboxPids()).toEqual([]);
    for (const pid of pids) expect(gone(pid)).toBe(true);
    await expect(invoke('actions', { action: 'info' })).rejects.toThrow(/shut down/);
  });

  it('an environment exits when its runtime process dies', async () => {
    const parent = spawn(process.execPath, [resolve(rootDir, 'test/fixtures/sandbox/parent.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let sandboxPid: number | undefined;
    try {
      let out = '';
      for await (const chunk of parent.stdout) {
        out += String(chunk);
        if (out.includes('\n')) break;
      }
      sandboxPid = Number(out.trim());
      expect(Number.isInteger(sandboxPid) && sandboxPid !== parent.pid).toBe(true);
      expect(gone(sandboxPid)).toBe(false);

      parent.kill('SIGKILL');
      // The test's timeout bounds the wait.
      while (!gone(sandboxPid)) await sleep(50);
    } finally {
      parent.kill('SIGKILL');
      if (sandboxPid !== undefined && !gone(sandboxPid)) process.kill(sandboxPid, 'SIGKILL');
    }
  });
});
