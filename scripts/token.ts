import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GROUP_ROLES, GROUPS, type Group, SCOPE_ROLES, type ScopeName } from '#shared/auth/roles.ts';
import { localRuntimeSigner } from './api-token.ts';

/**
 * `npm run token -- --role admin [--sub NAME] [--ttl 1h]`: prints an access token from the running
 * local runtime's issuer (its key and URL are in the data folder: DATA_DIR, default `.data`), for
 * a person in a group, or with `--scope read[,write]` for a machine client.
 */

const USAGE = `Usage: npm run token -- --role <${GROUPS.join('|')}> [--sub NAME] [--ttl 1h]
       npm run token -- --scope <${Object.keys(SCOPE_ROLES).join('|')}>[,…] [--ttl 15m]

Prints an access token signed by the local runtime's issuer (start it first: npm start).
  --role    the person's group: ${GROUPS.map((g) => `${g} (${GROUP_ROLES[g]})`).join(', ')}
  --scope   a machine client's scopes (client credentials) instead of a group
  --sub     the subject (default local-<role>)
  --ttl     lifetime: 3600, 90s, 15m, 1h, 1d (default 1h, as Cognito's access tokens)
Use it as:  curl -H "authorization: Bearer $(npm run -s token -- --role admin)" …
DATA_DIR   the runtime's data folder (default .data)`;

/** `3600`, `90s`, `15m`, `1h`, `1d` → seconds. */
export function parseTtl(value: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  const seconds = m
    ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd']
    : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new Error(`--ttl must be a positive duration such as 3600, 90s, 15m, 1h or 1d, got "${value}"`);
  }
  return seconds;
}

export interface TokenCommand {
  groups: Group[];
  scopes: ScopeName[];
  sub?: string;
  ttlSeconds: number;
}

export function parseCommandLine(args: string[]): TokenCommand | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      role: { type: 'string' },
      scope: { type: 'string' },
      sub: { type: 'string' },
      ttl: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  if ((values.role === undefined) === (values.scope === undefined))
    throw new Error('give either --role or --scope');
  const groups: Group[] = [];
  const scopes: ScopeName[] = [];
  if (values.role !== undefined) {
    if (!(GROUPS as string[]).includes(values.role)) {
      throw new Error(`--role must be one of ${GROUPS.join(', ')}, got "${values.role}"`);
    }
    groups.push(values.role as Group);
  } else {
    for (const scope of values.scope!.split(',').map((s) => s.trim())) {
      if (!Object.hasOwn(SCOPE_ROLES, scope)) {
        throw new Error(`--scope takes ${Object.keys(SCOPE_ROLES).join(', ')}, got "${scope}"`);
      }
      scopes.push(scope as ScopeName);
    }
  }
  if (values.sub !== undefined && values.sub.trim() === '') throw new Error('--sub must not be empty');
  return {
    groups,
    scopes,
    ...(values.sub !== undefined ? { sub: values.sub } : {}),
    ttlSeconds: values.ttl === undefined ? 3600 : parseTtl(values.ttl),
  };
}

async function main(): Promise<number> {
  let command: TokenCommand | 'help';
  try {
    command = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`token: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const dataDir = resolve(process.env.DATA_DIR || '.data');
  const local = await localRuntimeSigner(dataDir);
  if (!local) {
    process.stderr.write(
      `token: no local runtime has run with the data folder ${dataDir}: start it with \`npm start\` (or set DATA_DIR)\n`,
    );
    return 1;
  }
  process.stdout.write(`${await local.sign(command)}\n`);
  return 0;
}

if (import.meta.main) process.exitCode = await main();
