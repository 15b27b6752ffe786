import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config.ts';
import type { EventSourceSwitch, FunctionInvoker, MetricsReader } from '../managers/ports.ts';
import type { DeadLetterReader, DeadLetters, EventBus, ObjectStore, Queue, StateStore } from '../ports.ts';
import { traced } from '../powertools.ts';
import type { UserDirectory } from '../security/users.ts';
import type { ExecutionRoles, StateMachines } from '../workflows/ports.ts';
import { CloudWatchMetrics } from './cloudwatch.ts';
import { CognitoUserDirectory } from './cognito-users.ts';
import { DynamoStateStore } from './dynamodb-state.ts';
import { EventBridgeBus } from './eventbridge.ts';
import { FileStateStore } from './file-state.ts';
import { IamExecutionRoles } from './iam-roles.ts';
import { LambdaEventSources, LambdaInvoker } from './lambda.ts';
import { S3ObjectStore } from './s3.ts';
import { SqsDeadLetterReader, SqsDeadLetters, SqsQueue } from './sqs.ts';
import { StepFunctionsStateMachines } from './step-functions.ts';

export { DynamoStateStore } from './dynamodb-state.ts';
export { EventBridgeBus } from './eventbridge.ts';
export { FileStateStore } from './file-state.ts';
export { S3ObjectStore } from './s3.ts';
export { SqsDeadLetters, SqsQueue } from './sqs.ts';

/**
 * Adapters chosen by configuration. SDK clients are built once per distinct setting and endpoint:
 * they read `AWS_ENDPOINT_URL_<SERVICE>` when built, and the local runtime may boot several
 * times in one process with emulators on different ports. Each is traced (X-Ray) in Lambda.
 */

const clients = new Map<string, unknown>();

function cached<T>(key: unknown[], build: () => T): T {
  const k = JSON.stringify(key);
  let client = clients.get(k) as T | undefined;
  if (client === undefined) {
    client = build();
    clients.set(k, client);
  }
  return client;
}

/** What decides a client's endpoint and region, besides its options. */
function endpointKey(service: string): unknown[] {
  const env = process.env;
  return [
    service,
    env[`AWS_ENDPOINT_URL_${service}`] ?? null,
    env.AWS_ENDPOINT_URL ?? null,
    env.AWS_REGION ?? null,
  ];
}

function missing(variable: string): Error {
  return new Error(`Invalid configuration: ${variable} is not set`);
}

/** The exports bucket (EXPORTS_BUCKET). */
export function createObjectStore(config: Config): ObjectStore {
  if (!config.exportsBucket) throw missing('EXPORTS_BUCKET');
  const client = cached([...endpointKey('S3'), config.s3ForcePathStyle], () =>
    traced(new S3Client({ forcePathStyle: config.s3ForcePathStyle })),
  );
  return new S3ObjectStore({ client, bucket: config.exportsBucket });
}

/** The exports bucket with streamed multipart uploads (backups). */
export function createBackupObjects(config: Config): S3ObjectStore {
  return createObjectStore(config) as S3ObjectStore;
}

/** The backups queue (BACKUPS_QUEUE_URL). */
export function createBackupQueue(config: Config): Queue {
  if (!config.backupQueueUrl) throw missing('BACKUPS_QUEUE_URL');
  const client = cached(endpointKey('SQS'), () => traced(new SQSClient({ useQueueUrlAsEndpoint: false })));
  return new SqsQueue({ client, queueUrl: config.backupQueueUrl });
}

/** The migrations queue (MIGRATIONS_QUEUE_URL). */
export function createMigrationQueue(config: Config): Queue {
  if (!config.migrationQueueUrl) throw missing('MIGRATIONS_QUEUE_URL');
  // The endpoint decides, not the queue URL's host: locally the emulator's queue URLs name a
  // virtual host (`sqs.<region>.127.0.0.1`), and in AWS both are the regional endpoint anyway.
  const client = cached(endpointKey('SQS'), () => traced(new SQSClient({ useQueueUrlAsEndpoint: false })));
  return new SqsQueue({ client, queueUrl: config.migrationQueueUrl });
}

