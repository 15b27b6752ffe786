import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, startS3Server } from '#local/s3/server.ts';

/** The local S3 as the AWS CLI sees it (`aws s3 cp/ls/rm --endpoint-url`), when `aws` is on PATH. */

const run = promisify(execFile);

function awsCli(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'aws');
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

const cli = awsCli();

describe.skipIf(!cli)('local S3 with the AWS CLI', () => {
  let dir: string;
  let server: S3Server;
  let env: NodeJS.ProcessEnv;
  const aws = async (...args: string[]) =>
    (
      await run(
        cli!,
        [...args, '--endpoint-url', server.url, ...(args[1] === 'ls' ? [] : ['--only-show-errors'])],
        { env },
      )
    ).stdout;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-s3-cli-'));
    server = await startS3Server({ dataDir: join(dir, 'store'), buckets: ['cli-bucket'], log: () => {} });
    env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    };
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('copies single-part and 20 MB multipart files up and back, lists and removes them', async () => {
    const small = join(dir, 'small file.json');
    const big = join(dir, 'big.bin');
    await writeFile(small, '{"cli":true}');
    await writeFile(big, randomBytes(20 * 1000 * 1000));
    await aws('s3', 'cp', small, 's3://cli-bucket/up/small file.json');
    await aws('s3', 'cp', big, 's3://cli-bucket/up/big.bin');

    const listing = await aws('s3', 'ls', 's3://cli-bucket/up/');
    expect(listing).toMatch(/\s12 small file\.json/);
    expect(listing).toMatch(/\s20000000 big\.bin/);
    expect(await aws('s3', 'ls', 's3://cli-bucket/')).toMatch(/PRE up\//);

    await aws('s3', 'cp', 's3://cli-bucket/up/big.bin', join(dir, 'big.back'));
    expect((await readFile(join(dir, 'big.back'))).equals(await readFile(big))).toBe(true);

    // Above the CLI's multipart threshold, a bucket-to-bucket copy goes part by part (UploadPartCopy).
    await aws('s3', 'cp', 's3://cli-bucket/up/big.bin', 's3://cli-bucket/copied/big.bin');
    await aws('s3', 'cp', 's3://cli-bucket/copied/big.bin', join(dir, 'copied.back'));
    expect((await readFile(join(dir, 'copied.back'))).equals(await readFile(big))).toBe(true);

    await aws('s3', 'rm', 's3://cli-bucket/up', '--recursive');
    expect(await aws('s3', 'ls', 's3://cli-bucket/', '--recursive')).not.toMatch(/up\//);
  });
});
if (!cli)
  describe('local S3 with the AWS CLI', () => it.skip('aws CLI not found on PATH: not run', () => {}));
