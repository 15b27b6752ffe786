import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AwsJsonError, awsJsonServer } from './aws-json.ts';
import { JSON_DENIALS, LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import { closeNow, listen } from './listen.ts';

/**
 * Local SSM Parameter Store and Secrets Manager over their AWS JSON 1.1 protocol on loopback: the
 * read calls functions make (`GetParameter`, `GetSecretValue`) and the writes the notifications
 * manager makes for its webhook secrets (`CreateSecret`, `PutSecretValue`, `DeleteSecret`).
 * Functions read the Qdrant URL and the API keys exactly as in AWS: by the names their environment
 * holds, with the SDK, allowed by their grants; no value is ever put in a function's environment.
 * Secrets created through the API are kept in `secretsFile` (mode 0600) across restarts.
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
  /** Where the secrets created through the API are kept (under the data folder). */
  secretsFile: string;
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

  // The given secrets, then the ones created through the API (which the given ones win over).
  const created = await readCreated(opts.secretsFile);
  const secrets = new Map<string, string | undefined>([
    ...Object.entries(created),
    ...Object.entries(opts.secrets),
  ]);
  const persist = async () => {
    const own = Object.fromEntries([...secrets].filter(([name]) => !Object.hasOwn(opts.secrets, name)));
    await mkdir(dirname(opts.secretsFile), { recursive: true });
    const temp = `${opts.secretsFile}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(own), { mode: 0o600 });
    await rename(temp, opts.secretsFile);
  };
  const nameOf = (body: Record<string, unknown>) => {
    const id = typeof body.SecretId === 'string' ? body.SecretId : '';
    return [...secrets.keys()].find((n) => n === id || secretArn(n) === id);
  };
  const versionId = () => randomUUID();

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
    const name = nameOf(body);
    const value = name === undefined ? undefined : secrets.get(name);
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

  const secretString = (body: Record<string, unknown>) => {
    if (typeof body.SecretString !== 'string' || body.SecretString === '') {
      throw new AwsJsonError('InvalidParameterException', 'SecretString must be a non-empty string.');
    }
    return body.SecretString;
  };

  const createSecret = async (body: Record<string, unknown>) => {
    const name = typeof body.Name === 'string' ? body.Name : '';
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
      throw new AwsJsonError('ValidationException', 'Name must be 1-512 of letters, digits and /_+=.@-');
    }
    if (secrets.get(name) !== undefined) {
      throw new AwsJsonError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    }
    secrets.set(name, secretString(body));
    await persist();
    return { ARN: secretArn(name), Name: name, VersionId: versionId() };
  };

  const putSecretValue = async (body: Record<string, unknown>) => {
    const name = nameOf(body);
    if (name === undefined || secrets.get(name) === undefined) {
      throw new AwsJsonError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    secrets.set(name, secretString(body));
    await persist();
    return { ARN: secretArn(name), Name: name, VersionId: versionId(), VersionStages: ['AWSCURRENT'] };
  };

  const deleteSecret = async (body: Record<string, unknown>) => {
    const name = nameOf(body);
    if (name === undefined || secrets.get(name) === undefined) {
      throw new AwsJsonError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    secrets.delete(name);
    await persist();
    return { ARN: secretArn(name), Name: name, DeletionDate: Date.now() / 1000 };
  };

  const byId = (body: Record<string, unknown>) => {
    const id = String(body.SecretId ?? '');
    return id.startsWith('arn:') ? id : secretArn(id);
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
      resource: byId,
      run: getSecretValue,
    },
    'secretsmanager.CreateSecret': {
      action: 'secretsmanager:CreateSecret',
      resource: (body) => secretArn(String(body.Name ?? '')),
      run: createSecret,
    },
    'secretsmanager.PutSecretValue': {
      action: 'secretsmanager:PutSecretValue',
      resource: byId,
      run: putSecretValue,
    },
    'secretsmanager.DeleteSecret': {
      action: 'secretsmanager:DeleteSecret',
      resource: byId,
      run: deleteSecret,
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

async function readCreated(file: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}
