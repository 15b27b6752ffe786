import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { startLocalIssuer } from '#local/identity/issuer.ts';
import { writeTopology } from '#local/wiring.ts';
import { parseCommandLine, parseTtl } from '../../scripts/token.ts';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/token.ts');

describe('npm run token: command line', () => {
  it('reads durations as seconds, minutes, hours or days, and refuses anything else naming --ttl', () => {
    expect([parseTtl('3600'), parseTtl('90s'), parseTtl('15m'), parseTtl('1h'), parseTtl('1d')]).toEqual([
      3600, 90, 900, 3600, 86_400,
    ]);
    for (const bad of ['0', '-1', '1w', '1.5h', 'h', '']) expect(() => parseTtl(bad)).toThrow(/--ttl/);
  });

  it('takes a group or scopes (not both, not neither), a subject and a lifetime', () => {
    expect(parseCommandLine(['--role', 'readonly'])).toEqual({
      groups: ['readonly'],
      scopes: [],
      ttlSeconds: 3600,
    });
    expect(parseCommandLine(['--scope', 'read,write', '--ttl', '15m', '--sub', 'ci'])).toEqual({
      groups: [],
      scopes: ['read', 'write'],
      sub: 'ci',
      ttlSeconds: 900,
    });
    expect(parseCommandLine(['-h'])).toBe('help');
    for (const [args, message] of [
      [[], 'give either --role or --scope'],
      [['--role', 'admin', '--scope', 'read'], 'give either --role or --scope'],
      [['--role', 'root'], '--role must be one of readonly, user, admin, got "root"'],
      [['--scope', 'read,delete'], '--scope takes read, write, admin, got "delete"'],
      [['--role', 'user', '--sub', ' '], '--sub must not be empty'],
      [['--role', 'user', 'extra'], 'unexpected argument "extra"'],
    ] as const) {
      expect(() => parseCommandLine([...args]), JSON.stringify(args)).toThrow(message);
    }
  });
});

describe('npm run token: against a data folder', () => {
  it("prints a token of the runtime's issuer, or says that no runtime ran with the folder", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'vp-token-cli-'));
    const run = (env: Record<string, string>, args: string[]) =>
      promisify(execFile)(process.execPath, [SCRIPT, ...args], { env: { ...process.env, ...env } });
    try {
      const none = await run({ DATA_DIR: dataDir }, ['--role', 'admin']).catch(
        (err: { code: number; stderr: string }) => err,
      );
      expect('code' in none && none.code).toBe(1);
      expect(none.stderr).toMatch(/no local runtime has run with the data folder/);

      const issuer = await startLocalIssuer({ dataDir, host: '127.0.0.1' });
      await writeTopology(dataDir, {
        service: 'test',
        endpoints: { api: 'http://127.0.0.1:1', identity: issuer.issuer },
        functions: {},
      });
      await issuer.close();
      const { stdout } = await run({ DATA_DIR: dataDir }, [
        '--role',
        'user',
        '--sub',
        'alice',
        '--ttl',
        '2m',
      ]);
      const claims = decodeJwt(stdout.trim());
      expect(claims).toMatchObject({
        iss: issuer.issuer,
        sub: 'alice',
        'cognito:groups': ['user'],
        token_use: 'access',
      });
      expect(claims.exp! - claims.iat!).toBe(120);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
