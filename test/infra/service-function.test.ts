import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { UserPool } from 'aws-cdk-lib/aws-cognito';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handlerBundle } from '../../infra/constructs/bundling.ts';
import { ServiceFunction } from '../../infra/constructs/service-function.ts';
import { parseSettings } from '../../infra/stacks/settings.ts';
import { CDK_JSON_CONTEXT } from './support.ts';

describe('ServiceFunction with bundling', () => {
  let outdir: string;
  let template: Template;
  let bundleDir: string;

  beforeAll(() => {
    // Bundling is on (no `aws:cdk:bundling-stacks` override): esbuild runs locally, no Docker.
    const app = new App({ context: CDK_JSON_CONTEXT });
    const stack = new Stack(app, 'Bundled');
    new ServiceFunction(stack, 'Probe', {
      name: 'probe',
      decl: {
        entry: 'test/infra/fixtures/handler.ts',
        description: 'Bundling probe',
        memoryMb: 128,
        timeoutSeconds: 3,
        access: [],
      },
      service: 'vector-platform',
      version: '0.0.0-test',
      settings: parseSettings({ stage: 'test' }),
      resources: {
        exportsBucket: Bucket.fromBucketName(stack, 'B', 'exports'),
        stateTable: Table.fromTableName(stack, 'T', 't'),
        eventBus: EventBus.fromEventBusName(stack, 'E', 'e'),
        queues: {},
        deadLetterQueues: {},
        qdrantUrlParameter: StringParameter.fromStringParameterName(stack, 'P', '/p'),
        qdrantApiKeySecret: Secret.fromSecretNameV2(stack, 'Q', 'q'),
        openaiApiKeySecret: Secret.fromSecretNameV2(stack, 'O', 'o'),
        userPool: UserPool.fromUserPoolId(stack, 'U', 'pool'),
      },
      links: { functions: {}, eventSourceMappings: {}, httpApi: { id: 'api', stage: '$default' } },
      managers: {},
    });
    const assembly = app.synth();
    outdir = assembly.directory;
    template = Template.fromStack(stack);
    const assetDirs = readdirSync(outdir).filter(
      (d) => d.startsWith('asset.') && existsSync(join(outdir, d, handlerBundle.outFile)),
    );
    expect(assetDirs).toHaveLength(1);
    bundleDir = join(outdir, assetDirs[0]!);
  });

  afterAll(() => {
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  it('points Lambda at the ESM bundle', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
    });
    expect(readdirSync(bundleDir).sort()).toEqual([handlerBundle.outFile, `${handlerBundle.outFile}.map`]);
  });

  it('emits minified ESM that leaves the AWS SDK to the runtime', () => {
    const code = readFileSync(join(bundleDir, handlerBundle.outFile), 'utf8');
    expect(code.startsWith(handlerBundle.banner)).toBe(true);
    expect(code).toMatch(/import\("@aws-sdk\/client-sqs"\)/);
    expect(code).not.toMatch(/SQSClient/);
    expect(code.split('\n').length).toBeLessThan(10);
    const map = JSON.parse(readFileSync(join(bundleDir, `${handlerBundle.outFile}.map`), 'utf8'));
    expect(map.sources.some((src: string) => src.endsWith('fixtures/handler.ts'))).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
  });

  it('runs in plain Node: CommonJS dependencies can require, `#shared` imports resolve', () => {
    // A fresh process, as in Lambda: the test runner's module loader would supply `require` itself.
    const script = `const m = await import(${JSON.stringify(pathToFileURL(join(bundleDir, handlerBundle.outFile)).href)});
      process.stdout.write(JSON.stringify(await m.handler()));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ eol: '\n', error: 'VALIDATION_ERROR' });
  });
});
