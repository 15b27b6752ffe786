/**
 * Lambda bundles: for every manifest function, bundle its handler exactly as `ServiceFunction`
 * does (the shared `handlerBundle` options), then report the minified size and the module init
 * time — the median of 5 fresh Node processes, each timing only its `import()` of the bundle.
 * Targets: ≤ 500 KB and ≤ 150 ms init per function.
 *
 * Standalone: `npx node bench/bundles.ts` (writes bundles to `bench/.out/`).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { handlerBuildOptions, handlerBundle } from '../infra/constructs/bundling.ts';
import { manifest } from '../infra/manifest.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', '.out');
const RUNS = 5;
export const BUNDLE_TARGETS = { maxKb: 500, maxInitMs: 150 };

const run = promisify(execFile);

// The configuration a function would read locally; no module should reach the network at init.
// Source maps are enabled as `ServiceFunction` enables them, so their parse counts.
const INIT_ENV = {
  STAGE: 'bench',
  EMBEDDER: 'local',
  QDRANT_URL: 'http://127.0.0.1:6333',
  AWS_REGION: 'us-east-1',
  POWERTOOLS_SERVICE_NAME: manifest.service,
  POWERTOOLS_DEV: 'false',
  LOG_LEVEL: 'WARN',
  NODE_OPTIONS: '--enable-source-maps',
};

interface FunctionResult {
  entry: string;
  sizeKb: number;
  initMs: { median: number; runs: number[] };
  /** The three inputs that weigh most in the bundle, in KB. */
  largestInputs: Array<{ path: string; kb: number }>;
  withinTargets: boolean;
}

async function bundle(
  name: string,
  entry: string,
): Promise<{ file: string; largestInputs: FunctionResult['largestInputs'] }> {
  const file = join(OUT_DIR, name, handlerBundle.outFile);
  const result = await build({
    ...handlerBuildOptions(join(ROOT, entry), join(OUT_DIR, name)),
    metafile: true,
    logLevel: 'silent',
  });
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined);
  const largestInputs = Object.entries(output?.inputs ?? {})
    .map(([path, input]) => ({ path, kb: round(input.bytesInOutput / 1024) }))
    .sort((a, b) => b.kb - a.kb)
    .slice(0, 3);
  return { file, largestInputs };
}

/**
 * What Lambda's Node.js runtime adds to the environment: Powertools and the X-Ray SDK read these
 * to switch tracing on, so init here does the work it does in Lambda.
 */
function lambdaEnv(name: string, file: string): Record<string, string> {
  return {
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: `${manifest.service}-${name}`,
    LAMBDA_TASK_ROOT: dirname(file),
    _HANDLER: 'index.handler',
  };
}

/** Import time of the bundle in a fresh process, measured inside it (process start excluded). */
async function initTime(name: string, file: string): Promise<number> {
  const script = `const t0 = performance.now();
await import(${JSON.stringify(pathToFileURL(file).href)});
process.stdout.write(String(performance.now() - t0));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: dirname(file),
    env: { PATH: process.env.PATH ?? '', ...INIT_ENV, ...lambdaEnv(name, file) },
  });
  return Number(stdout);
}

export async function benchBundles(): Promise<Record<string, unknown>> {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const functions: Record<string, FunctionResult> = {};
  const missing: string[] = [];
  for (const [name, decl] of Object.entries(manifest.functions)) {
    if (!existsSync(join(ROOT, decl.entry))) {
      missing.push(decl.entry);
      continue;
    }
    const { file, largestInputs } = await bundle(name, decl.entry);
    const sizeKb = round(statSync(file).size / 1024);
    const runs: number[] = [];
    // Sequential: parallel spawns on a small machine would measure contention, not init.
    for (let i = 0; i < RUNS; i++) runs.push(round(await initTime(name, file)));
    const median = [...runs].sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
    functions[name] = {
      entry: decl.entry,
      sizeKb,
      initMs: { median, runs },
      largestInputs,
      withinTargets: sizeKb <= BUNDLE_TARGETS.maxKb && median <= BUNDLE_TARGETS.maxInitMs,
    };
  }
  const results = Object.values(functions);
  return {
    node: process.version,
    targets: BUNDLE_TARGETS,
    functions,
    missing,
    maxSizeKb: Math.max(0, ...results.map((r) => r.sizeKb)),
    maxInitMs: Math.max(0, ...results.map((r) => r.initMs.median)),
    allWithinTargets: missing.length === 0 && results.every((r) => r.withinTargets),
  };
}

const round = (n: number) => Math.round(n * 10) / 10;

if (import.meta.main) {
  console.log(JSON.stringify(await benchBundles(), null, 2));
}