/** The migrations queue's dead letters (MIGRATIONS_DLQ_URL), for redrives. */
export function createMigrationDeadLetters(config: Config): DeadLetters {
  if (!config.migrationDeadLetterQueueUrl) throw missing('MIGRATIONS_DLQ_URL');
  const client = cached(endpointKey('SQS'), () => traced(new SQSClient({ useQueueUrlAsEndpoint: false })));
  return new SqsDeadLetters({ client, queueUrl: config.migrationDeadLetterQueueUrl });
}

/** Every declared queue's dead letters, read and left in place (DEAD_LETTER_QUEUES), by queue name. */
export function createDeadLetterReaders(config: Config): Map<string, DeadLetterReader> {
  if (!config.deadLetterQueues) throw missing('DEAD_LETTER_QUEUES');
  const client = cached(endpointKey('SQS'), () => traced(new SQSClient({ useQueueUrlAsEndpoint: false })));
  return new Map(
    Object.entries(config.deadLetterQueues).map(([queue, queueUrl]) => [
      queue,
      new SqsDeadLetterReader({ client, queueUrl }),
    ]),
  );
}

/** The platform's event bus (EVENT_BUS_NAME). */
export function createEventBus(config: Config): EventBus {
  if (!config.eventBusName) throw missing('EVENT_BUS_NAME');
  const client = cached(endpointKey('EVENTBRIDGE'), () => traced(new EventBridgeClient({})));
  return new EventBridgeBus({ client, busName: config.eventBusName });
}

/**
 * Files under STATE_DIR locally (the local runtime sets it beside STATE_TABLE, as an endpoint
 * setting, with the DynamoDB actions the function is granted), DynamoDB's STATE_TABLE in AWS.
 */
export function createStateStore(config: Pick<Config, 'state'>): StateStore {
  if (config.state.dir) {
    return new FileStateStore({
      dir: config.state.dir,
      ...(config.state.dirActions ? { allowedActions: config.state.dirActions } : {}),
    });
  }
  if (config.state.table) {
    const client = cached(endpointKey('DYNAMODB'), () =>
      DynamoDBDocumentClient.from(traced(new DynamoDBClient({})), {
        marshallOptions: { removeUndefinedValues: true },
      }),
    );
    return new DynamoStateStore({ client, table: config.state.table });
  }
  throw missing('STATE_TABLE or STATE_DIR');
}

/** Manager contract functions, invoked through Lambda (the local runtime serves the same API). */
export function createFunctionInvoker(): FunctionInvoker {
  return new LambdaInvoker(cached(endpointKey('LAMBDA'), () => traced(new LambdaClient({}))));
}

export function createEventSourceSwitch(): EventSourceSwitch {
  return new LambdaEventSources(cached(endpointKey('LAMBDA'), () => traced(new LambdaClient({}))));
}

/** CloudWatch's metrics (the local runtime serves GetMetricData from what it measured). */
export function createMetricsReader(): MetricsReader {
  return new CloudWatchMetrics(cached(endpointKey('CLOUDWATCH'), () => traced(new CloudWatchClient({}))));
}

/** The user pool's users (USER_POOL_ID): Cognito in AWS, the local runtime's Cognito endpoint locally. */
export function createUserDirectory(config: Config): UserDirectory {
  if (!config.userPoolId) throw missing('USER_POOL_ID');
  const client = cached(endpointKey('COGNITO_IDENTITY_PROVIDER'), () =>
    traced(new CognitoIdentityProviderClient({})),
  );
  return new CognitoUserDirectory({ client, userPoolId: config.userPoolId });
}

/** Workflows' state machines: Step Functions in AWS, the local runtime's Step Functions endpoint locally. */
export function createStateMachines(): StateMachines {
  return new StepFunctionsStateMachines(cached(endpointKey('SFN'), () => traced(new SFNClient({}))));
}

/** Workflows' execution roles: IAM in AWS (a global service), the local runtime's IAM endpoint locally. */
export function createExecutionRoles(): ExecutionRoles {
  return new IamExecutionRoles(cached(endpointKey('IAM'), () => traced(new IAMClient({}))));
}
