import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, manifest } from '../../infra/manifest.ts';
import { grantedBeyondLogs, logicalIdOf, type Synthesized, synthPlatform } from './support.ts';

/**
 * The template manager's least privilege in the synthesized stacks: its API function reads and
 * writes the state table, embeds into Qdrant, puts events on the bus and invokes the roadmap
 * manager's contract function (its live alias, nothing else of Lambda); its contract function
 * reads, embeds (reindex) and may publish ManagerFailed (identity.test.ts checks its routes).
 */

describe('the template manager in the stacks', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });
  /** A resource by what it names: `StateTable`, `EventBus`, the Qdrant and OpenAI settings, a function. */
  const short = (resource: string) =>
    /(StateTable|EventBus|qdrant-url|qdrant-api-key|openai-api-key)/.exec(resource)?.[1] ??
    /function:(vector-platform-dev-[A-Za-z]+:live)/.exec(resource)?.[1] ??
    resource;
  const granted = (name: FunctionName) => grantedBeyondLogs(s, name, short);

  it("the API function: the state table, Qdrant and the embedder, the bus, and the roadmap's contract function only", () => {
    expect(granted('templates')).toEqual([
      'dynamodb:DeleteItem StateTable',
      'dynamodb:GetItem StateTable',
      'dynamodb:PutItem StateTable',
      'dynamodb:Query StateTable',
      'dynamodb:UpdateItem StateTable',
      'events:DescribeEventBus EventBus',
      'events:PutEvents EventBus',
      `lambda:InvokeFunction vector-platform-dev-${manifest.managers.roadmap.function}:live`,
      'secretsmanager:GetSecretValue openai-api-key qdrant-api-key',
      'ssm:GetParameter qdrant-url',
    ]);
    const env =
      s.statelessTemplate.toJSON().Resources[logicalIdOf(s.stateless.functions.templates!.fn)].Properties
        .Environment.Variables;
    expect(JSON.parse(env.MANAGER_FUNCTIONS)).toEqual({
      roadmap: `vector-platform-dev-${manifest.managers.roadmap.function}:live`,
    });
  });

  it('the contract function: reads the state table and its metrics, embeds into Qdrant, may publish, writes nothing', () => {
    expect(granted('templatesManager')).toEqual([
      'cloudwatch:GetMetricData *',
      'dynamodb:GetItem StateTable',
      'dynamodb:Query StateTable',
      'events:DescribeEventBus EventBus',
      'events:PutEvents EventBus',
      'secretsmanager:GetSecretValue openai-api-key qdrant-api-key',
      'ssm:GetParameter qdrant-url',
    ]);
  });
});
