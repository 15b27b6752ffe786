import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { EmailSender, Redelivery, SecretStore } from '../notifications/ports.ts';
import { awsCall, awsErrorName, mapAwsError } from './aws-errors.ts';

/** The notifications manager's AWS edges: its webhook secrets, its email, its retry backoff. */

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
