import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';

/**
 * `npm run bench [-- name…]`: runs the benchmarks (all, or the named ones), prints each result as
 * it ends and writes them together to bench/.out/results-<timestamp>.json. The figures that matter
 * are then recorded by hand in docs/benchmarks.md with their comparisons.
 */

const suites: Record<string, () => Promise<Record<string, unknown>>> = {
  embedder: async () => (await import('./embedder.ts')).benchEmbedder(),
  search: async () => (await import('./search.ts')).benchSearch(),
  api: async () => (await import('./api.ts')).benchApi(),
  auth: async () => (await import('./auth.ts')).benchAuth(),
  bundles: async () => (await import('./bundles.ts')).benchBundles(),
  plans: async () => (await import('./plans.ts')).benchPlans(),
  migration: async () => (await import('./migration.ts')).benchMigration(),
  bus: async () => (await import('./bus.ts')).benchBus(),
  managers: async () => (await import('./managers.ts')).benchManagers(),
  backup: async () => (await import('./backup.ts')).benchBackup(),
  workflows: async () => (await import('./workflows.ts')).benchWorkflows(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in suites));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}\n`,
  );
  process.exit(2);
}

const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
};
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
  process.stderr.write(`bench ${name}…\n`);
  const result = await suites[name]!();
  results[name] = result;
  process.stdout.write(`${JSON.stringify({ [name]: result }, null, 2)}\n`);
}

const outDir = join(import.meta.dirname, '.out');
await mkdir(outDir, { recursive: true });
const file = join(outDir, `results-${new Date().toISOString().replaceAll(':', '-')}.json`);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
process.stderr.write(`results written to ${file}\n`);
