import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, manifest } from '../../infra/manifest.ts';
import { CONTEXT_KEYS } from '../../infra/stacks/settings.ts';
import { DELIVERY_QUEUE } from '../../shared/notifications/settings.ts';
import {
  actionsOf,
  cfnString,
  logicalIdOf,
  resourcesOf,
  type Statement,
  type Synthesized,
  statementsOfRole,
  synthPlatform,
} from './support.ts';

/**
 * The notifications manager's least privilege in the synthesized stacks: who may read, write or
 * not touch the webhook secrets, who may send email and from which identity, who may delay a
 * delivery, and that no stage can let webhooks reach loopback.
 */

const NOTIFICATION_FUNCTIONS = [
  'notificationsManager',
  'notificationSubscriptions',
  'notificationMatcher',
  'notificationDelivery',
] as const satisfies readonly FunctionName[];

describe('the notifications manager in the stacks', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform({ context: { notificationsEmailFrom: 'alerts@mail.example.com' } });
  });
  const statementsOf = (name: FunctionName): Statement[] =>
    statementsOfRole(s.statelessTemplate, logicalIdOf(s.stateless.functions[name]!.role));
  /** The resources (as strings) each of the function's statements granting `action` names. */
  const resourcesFor = (name: FunctionName, action: string): string[] =>
    statementsOf(name)
      .filter((st) => actionsOf(st).includes(action))
      .flatMap(resourcesOf)
      .map(cfnString);
  const everyAction = (name: FunctionName) => statementsOf(name).flatMap(actionsOf);

  it('subscribes the notification events queue, and only it, to the alarm topic, which alone may send to it', () => {
    const topic = { Ref: logicalIdOf(s.stateful.alarmTopic) };
    const queue = logicalIdOf(s.stateful.queues.notificationEvents!.queue);
    const subscriptions = Object.values(
      s.statefulTemplate.findResources('AWS::SNS::Subscription', { Properties: { Protocol: 'sqs' } }),
    ) as Array<{ Properties: Record<string, unknown> }>;
    expect(subscriptions.map((sub) => sub.Properties)).toEqual([
      expect.objectContaining({ TopicArn: topic, Endpoint: { 'Fn::GetAtt': [queue, 'Arn'] } }),
    ]);
    // Raw delivery off: the matcher reads SNS's envelope (its Type, TopicArn and Message).
    expect(subscriptions[0]!.Properties.RawMessageDelivery).toBeUndefined();
    s.statefulTemplate.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'sqs:SendMessage',
            Condition: { ArnEquals: { 'aws:SourceArn': topic } },
            Effect: 'Allow',
            Principal: { Service: 'sns.amazonaws.com' },
            Resource: { 'Fn::GetAtt': [queue, 'Arn'] },
          },
        ]),
      },
    });
  });

  it('lets only the subscriptions function write webhook secrets (and the security manager rotate them), only under the stage prefix', () => {
    for (const [action, writers] of [
      ['secretsmanager:CreateSecret', ['notificationSubscriptions']],
      ['secretsmanager:PutSecretValue', ['notificationSubscriptions', 'securityManager']],
      ['secretsmanager:DeleteSecret', ['notificationSubscriptions']],
    ] as const) {
      const holders = Object.keys(manifest.functions).filter((f) =>
        everyAction(f as FunctionName).includes(action),
      );
      expect(holders.sort(), action).toEqual([...writers]);
      for (const writer of writers) {
        expect(resourcesFor(writer, action)).toEqual([
          expect.stringMatching(
            /:secretsmanager:eu-west-1:<AWS::AccountId>:secret:vector-platform\/dev\/notifications\/webhooks\/\*$/,
          ),
        ]);
      }
    }
    // It writes them and never reads one back.
    expect(resourcesFor('notificationSubscriptions', 'secretsmanager:GetSecretValue')).toEqual([]);
  });

  it('lets only the delivery function (and the rotating security manager) read webhook secrets, and send email from the configured identity', () => {
    const readers = Object.keys(manifest.functions).filter((f) =>
      resourcesFor(f as FunctionName, 'secretsmanager:GetSecretValue').some((r) =>
        r.includes('notifications/webhooks'),
      ),
    );
    expect(readers.sort()).toEqual(['notificationDelivery', 'securityManager']);
    const senders = Object.keys(manifest.functions).filter((f) =>
      everyAction(f as FunctionName).includes('ses:SendEmail'),
    );
    expect(senders).toEqual(['notificationDelivery']);
    expect(resourcesFor('notificationDelivery', 'ses:SendEmail').sort()).toEqual([
      expect.stringMatching(/:ses:eu-west-1:<AWS::AccountId>:identity\/alerts@mail\.example\.com$/),
      expect.stringMatching(/:ses:eu-west-1:<AWS::AccountId>:identity\/mail\.example\.com$/),
    ]);
    const env =
      s.statelessTemplate.toJSON().Resources[logicalIdOf(s.stateless.functions.notificationDelivery!.fn)]
        .Properties.Environment.Variables;
    expect(env).toMatchObject({
      NOTIFICATIONS_EMAIL_FROM: 'alerts@mail.example.com',
      WEBHOOK_SECRETS_PREFIX: 'vector-platform/dev/notifications/webhooks/',
    });
  });

  it('lets the delivery function delay its own queue only, and the matcher and the manager send to it', () => {
    const [queue] = resourcesFor('notificationMatcher', 'sqs:SendMessage');
    expect(resourcesFor('notificationsManager', 'sqs:SendMessage')).toEqual([queue]);
    // Its backoff and its event source mapping: the delivery queue, nothing else.
    expect(new Set(resourcesFor('notificationDelivery', 'sqs:ChangeMessageVisibility'))).toEqual(
      new Set([queue]),
    );
    expect(resourcesFor('notificationDelivery', 'sqs:SendMessage')).toEqual([]);
    // Nothing else of the manager touches secrets or email.
    for (const name of ['notificationsManager', 'notificationMatcher'] as const) {
      expect(
        everyAction(name).filter((a) => a.startsWith('secretsmanager:') || a.startsWith('ses:')),
        name,
      ).toEqual([]);
    }
  });

  it('dead-letters a notification after its attempts, and feeds every platform event to the matcher', () => {
    expect(manifest.queues.notificationDeliveries.maxReceiveCount).toBe(DELIVERY_QUEUE.maxReceiveCount);
    expect(manifest.rules.notificationEvents).toMatchObject({
      pattern: { source: [manifest.eventSource] },
      queue: 'notificationEvents',
    });
    expect(manifest.queues.notificationEvents.consumer).toBe('notificationMatcher');
  });

  it('gives no stage a way to let webhooks reach loopback', () => {
    expect(CONTEXT_KEYS.some((k) => /loopback/i.test(k))).toBe(false);
    for (const name of NOTIFICATION_FUNCTIONS) {
      const env =
        s.statelessTemplate.toJSON().Resources[logicalIdOf(s.stateless.functions[name]!.fn)].Properties
          .Environment.Variables;
      expect(Object.keys(env), name).not.toContain('WEBHOOK_ALLOW_LOOPBACK');
    }
  });
});
