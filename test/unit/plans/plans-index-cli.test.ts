import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine, USAGE } from '../../../scripts/plans-index.ts';

/** `npm run plans:index`'s command line; indexing itself is tested against a runtime (integration). */

const SCRIPT = resolve(import.meta.dirname, '../../../scripts/plans-index.ts');

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vp-plans-cli-'));
  await writeFile(join(folder, 'plan.md'), '# Plan\n- [ ] a task\n');
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Runs the script; its exit code and output, whatever the code. */
async function run(args: string[], env: Record<string, string> = {}) {
  const { PORT: _ignored, ...inherited } = process.env;
  return promisify(execFile)(process.execPath, [SCRIPT, ...args], { env: { ...inherited, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

/** A port nothing listens on (free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

describe('plans:index command line', () => {
  it('targets the API on the port npm start uses: PORT, else 3000; --api wins', () => {
    expect(parseCommandLine(['plans'], {})).toEqual({
      help: false,
      dir: 'plans',
      api: 'http://127.0.0.1:3000/api/v1',
    });
    expect(parseCommandLine(['plans'], { PORT: '4100' })).toMatchObject({
      api: 'http://127.0.0.1:4100/api/v1',
    });
    expect(parseCommandLine(['plans', '--api', 'http://h:1/api/v1'], { PORT: '4100' })).toMatchObject({
      api: 'http://h:1/api/v1',
    });
    expect(parseCommandLine(['--api=https://h/api/v1', 'plans'], { PORT: 'junk' })).toMatchObject({
      api: 'https://h/api/v1',
    });
  });

  it('answers help whatever else is given', () => {
    expect(parseCommandLine(['--help'], {})).toEqual({ help: true });
    expect(parseCommandLine(['-h', 'a', 'b'], { PORT: 'junk' })).toEqual({ help: true });
  });

  it('says what is wrong with bad arguments', () => {
    const cases: Array<[string[], Record<string, string>, string | RegExp]> = [
      [[], {}, 'give the folder of plans to index'],
      [['a', 'b'], {}, 'one folder only, got 2: a b'],
      [['a', '--verbose'], {}, /Unknown option '--verbose'/],
      [['a', '--api'], {}, /--api/],
      [['a', '--api', 'ftp://h/api'], {}, '--api must be an http(s) URL'],
      [['a', '--api='], {}, '--api must be an http(s) URL'],
      [['a'], { PORT: '70000' }, 'PORT must be an integer between 1 and 65535, got "70000"'],
      [['a'], { PORT: '3000x' }, 'PORT must be an integer between 1 and 65535, got "3000x"'],
      [['a'], { PORT: '0' }, 'PORT must be an integer between 1 and 65535, got "0"'],
    ];
    for (const [args, env, message] of cases)
      expect(() => parseCommandLine(args, env), args.join(' ')).toThrow(message);
  });
});

describe('npm run plans:index', () => {
  it('prints its usage on --help and exits 0', async () => {
    const help = await run(['--help']);
    expect(help).toMatchObject({ code: 0, stdout: `${USAGE}\n`, stderr: '' });
    expect(USAGE).toContain('PORT');
  });

  it('exits 2 with the reason and the usage on bad arguments, before reaching for the API', async () => {
    const bad = await run([folder, '--nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^plans:index: Unknown option '--nope'/);
    expect(bad.stderr).toContain(USAGE);
    const port = await run([folder], { PORT: 'abc' });
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('PORT must be an integer between 1 and 65535, got "abc"');
    const missing = await run([join(folder, 'absent')], { PORT: String(await closedPort()) });
    expect(missing).toMatchObject({ code: 2, stderr: `not a folder: ${join(folder, 'absent')}\n` });
  });

  it('calls the API on PORT', async () => {
    const port = await closedPort();
    const down = await run([folder], { PORT: String(port) });
    expect(down.code).toBe(2);
    expect(down.stderr).toContain(`cannot reach the API at http://127.0.0.1:${port}/api/v1 (ECONNREFUSED)`);
  });
});
