import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { manifest } from '#infra/manifest.ts';
import { targetOfKey } from '#shared/migrations/model.ts';
import type { JobView, MigrationReport } from '#shared/migrations/service.ts';
import { apiToken, TOKEN_HINT } from './api-token.ts';

/**
 * `npm run migrate -- <file>`: a command-line convenience for the local runtime (`npm start`). It
 * uploads an export to the local S3 and follows its migration job with a progress bar until it
 * ends, then prints the summary. Exit code 0 when the job completed, 1 when it failed (or the
 * platform could not be reached), 2 on a usage error.
 */

const USAGE = `Usage: npm run migrate -- <file> [options]

Uploads <file> to the local runtime's exports bucket and follows its migration until it ends.

Without --collection (and without --dry-run) the file goes to exports/<file name>: the bucket
notification starts the job, into the alias named after the file (task_vectors.json → task_vectors).
With --collection or --dry-run it goes to cli-uploads/<file name> (no notification) and the job
is started with POST /migrations.

Options:
  --collection <name>  target alias (default: from the file name)
  --dry-run            parse, validate and report without writing to Qdrant
  --api <url>          the API base (default http://127.0.0.1:3000/api/v1, env MIGRATE_API)
                       (a token from API_TOKEN, else signed with the local runtime's key
                       in DATA_DIR, default .data: migrations need the admin role)
  --s3 <endpoint>      the local S3 endpoint, as \`npm start\` prints it (env S3_ENDPOINT)
  --bucket <name>      the exports bucket (env EXPORTS_BUCKET, default ${manifest.service}-exports)
  -h, --help           this help

The API has no route that reveals the S3 endpoint (its port is picked at start), so --s3 or
S3_ENDPOINT is required. Exit codes: 0 completed, 1 failed or unreachable, 2 usage error.`;

export const DEFAULT_API = 'http://127.0.0.1:3000/api/v1';
/** Where --collection / --dry-run uploads go: outside `exports/`, so no notification starts a job. */
const DIRECT_PREFIX = 'cli-uploads/';
const NOTIFIED_PREFIX = manifest.notifications[0]?.prefix ?? 'exports/';
const TERMINAL = new Set(['completed', 'failed', 'rolled-back']);
/** Consecutive failed status reads (5xx, connection reset) before giving up. */
const MAX_POLL_ERRORS = 5;

export interface MigrateOptions {
  file: string;
  collection?: string;
  dryRun?: boolean;
  /** The API base, e.g. `http://127.0.0.1:3000/api/v1`. */
  api?: string;
  /** The bearer token sent (an administrator's: migrations are admin routes). */
  token?: string;
  s3Endpoint?: string;
  bucket?: string;
  /** Where progress and the summary go (default stderr / stdout). */
  progress?: NodeJS.WritableStream;
  output?: NodeJS.WritableStream;
  /** A single redrawn line (TTY) or one line per change. Default: whether `progress` is a TTY. */
  tty?: boolean;
  pollMs?: number;
  /** How long to wait for the upload's notification to create the job. */
  jobWaitMs?: number;
}

export interface MigrateResult {
  job: JobView;
  report?: MigrationReport;
  key: string;
  seconds: number;
  /** 0 completed, 1 otherwise. */
  exitCode: 0 | 1;
}

/** A bad invocation (exit 2): missing file, missing endpoint, unusable collection name. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The platform could not do what was asked (exit 1): API or S3 unreachable, API refusal. */
export class CliError extends Error {
  override name = 'CliError';
  /** The API's HTTP status, when it answered. */
  readonly status: number | undefined;

  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Api {
  base: string;
  token: string | undefined;
}

async function api({ base, token }: Api, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new CliError(
      `cannot reach the API at ${base} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}): is \`npm start\` running? (--api to point elsewhere)`,
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new CliError(
      `${method} ${path}: ${res.status} with a non-JSON answer: ${text.slice(0, 200)}`,
      res.status,
    );
  }
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    const hint = res.status === 401 ? ` (${TOKEN_HINT})` : '';
    throw new CliError(
      `${method} ${path}: ${res.status} ${error?.code ?? ''} ${error?.message ?? text}`.trim() + hint,
      res.status,
    );
  }
  return parsed;
}

