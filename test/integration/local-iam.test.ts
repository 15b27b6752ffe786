import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, manifest } from '#infra/manifest.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { apiCaller, tokenFor } from './support.ts';

/**
 * Locally, each function calls AWS with credentials of its own, and a call outside its declared
 * `access` is refused with AWS's own error, so a missing grant fails before deployment.
 */

/** The manifest with one function's access narrowed (a grant forgotten in the declaration). */
function without(fn: keyof typeof manifest.functions, removed: string): Manifest {
  const decl = manifest.functions[fn];
  return {
    ...manifest,
    functions: { ...manifest.functions, [fn]: { ...decl, access: decl.access.filter((a) => a !== removed) } },
  };
}

let dataDir: string;
let rt: LocalRuntime;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vp-iam-'));
  rt = await startLocalRuntime({
    dataDir,
    port: 0,
    quiet: true,
    manifest: without('indexPlan', 'state:write'),
  });
});
afterAll(async () => {
  await rt?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** SDK client options with a function's own credentials and endpoints, as its handler builds them. */
function asFunction(fn: string, endpoint: string) {
  const env = rt.environmentOf(fn);
  return {
    region: rt.region,
    endpoint,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  };
}

const deniedName = (err: unknown) => (err as Error).name;

describe("calls outside a function's grants", () => {
  it('S3: AccessDenied for an object action or a listing not granted; granted ones succeed', async () => {
    const worker = new S3Client({ ...asFunction('migrationWorker', rt.s3Endpoint), forcePathStyle: true });
    await worker.send(new PutObjectCommand({ Bucket: rt.bucket, Key: 'reports/x.json', Body: '{}' }));
    const reader = new S3Client({ ...asFunction('indexPlan', rt.s3Endpoint), forcePathStyle: true });
    await reader.send(new GetObjectCommand({ Bucket: rt.bucket, Key: 'reports/x.json' }));
    await reader.send(new ListObjectsV2Command({ Bucket: rt.bucket }));
    // indexPlan may read exports (plans given by key), never write them.
    const put = reader.send(new PutObjectCommand({ Bucket: rt.bucket, Key: 'exports/y.json', Body: '[]' }));
    await expect(put).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    await expect(put).rejects.toThrow(/vector-platform-indexPlan.*s3:PutObject/);
    const health = new S3Client({ ...asFunction('health', rt.s3Endpoint), forcePathStyle: true });
    await expect(health.send(new ListObjectsV2Command({ Bucket: rt.bucket }))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
  });

  it('SQS: AccessDenied for a queue the function may not send to', async () => {
    const queueUrl = rt.queueUrls.migrations!.url;
    const planner = new SQSClient(asFunction('createMigration', rt.sqsEndpoint));
    await planner.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"not":"a chunk"}' }));
    const worker = new SQSClient(asFunction('migrationWorker', rt.sqsEndpoint));
    const err = await worker
      .send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{}' }))
      .catch((e: unknown) => e);
    expect(deniedName(err)).toMatch(/^AccessDenied/);
    expect((err as Error).message).toMatch(
      /sqs:SendMessage on resource: arn:aws:sqs:.*vector-platform-migrations/,
    );
  });

  it('EventBridge: AccessDeniedException for PutEvents without bus:put', async () => {
    const entry = { Source: 'vector-platform', DetailType: 'Probe', Detail: '{}', EventBusName: rt.busName };
    const granted = new EventBridgeClient(asFunction('migrationWorker', rt.eventBridgeEndpoint));
    expect((await granted.send(new PutEventsCommand({ Entries: [entry] }))).FailedEntryCount).toBe(0);
    const denied = new EventBridgeClient(asFunction('listMigrations', rt.eventBridgeEndpoint));
    await expect(denied.send(new PutEventsCommand({ Entries: [entry] }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });

  it('Parameter Store and Secrets Manager: only the references a function is granted', async () => {
    const param = { Name: rt.environmentOf('search').QDRANT_URL_PARAMETER! };
    const secret = { SecretId: rt.environmentOf('search').QDRANT_API_KEY_SECRET! };
    const search = asFunction('search', rt.settingsEndpoint);
    expect((await new SSMClient(search).send(new GetParameterCommand(param))).Parameter?.Value).toBe(
      rt.qdrantUrl,
    );
    await new SecretsManagerClient(search).send(new GetSecretValueCommand(secret));
    const version = asFunction('version', rt.settingsEndpoint);
    await expect(new SSMClient(version).send(new GetParameterCommand(param))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    await expect(
      new SecretsManagerClient(version).send(new GetSecretValueCommand(secret)),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it("state store: a function declared without state:write cannot write, as DynamoDB's AccessDeniedException", async () => {
    const call = apiCaller(
      () => `${rt.apiUrl}/api/v1`,
      tokenFor(() => rt),
    );
    const res = await call('POST', '/plans', { planId: 'p.md', markdown: '# P\n\n- [ ] 1.1 Write it\n' });
    expect(res.status).toBe(502);
    expect(JSON.stringify(res.body)).toMatch(/DynamoDB \w+ failed: AccessDeniedException/);
    // Reads stay allowed.
    expect((await call('GET', '/plans')).status).toBe(200);
  });

  it("a function's access key with another secret key is refused: the signature must be the function's", async () => {
    const forged = (fn: string, endpoint: string) => ({
      ...asFunction(fn, endpoint),
      credentials: {
        accessKeyId: rt.environmentOf(fn).AWS_ACCESS_KEY_ID!,
        secretAccessKey: 'not-its-secret',
      },
    });
    const s3 = new S3Client({ ...forged('migrationWorker', rt.s3Endpoint), forcePathStyle: true });
    await expect(s3.send(new ListObjectsV2Command({ Bucket: rt.bucket }))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
      $metadata: { httpStatusCode: 403 },
    });
    const sqs = new SQSClient(forged('createMigration', rt.sqsEndpoint));
    const sent = sqs.send(
      new SendMessageCommand({ QueueUrl: rt.queueUrls.migrations!.url, MessageBody: '{}' }),
    );
    await expect(sent).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    await expect(sent).rejects.toThrow(/signature/i);
    const events = new EventBridgeClient(forged('migrationWorker', rt.eventBridgeEndpoint));
    const entry = { Source: 'vector-platform', DetailType: 'Probe', Detail: '{}', EventBusName: rt.busName };
    await expect(events.send(new PutEventsCommand({ Entries: [entry] }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    const ssm = new SSMClient(forged('search', rt.settingsEndpoint));
    const name = rt.environmentOf('search').QDRANT_URL_PARAMETER!;
    await expect(ssm.send(new GetParameterCommand({ Name: name }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
  });

  it('a developer or tool with other credentials is the account administrator', async () => {
    const admin = new S3Client({
      region: rt.region,
      endpoint: rt.s3Endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'anything', secretAccessKey: 'local' },
    });
    await admin.send(new PutObjectCommand({ Bucket: rt.bucket, Key: 'notes/readme.txt', Body: 'hi' }));
  });
});
