import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { keyFileOf, type TokenRequest, tokenSigner } from '#local/identity/issuer.ts';
import type { Group } from '#shared/auth/roles.ts';

/**
 * The bearer token the command-line tools send: `API_TOKEN` when set (any stage: a Cognito
 * access token), else, when the API is the local runtime of this checkout's data folder
 * (`DATA_DIR`, default `.data`, whose `runtime.json` names its API and issuer), a short one signed
 * with that runtime's key for the groups the tool needs. Undefined otherwise: the API says 401.
 */

const Topology = z.object({ endpoints: z.object({ api: z.string(), identity: z.string() }) });

/** A CLI's token lives as long as a long migration may be followed. */
const CLI_TOKEN_SECONDS = 3600;

const sameServer = (a: URL, b: URL) => {
  const loopback = (h: string) => ['localhost', '127.0.0.1', '[::1]'].includes(h);
  const host = a.hostname === b.hostname || (loopback(a.hostname) && loopback(b.hostname));
  return host && a.port === b.port && a.protocol === b.protocol;
};

/**
 * The local runtime that ran with `dataDir` (its `runtime.json`): its API's URL and a signer with
 * its issuer's key and URL; undefined when none has.
 */
export async function localRuntimeSigner(
  dataDir: string,
): Promise<{ api: string; sign: (request: TokenRequest) => Promise<string> } | undefined> {
  let topology: z.infer<typeof Topology>;
  try {
    topology = Topology.parse(JSON.parse(await readFile(resolve(dataDir, 'runtime.json'), 'utf8')));
  } catch {
    return undefined;
  }
  return {
    api: topology.endpoints.api,
    sign: await tokenSigner(keyFileOf(dataDir), topology.endpoints.identity),
  };
}

export async function apiToken(
  api: string,
  groups: readonly Group[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (env.API_TOKEN) return env.API_TOKEN;
  const local = await localRuntimeSigner(resolve(env.DATA_DIR || '.data'));
  if (!local || !URL.canParse(api) || !sameServer(new URL(api), new URL(local.api))) return undefined;
  return local.sign({ groups, sub: 'local-cli', ttlSeconds: CLI_TOKEN_SECONDS });
}

/** What to tell a user whose call was refused for want of a token. */
export const TOKEN_HINT =
  'set API_TOKEN to a bearer token (locally: `npm run token -- --role admin`), or run the tool in the folder whose .data the running `npm start` uses';
