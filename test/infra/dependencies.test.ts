import { beforeAll, describe, expect, it } from 'vitest';
import type { FunctionName } from '../../infra/manifest.ts';
import { grantedBeyondLogs, type Synthesized, synthPlatform } from './support.ts';

/**
 * The dependency manager's least privilege in the synthesized stacks: its API function reads and
 * writes the state table, puts events on the bus and embeds packages into Qdrant, nothing else;
 * its upload function also reads the exports bucket, from the bucket's notification for
 * `dependencies/`; its contract function only reads (the table, its functions' metrics, Qdrant)
 * and may publish ManagerFailed (identity.test.ts checks every route is behind the authorizer).
 */

describe('the dependency manager in the stacks', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });
  /**
   * A resource by what it names: `StateTable`, `EventBus`, `ExportsBucket` (and `/*` for its
   * objects), the Qdrant URL parameter, the Qdrant and OpenAI key secrets, `*`.
   */
  const short = (resource: string) => {
    const named = /(StateTable|EventBus|ExportsBucket|qdrant-url|qdrant-api-key|openai-api-key)/.exec(
      resource,
    )?.[1];
    return named === undefined ? resource : `${named}${/\/\*"?\]?\}?$/.test(resource) ? '/*' : ''}`;
  };
  const granted = (name: FunctionName) => grantedBeyondLogs(s, name, short);

  it('the API function: reads and writes the state table, puts events on the bus, embeds into Qdrant, nothing else', () => {
    expect(granted('dependencyManifests')).toEqual([
      'dynamodb:DeleteItem StateTable',
      'dynamodb:GetItem StateTable',
      'dynamodb:PutItem StateTable',
      'dynamodb:Query StateTable',
      'dynamodb:UpdateItem StateTable',
      'events:DescribeEventBus EventBus',
      'events:PutEvents EventBus',
      'secretsmanager:GetSecretValue openai-api-key qdrant-api-key',
      'ssm:GetParameter qdrant-url',
    ]);
  });

  it('the upload function: reads the exports bucket, the state table and the bus, embeds, invoked for dependencies/', () => {
    expect(granted('dependencyUploads')).toEqual([
      'dynamodb:DeleteItem StateTable',
      'dynamodb:GetItem StateTable',
      'dynamodb:PutItem StateTable',
      'dynamodb:Query StateTable',
      'dynamodb:UpdateItem StateTable',
      'events:DescribeEventBus EventBus',
      'events:PutEvents EventBus',
      's3:GetObject ExportsBucket/*',
      's3:ListBucket ExportsBucket',
      'secretsmanager:GetSecretValue openai-api-key qdrant-api-key',
      'ssm:GetParameter qdrant-url',
    ]);
    const [custom] = Object.values(
      s.statelessTemplate.findResources('Custom::S3BucketNotifications'),
    ) as Array<{
      Properties: { NotificationConfiguration: { LambdaFunctionConfigurations: unknown[] } };
    }>;
    expect(JSON.stringify(custom!.Properties.NotificationConfiguration.LambdaFunctionConfigurations)).toMatch(
      /"Name":"prefix","Value":"dependencies\/".*DependencyUploads|DependencyUploads.*"Name":"prefix","Value":"dependencies\/"/,
    );
  });

  it('the contract function: reads the state table, its metrics and Qdrant, may publish, writes nothing', () => {
    expect(granted('dependenciesManager')).toEqual([
      'cloudwatch:GetMetricData *',
      'dynamodb:GetItem StateTable',
      'dynamodb:Query StateTable',
      'events:DescribeEventBus EventBus',
      'events:PutEvents EventBus',
      'secretsmanager:GetSecretValue qdrant-api-key',
      'ssm:GetParameter qdrant-url',
    ]);
  });
});
