import { createHash } from 'node:crypto';
import { AwsJsonError, awsJsonServer } from './aws-json.ts';
import { JSON_DENIALS, LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import { closeNow, listen } from './listen.ts';

/**
 * Local SSM Parameter Store and Secrets Manager, the two read calls functions make
 * (`GetParameter`, `GetSecretValue`) over their AWS JSON 1.1 protocol on loopback. Functions read
 * the Qdrant URL and the API keys exactly as in AWS: by the names their environment holds, with
 * the SDK, allowed by their grants; no value is ever put in a function's environment.
 */

export interface SettingsStore {
  url: string;
  /** ARNs as AWS forms them, for the grants of the local functions. */
  parameterArn(name: string): string;
  /** The partial ARN CDK names a secret by (the stored one adds a 6-character suffix). */
  secretPartialArn(name: string): string;
  close(): Promise<void>;
}

export interface SettingsStoreOptions {
  host: string;
  port: number;
  region: string;
  iam: LocalIam;
  parameters: Readonly<Record<string, string>>;
  /** Secret name → value; a secret without a value does not exist (ResourceNotFoundException). */
  secrets: Readonly<Record<string, string | undefined>>;
}

const MAX_REQUEST_BYTES = 64 * 1024;

export async function startSettingsStore(opts: SettingsStoreOptions): Promise<SettingsStore> {
  const parameterArn = (name: string) =>
    `arn:aws:ssm:${opts.region}:${LOCAL_ACCOUNT_ID}:parameter/${name.replace(/^\//, '')}`;
  const secretPartialArn = (name: string) =>
    `arn:aws:secretsmanager:${opts.region}:${LOCAL_ACCOUNT_ID}:secret:${name}`;
  // Secrets Manager appends six random characters; a digest keeps them stable across restarts.
  const secretArn = (name: string) =>
    `${secretPartialArn(name)}-${createHash('sha256').update(name).digest('base64url').slice(0, 6)}`;

  const getParameter = (body: Record<string, unknown>) => {
    const name = typeof body.Name === 'string' ? body.Name : '';
    const value = opts.parameters[name];
    if (value === undefined) throw new AwsJsonError('ParameterNotFound', `Parameter ${name} not found.`);
    return {
      Parameter: {
        Name: name,
        Type: 'String',
        Value: value,
        Version: 1,
        ARN: parameterArn(name),
        DataType: 'text',
      },
    };
  };

  const getSecretValue = (body: Record<string, unknown>) => {
    const id = typeof body.SecretId === 'string' ? body.SecretId : '';
    const name = Object.keys(opts.secrets).find((n) => n === id || secretArn(n) === id);
    const value = name === undefined ? undefined : opts.secrets[name];
    if (name === undefined || value === undefined) {
      throw new AwsJsonError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return {
      ARN: secretArn(name),
      Name: name,
      SecretString: value,
      VersionId: '00000000-0000-4000-8000-000000000001',
      VersionStages: ['AWSCURRENT'],
    };
  };

  const operations: Record<
    string,
    {
      action: string;
      resource(body: Record<string, unknown>): string;
      run(body: Record<string, unknown>): unknown;
    }
  > = {
    'AmazonSSM.GetParameter': {
      action: 'ssm:GetParameter',
      resource: (body) => parameterArn(String(body.Name ?? '')),
      run: getParameter,
    },
    'secretsmanager.GetSecretValue': {
      action: 'secretsmanager:GetSecretValue',
      resource: (body) => {
        const id = String(body.SecretId ?? '');
        return id.startsWith('arn:') ? id : secretArn(id);
      },
      run: getSecretValue,
    },
  };

  const server = awsJsonServer({
    maxRequestBytes: MAX_REQUEST_BYTES,
    dispatch: async (target, parsed, req, raw) => {
      const operation = operations[target];
      if (!operation) throw new AwsJsonError('UnknownOperationException', `Unknown operation ${target}`);
      const body = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
      const request = { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body: raw };
      const denial = await opts.iam.authorize(request, operation.action, operation.resource(body));
      if (denial) throw new AwsJsonError(JSON_DENIALS[denial.reason], denial.message);
      return operation.run(body);
    },
  });
  return {
    url: await listen(server, opts.host, opts.port),
    parameterArn,
    secretPartialArn,
    close: () => closeNow(server),
  };
}
