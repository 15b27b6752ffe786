import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import {
  type DeployedConfig,
  envOf,
  namespaceOf,
  readEmbedding,
  reasonOf,
  resolveDeployed,
  sdkReader,
  verdict,
} from './deployed.ts';

/**
 * `npm run test:deployed [-- vitest args]`: the portable integration suites (vitest.deployed.config.ts)
 * against a deployed stage. Resolves the stage once (STAGE's stack outputs, the machine client's
 * secret, or the DEPLOYED_* variables) and its embedder (GET /api/v1/version, once), then runs
 * vitest with the result in DEPLOYED_* variables and a namespace for this run. A stage out of
 * reach is one line: a skip (exit 0) on a laptop, a failure (exit 1) in CI or with
 * DEPLOYED_REQUIRED set.
 */

const root = resolve(import.meta.dirname, '../..');
const stage = process.env.STAGE;
const aws = sdkReader();
let outcome: { config: DeployedConfig } | { reason: string };
try {
  const resolved = await resolveDeployed(process.env, aws);
  // The stage's embedder decides which checks of nearest neighbours hold there (target.ts).
  outcome = { config: { ...resolved, embedding: await readEmbedding(resolved.apiUrl) } };
} catch (err) {
  outcome = { reason: reasonOf(err, stage) };
} finally {
  aws.destroy();
}

const decided = verdict(outcome, process.env);
if (decided.kind === 'skip') {
  console.log(decided.line);
  process.exit(0);
}
if (decided.kind === 'fail') {
  console.error(decided.line);
  process.exit(1);
}

const namespace = namespaceOf(new Date(), Math.random());
const config = decided.config;
console.log(
  `test:deployed: ${config.stage ? `stage ${config.stage}` : 'the API'} at ${config.apiUrl}, ${
    config.client ? `machine client ${config.client.clientId}` : 'given tokens'
  }, embedder ${config.embedding?.model}/${config.embedding?.dimensions}, names prefixed ${namespace}`,
);
const child = spawn(
  process.execPath,
  [
    resolve(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '-c',
    'vitest.deployed.config.ts',
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, ...envOf(config, namespace) } },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