const mb = (bytes: number) => bytes / (1024 * 1024);

function bar(fraction: number, width = 24): string {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

/** One status line; MB/s is the export's size times the fraction of chunks done, over the time so far. */
function progressLine(job: JobView, seconds: number): string {
  const { total, done, failed } = job.chunks;
  const rate = total > 0 && seconds > 0 ? mb((job.size * done) / total) / seconds : 0;
  return [
    bar(total > 0 ? done / total : 0),
    `${done}/${total} chunks${failed > 0 ? ` (${failed} failed)` : ''}`,
    `records ${job.counts.written + job.counts.rejected}/${job.plannedRecords}`,
    `rejects ${job.counts.rejected}`,
    `${rate.toFixed(1)} MB/s`,
    job.status,
  ].join('  ');
}

/** The final summary. A dry run wrote nothing, so it says what would have been, and never "written". */
export function summary(job: JobView, report: MigrationReport | undefined, seconds: number): string {
  const { records, written, rejected } = job.counts;
  const lines = [
    `migration ${job.id} ${job.status}${job.dryRun ? ' (dry run)' : ''} in ${seconds.toFixed(1)} s (${mb(job.size).toFixed(1)} MB, ${(mb(job.size) / Math.max(seconds, 1e-3)).toFixed(1)} MB/s end to end)`,
    `  export      ${job.key} (${job.format ?? 'format unknown'}${job.vectorSize ? `, ${job.vectorSize}-d` : ''})`,
    `  records     ${records} read, ${written} ${job.dryRun ? 'accepted' : 'written'}, ${rejected} rejected (${job.plannedRecords} planned)`,
  ];
  if (report) {
    const { verification: v } = report;
    const stored = job.dryRun
      ? 'Qdrant untouched'
      : `${v.pointsInCollection ?? '?'} points in the collection, ${v.sampled} sampled, min cosine ${v.minCosine?.toFixed(6) ?? 'n/a'}, ${v.mismatches.length} mismatch(es)`;
    lines.push(
      `  points      ${report.counts.points} distinct (${report.duplicates.ids} duplicated id(s), ${report.duplicates.occurrences} occurrence(s))`,
      `  verification ${v.passed ? 'passed' : 'FAILED'}: counts ${v.countsMatch ? 'match' : 'differ'}, ${stored}`,
    );
    lines.push(
      report.alias
        ? `  alias       ${report.alias.name} → ${report.alias.collection}${report.alias.previous ? ` (was ${report.alias.previous}; rollback: POST /migrations/${job.id}/rollback)` : ''}`
        : `  alias       ${job.target} unchanged${job.dryRun ? ' (dry run)' : ''}`,
    );
  }
  if (job.reportKey) lines.push(`  report      s3://<bucket>/${job.reportKey}`);
  if (job.error) lines.push(`  error       ${job.error}`);
  return `${lines.join('\n')}\n`;
}

function s3Client(endpoint: string): S3Client {
  return new S3Client({
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint,
    forcePathStyle: true,
    // The local emulators accept any credentials; real ones in the environment are used as is.
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    },
    // Checksums only where S3 requires one: the SDK's default CRC32 per request buys nothing locally.
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/**
 * Part size of a multipart upload: S3 wants parts of at least 5 MiB (but the last), and three
 * 8 MiB parts in flight keep the upload's memory at 24 MiB whatever the file's size.
 * `@aws-sdk/lib-storage` is not a dependency, hence this loop.
 */
const PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 3;

/** Uploads a file (multipart beyond one part, a few parts in memory at a time); returns its ETag. */
async function uploadFile(
  s3: S3Client,
  target: { bucket: string; key: string; file: string; size: number },
  onProgress: (sent: number) => void,
): Promise<string> {
  const { bucket, key, file, size } = target;
  const fh = await open(file, 'r');
  try {
    const readPart = async (start: number, length: number) => {
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buffer, 0, length, start);
      if (bytesRead !== length) throw new Error(`${file} changed while it was uploaded`);
      return buffer;
    };
    if (size <= PART_BYTES) {
      const put = await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: await readPart(0, size),
          ContentLength: size,
        }),
      );
      onProgress(size);
      return put.ETag ?? '';
    }
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const parts = Math.ceil(size / PART_BYTES);
    const etags: string[] = new Array(parts);
    let next = 0;
    let sent = 0;
    const lane = async () => {
      while (next < parts) {
        const index = next++;
        const start = index * PART_BYTES;
        const length = Math.min(PART_BYTES, size - start);
        const out = await s3.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            PartNumber: index + 1,
            Body: await readPart(start, length),
            ContentLength: length,
          }),
        );
        etags[index] = out.ETag ?? '';
        sent += length;
        onProgress(sent);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, parts) }, lane));
      const done = await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
      return done.ETag ?? '';
    } catch (err) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => {});
      throw err;
    }
  } finally {
    await fh.close();
  }
}

