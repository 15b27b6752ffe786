import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, manifest } from '../../infra/manifest.ts';
import { functionGrants, type Synthesized, synthPlatform } from './support.ts';

/**
 * The error manager's least privilege in the synthesized stacks: its intake reads every declared
 * queue's dead-letter queue without being able to delete from any (receive and change visibility
 * only), writes the state table and puts events; its routes function only reads (the table,
 * Qdrant's URL and key); its contract function writes the table (resolve) and may publish; the
 * failure rule selects the catalogue's *Failed types into the manager's own queue.
 */

describe('the error manager in the stacks', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });
  const grantsOf = (name: FunctionName) => functionGrants(s, name);
  const actions = (name: FunctionName) =>
    [...new Set(grantsOf(name).map((g) => g.action))].filter((a) => !/^(logs|xray):/.test(a)).sort();

  it("the intake peeks every queue's dead letters and deletes none", () => {
    const onDeadLetters = grantsOf('errorIntake').filter((g) =>
      g.resources.some((r) => /DeadLetterQueue/.test(r)),
    );
    expect([...new Set(onDeadLetters.map((g) => g.action))].sort()).toEqual([
      'sqs:ChangeMessageVisibility',
      'sqs:ReceiveMessage',
    ]);
    // Each declared queue's dead-letter queue, and nothing else in that statement.
    for (const g of onDeadLetters) {
      expect(g.resources).toHaveLength(Object.keys(manifest.queues).length);
      for (const resource of g.resources) expect(resource).toMatch(/DeadLetterQueue/);
    }
    // Deleting is its own queue's event source mapping's, on that queue only.
    const deletes = grantsOf('errorIntake').filter((g) => g.action === 'sqs:DeleteMessage');
    expect(deletes.flatMap((g) => g.resources)).toEqual([expect.stringMatching(/ErrorEventsQueue[^"]*Arn/)]);
    expect(actions('errorIntake')).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'events:DescribeEventBus',
      'events:PutEvents',
      'secretsmanager:GetSecretValue',
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
      'ssm:GetParameter',
    ]);
  });

  it('the routes function only reads: the state table and Qdrant', () => {
    expect(actions('errorCatalogue')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'secretsmanager:GetSecretValue',
      'ssm:GetParameter',
    ]);
  });

  it('the contract function writes the state table (resolve), reads its metrics and Qdrant, may publish', () => {
    expect(actions('errorsManager')).toEqual([
      'cloudwatch:GetMetricData',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'events:DescribeEventBus',
      'events:PutEvents',
      'secretsmanager:GetSecretValue',
      'ssm:GetParameter',
    ]);
  });

  it('the failure rule selects every *Failed type and manager.error, into the manager queue', () => {
    const rules = Object.values(s.statelessTemplate.findResources('AWS::Events::Rule')) as Array<{
      Properties: { Name?: string; EventPattern?: { 'detail-type'?: string[] }; Targets?: unknown[] };
    }>;
    const rule = rules.find((r) => r.Properties.Name?.endsWith('-errorEvents'));
    expect(rule).toBeDefined();
    const types = rule!.Properties.EventPattern!['detail-type']!;
    expect(types).toEqual(
      expect.arrayContaining(['MigrationFailed', 'ManagerFailed', 'ApiRequestFailed', 'manager.error']),
    );
    expect(types.every((t) => t.endsWith('Failed') || t === 'manager.error')).toBe(true);
    expect(JSON.stringify(rule!.Properties.Targets)).toMatch(/ErrorEventsQueue/);
  });
});
