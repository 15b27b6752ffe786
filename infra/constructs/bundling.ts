import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED_FILES_DIR } from '../../shared/bundled-files.ts';

/**
 * The Qdrant client's fetch-based build (the package's `browser` export), used everywhere: Lambda
 * bundles, `npm start` (a resolve hook in local/main.ts) and the tests (vitest alias). Its
 * Node build differs only in handing `fetch` an `undici` Agent, which bundles all of undici
 * (~510 KB) and waits a timer tick (≥ 1 ms) before reusing an idle keep-alive connection; Node 22's
 * own `fetch` needs neither. The exports map offers that build under no Node condition, hence the
 * path.
 */
export const QDRANT_FETCH_BUILD = join(
  dirname(createRequire(import.meta.url).resolve('@qdrant/js-client-rest')),
  '../browser/index.js',
);

/**
 * The one definition of how a handler is bundled. `ServiceFunction` hands it to `NodejsFunction`
 * (which runs esbuild) and `bench/bundles.ts` hands it to esbuild directly, so the benchmark
 * measures exactly what Lambda runs. Plain data: importing it pulls in no CDK code.
 */
export const handlerBundle = {
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  sourcemap: true,
  // Stack traces map to file:line without the sources; the map shrinks ~5× and so does the
  // parse that `--enable-source-maps` runs at cold start (~40 ms on a 1.5 MB bundle).
  sourcesContent: false,
  // Prefer the ESM build of dual packages: smaller and tree-shakeable.
  mainFields: ['module', 'main'],
  // The Lambda Node.js runtime ships AWS SDK v3. Import a client dynamically where only some
  // paths need it: a bundle hoists every static import of an external to cold start.
  external: ['@aws-sdk/*'],
  alias: { '@qdrant/js-client-rest': QDRANT_FETCH_BUILD },
  // Some dependencies are CommonJS and call `require` at run time, which an ESM bundle lacks.
  banner:
    "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);",
  /** The file NodejsFunction writes for `format: esm`; Lambda's handler is `index.handler`. */
  outFile: 'index.mjs',
} as const;

/**
 * esbuild's options for bundling one handler as NodejsFunction does with `handlerBundle` (its
 * output file is `<outDir>/index.mjs`): for the benchmark and tests that run esbuild themselves.
 */
export function handlerBuildOptions(entry: string, outDir: string) {
  return {
    entryPoints: [entry],
    outfile: join(outDir, handlerBundle.outFile),
    bundle: true,
    platform: handlerBundle.platform,
    target: handlerBundle.target,
    format: handlerBundle.format,
    minify: handlerBundle.minify,
    sourcemap: handlerBundle.sourcemap,
    sourcesContent: handlerBundle.sourcesContent,
    mainFields: [...handlerBundle.mainFields],
    external: [...handlerBundle.external],
    alias: { ...handlerBundle.alias },
    banner: { js: handlerBundle.banner },
  };
}

/** The repository root (manifest `files` resolve from its node_modules). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * The commands that copy a function's manifest `files` beside its bundle, as
 * `<outputDir>/files/<module path>` where `shared/bundled-files.ts` reads them: NodejsFunction's
 * `afterBundling` hook runs them (esbuild bundles JavaScript only). `inputDir` is the project root
 * as the bundler sees it.
 */
export function bundledFilesCommands(
  files: readonly string[],
  inputDir: string,
  outputDir: string,
): string[] {
  const resolve = createRequire(join(ROOT, 'package.json')).resolve;
  return files.flatMap((specifier) => {
    const source = relative(ROOT, resolve(specifier));
    const target = join(outputDir, BUNDLED_FILES_DIR, specifier);
    return [`mkdir -p ${quote(dirname(target))}`, `cp ${quote(join(inputDir, source))} ${quote(target)}`];
  });
}