/**
 * A busy local runtime may time out a read (5xx) or reset a kept-alive connection while the job
 * goes on; a 4xx is an answer, not a hiccup.
 */
function isTransient(err: unknown): boolean {
  return err instanceof CliError && (err.status === undefined || err.status >= 500);
}

/** The job an upload's notification created: same key and ETag, not a dry run. */
async function jobOfUpload(base: Api, key: string, etag: string, waitMs: number): Promise<string> {
  const wanted = etag.replaceAll('"', '');
  const deadline = Date.now() + waitMs;
  for (;;) {
    let migrations: JobView[] = [];
    try {
      ({ migrations } = (await api(base, 'GET', '/migrations?limit=100')) as { migrations: JobView[] });
    } catch (err) {
      if (!isTransient(err) || Date.now() > deadline) throw err;
    }
    const job = migrations.find((j) => j.key === key && j.etag.replaceAll('"', '') === wanted && !j.dryRun);
    if (job) return job.id;
    if (Date.now() > deadline) {
      throw new CliError(
        `no migration job appeared for s3://…/${key} within ${waitMs / 1000} s: is this the bucket of the running runtime?`,
      );
    }
    await sleep(250);
  }
}

/** Uploads the export, starts or finds its job, follows it to its end and prints the summary. */
export async function migrateFile(opts: MigrateOptions): Promise<MigrateResult> {
  const base: Api = { base: (opts.api ?? DEFAULT_API).replace(/\/+$/, ''), token: opts.token };
  const progress = opts.progress ?? process.stderr;
  const output = opts.output ?? process.stdout;
  const tty = opts.tty ?? Boolean((progress as NodeJS.WriteStream).isTTY);
  const pollMs = opts.pollMs ?? 500;

  const file = resolve(opts.file);
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new UsageError(`no such file: ${opts.file}`);
  const endpoint = opts.s3Endpoint;
  if (!endpoint) {
    throw new UsageError(
      'the local S3 endpoint is needed: --s3 <endpoint> or S3_ENDPOINT (`npm start` prints it)',
    );
  }
  const bucket = opts.bucket ?? `${manifest.service}-exports`;
  const direct = opts.collection !== undefined || opts.dryRun === true;
  const name = basename(file);
  const key = `${direct ? DIRECT_PREFIX : NOTIFIED_PREFIX}${name}`;
  const collection = opts.collection ?? targetOfKey(name, '');
  if (direct && collection === '') {
    throw new UsageError(`no collection name can be made from "${name}": give --collection`);
  }

  // Fail before a long upload when the platform is not there.
  await api(base, 'GET', '/migrations?limit=1');

  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const s3 = s3Client(endpoint);
  try {
    let lastDraw = 0;
    const onProgress = (sent: number) => {
      const now = performance.now();
      if (!tty || now - lastDraw < 100) return;
      lastDraw = now;
      progress.write(
        `\r${bar(sent / info.size)}  uploading ${mb(sent).toFixed(1)}/${mb(info.size).toFixed(1)} MB  ${(mb(sent) / Math.max(elapsed(), 1e-3)).toFixed(1)} MB/s\x1b[K`,
      );
    };
    let etag: string;
    try {
      etag = await uploadFile(s3, { bucket, key, file, size: info.size }, onProgress);
    } catch (err) {
      throw new CliError(`upload to ${endpoint} bucket ${bucket} failed: ${(err as Error).message}`);
    }
    if (tty) progress.write('\r\x1b[K');
    progress.write(
      `uploaded ${name} (${mb(info.size).toFixed(1)} MB) to s3://${bucket}/${key} in ${elapsed().toFixed(1)} s\n`,
    );

    let id: string;
    if (direct) {
      const job = (await api(base, 'POST', '/migrations', {
        key,
        collection,
        dryRun: opts.dryRun ?? false,
      })) as JobView;
      id = job.id;
    } else {
      id = await jobOfUpload(base, key, etag, opts.jobWaitMs ?? 120_000);
    }
    progress.write(`migration ${id}\n`);

    let job: JobView;
    let last = '';
    let serverErrors = 0;
    for (;;) {
      try {
        job = (await api(base, 'GET', `/migrations/${id}`)) as JobView;
        serverErrors = 0;
      } catch (err) {
        // A few transient failures in a row are tolerated.
        if (!isTransient(err) || ++serverErrors > MAX_POLL_ERRORS) throw err;
        progress.write(`${tty ? '\n' : ''}(${(err as Error).message}; retrying)\n`);
        await sleep(Math.max(pollMs, 1000));
        continue;
      }
      const line = progressLine(job, elapsed());
      if (tty) progress.write(`\r${line}\x1b[K`);
      else {
        // One line per change of state, not per poll (the rate alone does not count).
        const state = `${job.status} ${job.chunks.done} ${job.chunks.failed} ${job.counts.written} ${job.counts.rejected}`;
        if (state !== last) progress.write(`${line}\n`);
        last = state;
      }
      if (TERMINAL.has(job.status)) break;
      await sleep(pollMs);
    }
    if (tty) progress.write('\n');
    const seconds = elapsed();

    let report: MigrationReport | undefined;
    if (job.reportKey) {
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: job.reportKey }));
        report = JSON.parse(await out.Body!.transformToString()) as MigrationReport;
      } catch (err) {
        progress.write(`(could not read the report ${job.reportKey}: ${(err as Error).message})\n`);
      }
    }
    output.write(summary(job, report, seconds).replace('s3://<bucket>/', `s3://${bucket}/`));
    return { job, key, seconds, exitCode: job.status === 'completed' ? 0 : 1, ...(report ? { report } : {}) };
  } finally {
    s3.destroy();
  }
}

/** The command line: parses the arguments, runs the migration, returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`expected exactly one file, got ${positionals.length}\n\n${USAGE}\n`);
    return 2;
  }
  const s3 = values.s3 ?? process.env.S3_ENDPOINT;
  const bucket = values.bucket ?? process.env.EXPORTS_BUCKET;
  try {
    const target = values.api ?? process.env.MIGRATE_API ?? DEFAULT_API;
    const token = await apiToken(target, ['admin']);
    const result = await migrateFile({
      file: positionals[0]!,
      api: target,
      ...(token ? { token } : {}),
      dryRun: values['dry-run'] ?? false,
      ...(values.collection !== undefined ? { collection: values.collection } : {}),
      ...(s3 ? { s3Endpoint: s3 } : {}),
      ...(bucket ? { bucket } : {}),
    });
    return result.exitCode;
  } catch (err) {
    process.stderr.write(`\nmigrate: ${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      collection: { type: 'string' },
      'dry-run': { type: 'boolean' },
      api: { type: 'string' },
      s3: { type: 'string' },
      bucket: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
