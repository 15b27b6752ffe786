import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiToken, TOKEN_HINT } from './api-token.ts';

/**
 * `npm run plans:index -- <dir> [--api URL]`: indexes every `*.md` under a folder (recursively)
 * through the running API (`npm start`), one `POST /plans` per file, the plan id being the file's
 * path relative to the folder. Prints a line per plan with its counts, then the totals; exits 1
 * when a plan failed, 2 on bad usage or when the API is not reachable.
 */

/** `npm start`'s default port; both read PORT. */
const DEFAULT_PORT = 3000;

export const USAGE = `Usage: npm run plans:index -- <dir> [options]

Indexes every *.md file under <dir> (recursively; dot-folders and node_modules skipped) through
the running local API (\`npm start\`): one POST /plans per file, the plan id being the file's path
relative to <dir>. A line per plan with its counts, then the totals. Re-running embeds only what
changed.

Options:
  --api <url>   the API base (default http://127.0.0.1:$PORT/api/v1, PORT being the port
                \`npm start\` listens on, ${DEFAULT_PORT} when unset)
  -h, --help    this help

Exit codes: 0 every plan indexed, 1 a plan failed, 2 usage error or API unreachable.`;

export interface PlanOutcome {
  planId: string;
  ok: boolean;
  /** The API's answer (an index report, or an error body). */
  body: unknown;
  status: number;
  ms: number;
}

export interface FolderSummary {
  plans: number;
  indexed: number;
  failed: number;
  tasks: { total: number; added: number; changed: number; removed: number; unchanged: number };
  embedded: number;
  ms: number;
  outcomes: PlanOutcome[];
}

/** The API could not be reached at all (as opposed to answering an error). */
export class ApiUnreachableError extends Error {}

interface Report {
  created: boolean;
  tasks: { total: number; added: number; changed: number; removed: number; unchanged: number };
  embedded: number;
}

/** Markdown files under `dir`, as sorted paths relative to it; dot-folders and node_modules skipped. */
export async function findPlans(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true });
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (!entry.name.startsWith('.') && entry.name !== 'node_modules') await walk(path);
      } else if (entry.isFile() && entry.name.toLowerCase().endsWith('.md')) {
        found.push(relative(dir, path).split(sep).join('/'));
      }
    }
  };
  await walk(dir);
  return found.sort();
}

