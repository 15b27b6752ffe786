import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { ChangeMessageVisibilityCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config.ts';
import type { EmailSender, Redelivery, SecretStore } from '../notifications/ports.ts';
import type { Queue } from '../ports.ts';
import { traced } from '../powertools.ts';
import { awsCall, awsErrorName, mapAwsError } from './aws-errors.ts';
import { SqsQueue } from './sqs.ts';

/**
 * The notifications manager's AWS edges: its webhook secrets, its email, its delivery queue and
 * retry backoff. Apart from `adapters/index.ts` so that only its functions load the Secrets
 * Manager and SES clients (cold starts of the others stay as they were).
 */

const clients = new Map<string, unknown>();

/** One client per service and endpoint (the local runtime may boot several times in a process). */
function client<T>(service: string, build: () => T): T {
  const env = process.env;
  const key = [service, env[`AWS_ENDPOINT_URL_${service}`], env.AWS_ENDPOINT_URL, env.AWS_REGION].join('|');
  let found = clients.get(key) as T | undefined;
  if (found === undefined) {
    found = build();
    clients.set(key, found);
  }
  return found;
}

function deliveryQueueUrl(config: Config): string {
  const url = config.notifications?.deliveryQueueUrl;
  if (!url) throw new Error('Invalid configuration: NOTIFICATIONDELIVERIES_QUEUE_URL is not set');
  return url;
}

const sqs = () => client('SQS', () => traced(new SQSClient({ useQueueUrlAsEndpoint: false })));

/** The notification delivery queue (NOTIFICATIONDELIVERIES_QUEUE_URL). */
export function createDeliveryQueue(config: Config): Queue {
  return new SqsQueue({ client: sqs(), queueUrl: deliveryQueueUrl(config) });
}

/** The delivery queue's retry backoff (the same URL, `queue:notificationDeliveries:backoff`). */
export function createDeliveryRedelivery(config: Config): Redelivery {
  return new SqsRedelivery({ client: sqs(), queueUrl: deliveryQueueUrl(config) });
}

/** Webhook signing secrets (Secrets Manager; the local runtime serves the same calls). */
export function createSecretStore(): SecretStore {
  return new SecretsManagerSecrets(client('SECRETS_MANAGER', () => traced(new SecretsManagerClient({}))));
}

/** Email through SES v2 (locally its endpoint writes `.eml` files under `<data>/outbox`). */
export function createEmailSender(): EmailSender {
  return new SesEmailSender(client('SESV2', () => traced(new SESv2Client({}))));
}

/** Webhook signing secrets in Secrets Manager (the local runtime serves the same calls). */
export class SecretsManagerSecrets implements SecretStore {
  readonly #client: SecretsManagerClient;
  constructor(client: SecretsManagerClient) {
    this.#client = client;
  }

  async put(name: string, value: string): Promise<void> {
    try {
      await this.#client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    } catch (err) {
      if (awsErrorName(err) !== 'ResourceExistsException')
        throw mapAwsError(err, 'Secrets Manager CreateSecret');
      await awsCall('Secrets Manager PutSecretValue', () =>
        this.#client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value })),
      );
    }
  }

  async replace(name: string, value: string): Promise<void> {
    await awsCall('Secrets Manager PutSecretValue', () =>
      this.#client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value })),
    );
  }

  async get(name: string): Promise<string> {
    const { SecretString } = await awsCall('Secrets Manager GetSecretValue', () =>
      this.#client.send(new GetSecretValueCommand({ SecretId: name })),
    );
    if (!SecretString) throw new Error(`secret ${name} has no value`);
    return SecretString;
  }

  async delete(name: string): Promise<void> {
    try {
      await this.#client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    } catch (err) {
      if (awsErrorName(err) !== 'ResourceNotFoundException')
        throw mapAwsError(err, 'Secrets Manager DeleteSecret');
    }
  }
}

/** SES v2 SendEmail with raw content: the message is the one `composeEmail` built. */
export class SesEmailSender implements EmailSender {
  readonly #client: SESv2Client;
  constructor(client: SESv2Client) {
    this.#client = client;
  }

  async send(message: {
    from: string;
    to: readonly string[];
    raw: Uint8Array;
  }): Promise<{ messageId: string }> {
    const { MessageId } = await awsCall('SES SendEmail', () =>
      this.#client.send(
        new SendEmailCommand({
          FromEmailAddress: message.from,
          Destination: { ToAddresses: [...message.to] },
          Content: { Raw: { Data: message.raw } },
        }),
      ),
    );
    return { messageId: MessageId ?? '' };
  }
}

/** The retry backoff: a failed message's visibility set to the wait before its next attempt. */
export class SqsRedelivery implements Redelivery {
  readonly #client: SQSClient;
  readonly #queueUrl: string;
  constructor(options: { client: SQSClient; queueUrl: string }) {
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async later(receiptHandle: string, seconds: number): Promise<void> {
    await awsCall('SQS ChangeMessageVisibility', () =>
      this.#client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.#queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
      ),
    );
  }
}