async function post(
  api: string,
  token: string | undefined,
  planId: string,
  bytes: Uint8Array,
): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    // Raw bytes: the parser detects the encoding, which a text content type would not preserve.
    res = await fetch(`${api}/plans?planId=${encodeURIComponent(planId)}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: bytes,
    });
  } catch (err) {
    throw new ApiUnreachableError(`cannot reach the API at ${api} (${causeOf(err)})`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): reported as text.
  }
  return { status: res.status, body };
}

/** Fails fast, before the first plan, when nothing answers at the API's address. */
async function checkApi(api: string): Promise<void> {
  try {
    await (await fetch(`${api}/health`)).arrayBuffer();
  } catch (err) {
    throw new ApiUnreachableError(`cannot reach the API at ${api} (${causeOf(err)})`);
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

function describeError(body: unknown): string {
  const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
  if (error?.message) return `${error.code ?? 'ERROR'}: ${error.message}`;
  return typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body).slice(0, 200);
}

/** Indexes every plan of a folder; `write` receives the progress lines. */
export async function indexPlansFolder(options: {
  dir: string;
  api?: string;
  /** Default `API_TOKEN`, else one signed by the local runtime of DATA_DIR (`scripts/api-token.ts`). */
  token?: string;
  write?: (line: string) => void;
}): Promise<FolderSummary> {
  const api = (options.api ?? defaultApi(process.env)).replace(/\/+$/, '');
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dir = resolve(options.dir);
  // A bad folder is a usage error, told before the API is needed.
  const plans = await findPlans(dir);
  await checkApi(api);
  // Indexing plans is the `user` group's (writer) business.
  const token = options.token ?? (await apiToken(api, ['user']));
  const summary: FolderSummary = {
    plans: plans.length,
    indexed: 0,
    failed: 0,
    tasks: { total: 0, added: 0, changed: 0, removed: 0, unchanged: 0 },
    embedded: 0,
    ms: 0,
    outcomes: [],
  };
  const started = performance.now();
  const width = String(plans.length).length;
  for (const [i, planId] of plans.entries()) {
    const t0 = performance.now();
    const { status, body } = await post(api, token, planId, await readFile(join(dir, planId)));
    const ms = Math.round(performance.now() - t0);
    const ok = status === 200 || status === 201;
    summary.outcomes.push({ planId, ok, body, status, ms });
    const counter = `[${String(i + 1).padStart(width)}/${plans.length}]`;
    if (!ok) {
      summary.failed++;
      write(
        `${counter} ${planId}  FAILED (HTTP ${status}) ${describeError(body)}${status === 401 ? ` (${TOKEN_HINT})` : ''}`,
      );
      continue;
    }
    const report = body as Report;
    summary.indexed++;
    for (const key of Object.keys(summary.tasks) as Array<keyof FolderSummary['tasks']>) {
      summary.tasks[key] += report.tasks[key];
    }
    summary.embedded += report.embedded;
    write(
      `${counter} ${planId}  ${report.created ? 'new' : 're-indexed'}: ${counts(report.tasks, report.embedded)}  ${ms} ms`,
    );
  }
  summary.ms = Math.round(performance.now() - started);
  const failed = summary.failed > 0 ? `, ${summary.failed} failed` : '';
  write(
    `${summary.indexed} of ${summary.plans} plans indexed${failed}: ${counts(summary.tasks, summary.embedded)}  ${summary.ms} ms`,
  );
  return summary;
}

function counts(t: Report['tasks'], embedded: number): string {
  return `${t.total} tasks (+${t.added} added, ~${t.changed} changed, -${t.removed} removed, =${t.unchanged} unchanged), ${embedded} embedded`;
}

/** The local API on the port `npm start` uses: PORT, as it reads it, else 3000. */
export function defaultApi(env: NodeJS.ProcessEnv): string {
  const value = env.PORT;
  if (value === undefined || value === '') return `http://127.0.0.1:${DEFAULT_PORT}/api/v1`;
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port < 1 || port > 65535) {
    throw new Error(`PORT must be an integer between 1 and 65535, got "${value}"`);
  }
  return `http://127.0.0.1:${port}/api/v1`;
}

export type CommandLine = { help: true } | { help: false; dir: string; api: string };

/** `<dir> [--api URL]` (also `--api=URL`), or `--help`; throws an Error saying what is wrong. */
export function parseCommandLine(args: string[], env: NodeJS.ProcessEnv): CommandLine {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { api: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return { help: true };
  if (positionals.length === 0) throw new Error('give the folder of plans to index');
  if (positionals.length > 1)
    throw new Error(`one folder only, got ${positionals.length}: ${positionals.join(' ')}`);
  const api = values.api ?? defaultApi(env);
  const protocol = URL.canParse(api) ? new URL(api).protocol : undefined;
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new Error(`--api must be an http(s) URL such as http://127.0.0.1:3000/api/v1, got "${api}"`);
  }
  return { help: false, dir: positionals[0]!, api };
}

async function main(): Promise<number> {
  let args: Extract<CommandLine, { help: false }>;
  try {
    const parsed = parseCommandLine(process.argv.slice(2), process.env);
    if (parsed.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    args = parsed;
  } catch (err) {
    process.stderr.write(`plans:index: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    const summary = await indexPlansFolder(args);
    if (summary.plans === 0) process.stderr.write(`no *.md file under ${resolve(args.dir)}\n`);
    return summary.failed > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof ApiUnreachableError) {
      process.stderr.write(`${err.message}: is the local runtime running? Start it with \`npm start\`.\n`);
      return 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      process.stderr.write(`not a folder: ${resolve(args.dir)}\n`);
      return 2;
    }
    throw err;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
